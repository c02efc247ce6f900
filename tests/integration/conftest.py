from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import REAL_NODE, Cluster, available_tiers, cluster
from tests.support.consoles import Consoles, start_consoles
from tests.support.system import Scenario, System, running


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The real-node tier runs only the tests marked `node` (containers on a node); those run
    on the emulator's simulated node and on the real node, the same tests, not on the `real`
    tier (a real API server with the simulated node, which every other test covers). Those
    marked `node(real_only=True)` (faults of a real kubelet) run on the real node only."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        tier = callspec.params.get("kube") if callspec is not None else None
        marker = item.get_closest_marker("node")
        marked = marker is not None
        real_only = marker is not None and bool(marker.kwargs.get("real_only"))
        if (
            (tier == REAL_NODE and not marked)
            or (tier == "real" and marked)
            or (real_only and tier != REAL_NODE)
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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


@pytest.fixture(scope="session")
def node_cases(kube: Cluster, system: System) -> Iterator[Any]:
    """test_lifecycle_on_nodes' jobs, submitted with the tier's first scenario: their
    timeouts take 90 s, which other tests fill."""
    from tests.integration.test_lifecycle_on_nodes import submitted

    yield from submitted(kube, system)


@pytest.fixture
def scenario(system: System, namespace: str, node_cases: Any) -> Iterator[Scenario]:
    found = Scenario(system, namespace)
    yield found
    found.cleanup()


@pytest.fixture(scope="session")
def consoles(system: System) -> Consoles:
    """Two consoles beside the tier's operator: one with cancel and terminate, one read-only."""
    return start_consoles(system)
