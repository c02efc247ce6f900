"""How the suite shares the machine when it runs in several workers (pytest-xdist,
`--dist loadgroup`, as `make test` runs it): each tier's tests stay together on one worker
(they share the tier's cluster, started once), and so do the chart's tests that start a
cluster of their own; everything else goes wherever a worker is free."""

from __future__ import annotations

import sys
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
        return "tier-real-node"  # its node would take the real-node tier's name and bridge
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(name=group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a worker of `--dist loadgroup`, every grouped test's id must carry its group (xdist
    schedules by it): if a pytest and xdist pair stops doing that, the tiers would share the
    node and the image builds at random, so the run stops here instead."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [i.nodeid for i in session.items if group_of(i) is not None and "@" not in i.nodeid]
    if lost:
        message = (
            f"pytest-xdist did not record the group of {len(lost)} test(s), e.g. {lost[0]}: "
            "this pytest and pytest-xdist cannot run the suite in groups (see pyproject.toml)"
        )
        sys.stderr.write(f"\n{message}\n")
        raise pytest.UsageError(message)
