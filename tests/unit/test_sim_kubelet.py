"""The simulated kubelet runs every pod bound to one of its nodes, whichever of the two
watches (nodes, pods) tells it first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from kubatch.sim.kubelet import Kubelet

Obj = dict[str, Any]


class Recorder:
    """A client that takes every status patch."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, Obj]] = []

    async def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        self.patches.append((plural, name, patch))
        return {}


def node(name: str) -> Obj:
    return {"metadata": {"name": name}, "status": {"conditions": []}}


def pod(name: str, node_name: str) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ns", "annotations": {}, "labels": {}},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": "Pending"},
    }


@pytest.mark.parametrize("node_first", [True, False], ids=["node_seen_first", "pod_seen_first"])
def test_a_bound_pod_runs_whichever_watch_tells_first(node_first: bool) -> None:
    async def scenario() -> list[str]:
        client = Recorder()
        kubelet = Kubelet(client, bind=False, ready_delay=0.0, leases=False)  # type: ignore[arg-type]
        events: list[Callable[[], None]] = [
            lambda: kubelet.on_node("ADDED", node("n1")),
            lambda: kubelet.on_pod("ADDED", pod("p", "n1")),
        ]
        for event in events if node_first else reversed(events):
            event()
        for _ in range(200):
            await asyncio.sleep(0.01)
            phases = [p["status"].get("phase") for k, n, p in client.patches if k == "pods"]
            if "Succeeded" in phases:
                break
        for task in list(kubelet.background):
            task.cancel()
        return [p["status"].get("phase") for k, n, p in client.patches if k == "pods"]

    # A quick container, as a real kubelet reports it: ContainerCreating, the container's end
    # while the phase is still Pending, then the phase.
    assert asyncio.run(scenario()) == [None, None, "Succeeded"]


def test_a_pod_deleted_before_its_node_is_seen_never_runs() -> None:
    async def scenario() -> list[str]:
        client = Recorder()
        kubelet = Kubelet(client, bind=False, ready_delay=0.0, leases=False)  # type: ignore[arg-type]
        kubelet.on_pod("ADDED", pod("deleted", "n1"))
        kubelet.on_pod("DELETED", pod("deleted", "n1"))
        kubelet.on_pod("ADDED", pod("kept", "n1"))  # the control: told the same way, kept
        kubelet.on_node("ADDED", node("n1"))
        for _ in range(500):
            await asyncio.sleep(0.01)
            done = [n for k, n, p in client.patches if k == "pods" and p["status"].get("phase")]
            if "kept" in done:
                break
        for task in list(kubelet.background):
            task.cancel()
        return sorted({n for k, n, _ in client.patches if k == "pods"})

    # The kept pod ran to its end; the deleted one, handled in the same pass, never started.
    assert asyncio.run(scenario()) == ["kept"]


def test_a_node_marked_not_ready_by_the_controller_is_reported_ready_again() -> None:
    """The node lifecycle controller marks a node Unknown when its heartbeats were missed
    (an API-server restart): the kubelet's next report makes it Ready again, or its
    not-ready taint keeps every pod off it."""

    async def scenario() -> list[str]:
        client = Recorder()
        kubelet = Kubelet(client, bind=False, ready_delay=0.0, leases=False)  # type: ignore[arg-type]
        ready = {"type": "Ready", "status": "True"}
        unknown = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}
        kubelet.on_node("ADDED", {"metadata": {"name": "n1"}, "status": {"conditions": [ready]}})
        kubelet.on_node(
            "MODIFIED", {"metadata": {"name": "n1"}, "status": {"conditions": [unknown]}}
        )
        for _ in range(100):
            await asyncio.sleep(0.01)
            if any(k == "nodes" for k, _, _ in client.patches):
                break
        for task in list(kubelet.background):
            task.cancel()
        return [
            c["status"]
            for k, _, patch in client.patches
            if k == "nodes"
            for c in patch["status"]["conditions"]
            if c["type"] == "Ready"
        ]

    assert asyncio.run(scenario()) == ["True"]


def test_a_ready_node_has_its_unchanged_status_reported_again_each_period() -> None:
    """As a real kubelet's nodeStatusReportFrequency: each report is an update of the node,
    on which the node lifecycle controller judges its taints again. Only the heartbeat moves
    (the Ready transition keeps its time); a node not Ready is not reported Ready."""

    async def scenario() -> list[tuple[str, str, str]]:
        client = Recorder()
        kubelet = Kubelet(
            client,  # type: ignore[arg-type]
            bind=False,
            ready_delay=0.0,
            leases=False,
            status_report_seconds=0.02,
        )
        since = "2026-01-01T00:00:00Z"
        ready = {"type": "Ready", "status": "True", "lastTransitionTime": since}
        kubelet.nodes["ready"] = {"metadata": {"name": "ready"}, "status": {"conditions": [ready]}}
        kubelet.nodes["starting"] = node("starting")
        kubelet.readying.add("starting")  # its first report is on its way
        reports = asyncio.create_task(kubelet._report_statuses())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(client.patches) >= 3:
                break
        reports.cancel()
        return [
            (name, c["status"], c["lastTransitionTime"])
            for k, name, patch in client.patches
            if k == "nodes"
            for c in patch["status"]["conditions"]
        ]

    reported = asyncio.run(scenario())
    assert len(reported) >= 3
    assert set(reported) == {("ready", "True", "2026-01-01T00:00:00Z")}
