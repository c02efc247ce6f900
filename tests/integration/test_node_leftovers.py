"""A real node whose process was killed (a test run timed out, a terminal closed) leaves its
cgroup, bridge and NAT rule behind. The next node of that name and bridge removes them and
starts; a node whose name or bridge is held by a live node refuses to start and says who holds
it. Here the parts a node changes outside its folder are taken by a child process that is then
SIGKILLed, as a node's process would be."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from kubatch.sim.node import Network, NodeError, _cgroup_root, _hierarchies, _lock, bridge

NAME = "kubatch-leftover-check"
NETWORK = Network("kbt9", 9)
"""A bridge no other test uses (the node tiers use kbt0, the chart kbt1)."""

HOLDER = f"""
import sys, time
from contextlib import ExitStack
from kubatch.sim.node import Network, _cgroup_root, _lock, bridge
with ExitStack() as stack:
    stack.enter_context(_lock("node-{NAME}"))
    stack.enter_context(_cgroup_root("{NAME}"))
    stack.enter_context(bridge(Network("{NETWORK.bridge}", {NETWORK.subnet}), 1))
    print("ready", flush=True)
    time.sleep(600)
"""


@pytest.fixture(autouse=True)
def _root_and_tools() -> None:
    from tests.support.cluster import _check_real_node

    _check_real_node()


@contextmanager
def _holder() -> Iterator[subprocess.Popen[str]]:
    """A child that took the node's lock, cgroup and bridge and is still alive."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read() if child.stderr else line
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)


def _leftovers() -> list[str]:
    found = [str(h / NAME) for h in _hierarchies() if (h / NAME).exists()]
    if Path(f"/sys/class/net/{NETWORK.bridge}").exists():
        found.append(NETWORK.bridge)
    rules = subprocess.run(
        ["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True
    ).stdout
    found += [line for line in rules.splitlines() if NETWORK.chain in line]
    return found


def _node_parts(stack: ExitStack) -> None:
    stack.enter_context(_lock(f"node-{NAME}"))
    stack.enter_context(_cgroup_root(NAME))
    stack.enter_context(bridge(NETWORK, 1))


def test_a_killed_nodes_leftovers_are_removed_by_the_next_node_of_that_name() -> None:
    with _holder() as child:
        child.kill()
        child.wait(timeout=30)
    assert _leftovers(), "the killed node left nothing behind: the case proves nothing"
    with ExitStack() as stack:
        _node_parts(stack)
        assert all(part.exists() for part in (h / NAME for h in _hierarchies()))
    assert _leftovers() == []


def test_a_live_nodes_name_and_bridge_are_refused_with_its_process() -> None:
    with _holder() as child:
        refused = rf"node-{NAME} is in use .*process {child.pid}"
        with pytest.raises(NodeError, match=refused), ExitStack() as stack:
            _node_parts(stack)
        with (
            pytest.raises(NodeError, match=rf"bridge-{NETWORK.bridge} is in use"),
            bridge(NETWORK, 1),
        ):
            pass
        assert _leftovers(), "the live node's parts were taken away from it"
    with ExitStack() as stack:
        _node_parts(stack)
    assert _leftovers() == []
