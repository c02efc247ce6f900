from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, available_tiers, cluster
from tests.support.system import Scenario, System, running


@pytest.fixture(scope="session", params=available_tiers())
def kube(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Every integration test runs once per tier: the emulator and the real control plane."""
    tier: str = request.param
    workdir: Path = tmp_path_factory.mktemp(f"cluster-{tier}")
    with cluster(workdir, tier) as found:
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
