"""Simulated nodes behave like kwok's on a real cluster: they become Ready, the node
lifecycle controller lifts the `not-ready` taints it put on them, and their heartbeats (the
node's Lease) stay fresh, so they stay Ready and schedulable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.support.cluster import read_or_none, wait_for
from tests.support.system import KUBELET_LEASE_SECONDS, Scenario

CONDITION_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _ready_untainted(node: Any) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    taints = [t.key for t in node.spec.taints or []]
    return ready and not any(t in CONDITION_TAINTS for t in taints)


def test_a_simulated_node_is_ready_untainted_and_keeps_its_heartbeat(scenario: Scenario) -> None:
    ce = scenario.environment(minvCpus=4, maxvCpus=4)
    core = scenario.kube.core
    (node,) = wait_for(
        lambda: core.list_node(label_selector=f"kubatch.io/compute-environment={ce}").items,
        what="the environment's minvCpus node",
    )
    name = node.metadata.name
    wait_for(
        lambda: _ready_untainted(core.read_node(name)),
        timeout=60,
        what=f"node {name} Ready without condition taints",
    )
    coordination = scenario.kube.coordination

    def renewed() -> datetime | None:
        lease = read_or_none(coordination.read_namespaced_lease, name, "kube-node-lease")
        return lease.spec.renew_time if lease is not None else None

    first = wait_for(renewed, what="the node's lease")
    wait_for(
        lambda: (r := renewed()) is not None and r > first,
        timeout=5 * KUBELET_LEASE_SECONDS,
        what="the lease to be renewed",
    )
    node = core.read_node(name)
    assert _ready_untainted(node), node.spec.taints
    addresses = {a.type: a.address for a in node.status.addresses or []}
    assert addresses == {"InternalIP": "127.0.0.1"}
    assert node.status.daemon_endpoints.kubelet_endpoint.port > 0
