"""How the suite shares the machine when it runs in several workers (pytest-xdist,
`--dist loadgroup`, as `make test` runs it): each tier's tests stay together on one worker
(they share the tier's cluster, started once), and so do the chart's tests that start a
cluster of their own; everything else goes wherever a worker is free."""

from __future__ import annotations

from pathlib import Path

import pytest

OWN_CLUSTER = ("test_in_cluster.py", "test_install.py")
"""Chart tests that start a control plane (and a node) of their own."""


def group_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    tier = callspec.params.get("kube") if callspec is not None else None
    if tier is not None:
        return f"tier-{tier}"
    if Path(str(item.fspath)).name in OWN_CLUSTER:
        return "chart-cluster"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(name=group))
