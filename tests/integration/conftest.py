from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, cluster
from tests.support.system import Scenario, System, running


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("cluster")
    with cluster(workdir) as found:
        yield found


@pytest.fixture
def namespace(kube: Cluster) -> Iterator[str]:
    name = kube.new_namespace()
    yield name
    kube.delete_namespace(name)


@pytest.fixture(scope="session")
def system(kube: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(kube, tmp_path_factory.mktemp("system")) as found:
        yield found


@pytest.fixture
def scenario(system: System, namespace: str) -> Iterator[Scenario]:
    found = Scenario(system, namespace)
    yield found
    found.cleanup()
