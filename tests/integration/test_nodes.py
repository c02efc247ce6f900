"""Simulated nodes behave like kwok's on a real cluster: they become Ready, the node
lifecycle controller lifts the `not-ready` taints it put on them, and their heartbeats (the
node's Lease) stay fresh, so they stay Ready and schedulable."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from kubatch.autoscaling.simulated import node_manifest
from kubatch.autoscaling.types import NodeShape
from kubatch.keys import SIM_READY_DELAY
from tests.support.cluster import Cluster, read_or_none, wait_for
from tests.support.system import KUBELET_LEASE_SECONDS, KUBELET_STATUS_REPORT_SECONDS, Scenario

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


NODE_CONTROLLER = "system:controller:node-controller"
"""The ClusterRole of the controller-manager's node lifecycle controller."""


def _tainted_not_ready(node: Any) -> bool:
    return any(t.key == CONDITION_TAINTS[0] for t in node.spec.taints or [])


@contextmanager
def _node_updates_refused_to_the_node_lifecycle_controller(kube: Cluster) -> Iterator[None]:
    """Its ClusterRole without `patch` and `update` of nodes (what it taints with), for the
    block's length: its taint requests are refused as while an API server restarts."""
    rbac = client.RbacAuthorizationV1Api(kube.api)
    kept = rbac.read_cluster_role(NODE_CONTROLLER)
    refused = copy.deepcopy(kept)
    for rule in refused.rules:
        if "nodes" in (rule.resources or []):
            rule.verbs = [v for v in rule.verbs if v not in ("patch", "update")]
    rbac.replace_cluster_role(NODE_CONTROLLER, refused)
    try:
        yield
    finally:
        current = rbac.read_cluster_role(NODE_CONTROLLER)
        kept.metadata = current.metadata  # its resourceVersion now
        rbac.replace_cluster_role(NODE_CONTROLLER, kept)


def test_a_not_ready_taint_left_by_a_refused_lift_goes_at_the_next_status_report(
    scenario: Scenario,
) -> None:
    """The node lifecycle controller lifts a Ready node's `not-ready` taint when an update of
    the node tells it, once: a lift the API server refused is not tried again before the
    node's next update (k8s 1.28, doNodeProcessingPassWorker). A real kubelet reports an
    unchanged status at least every 5 min, the simulated one too (here every
    KUBELET_STATUS_REPORT_SECONDS): the taint goes then. Without those reports the taint
    stayed for good, and the pods pinned to the node waited Pending (an API server restart
    under a busy cluster)."""
    kube = scenario.kube
    if kube.plane is None:
        pytest.skip("the emulator runs no node lifecycle controller: nothing taints its nodes")
    plane = kube.plane
    name = f"{scenario.namespace}-refused-lift"
    shape = NodeShape(name="m5.large", vcpus=2, memory=8 << 30, gpus=0, pods=110)
    body = node_manifest(name, shape, {}, ())
    body["metadata"]["annotations"][SIM_READY_DELAY] = "4"  # the taint first, then Ready
    core = kube.core
    core.create_node(body)
    try:
        wait_for(
            lambda: _tainted_not_ready(core.read_node(name)),
            timeout=30,
            what=f"the node lifecycle controller to taint {name} not-ready",
        )
        controller_log = plane.workdir / "kube-controller-manager.log"

        def refusals() -> int:
            lines = controller_log.read_text(errors="replace").splitlines()
            return sum("Failed to taint NoSchedule" in x and f'node="{name}"' in x for x in lines)

        refused_before = refusals()
        with _node_updates_refused_to_the_node_lifecycle_controller(kube):
            wait_for(
                lambda: _ready(core.read_node(name)),
                timeout=30,
                what=f"the kubelet to report {name} Ready",
            )
            wait_for(
                lambda: refusals() > refused_before,
                timeout=30,
                what="the node lifecycle controller to be refused the lift",
            )
        wait_for(
            lambda: _ready_untainted(core.read_node(name)),
            timeout=3 * KUBELET_STATUS_REPORT_SECONDS,
            what=f"the taint of {name} lifted at the kubelet's next status report",
        )
    finally:
        core.delete_node(name)


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
