from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, cluster


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
