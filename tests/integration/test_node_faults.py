"""Faults of a real node while jobs run on it: the kubelet killed and started again,
containerd restarted, the node removed. Each job ends as AWS Batch would end it (an attempt
whose host went is retried while attempts remain, with AWS's reason), no pod or container is
left behind, and no attempt is counted twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, _node_ready, read_or_none, wait_for
from tests.support.containers import Program
from tests.support.system import Scenario

pytestmark = pytest.mark.node(real_only=True)


@pytest.fixture
def node_back(kube: Cluster) -> Iterator[None]:
    """Whatever a test did to the node, it is whole and Ready again after it."""
    yield
    node = kube.node
    assert node is not None
    if node.containerd_process is None:
        node.start_containerd()
    if node.kubelet_process is None:
        node.start_kubelet()
    wait_for(lambda: _node_ready(kube, node.name), timeout=90, what="the node Ready again")


def _running_containers(kube: Cluster, pod: str) -> list[str]:
    """containerd's running containers of a pod (by the CRI's labels)."""
    assert kube.node is not None
    listing = kube.node.ctr(
        "containers", "ls", f"labels.io.kubernetes.pod.name=={pod}", check=False
    ).stdout.splitlines()[1:]
    ids = [line.split()[0] for line in listing if line.split()]
    running = set(kube.node.running_tasks())
    return [i for i in ids if i in running]


@pytest.mark.parametrize("part", ["kubelet", "containerd"])
def test_a_restarted_kubelet_or_containerd_leaves_the_running_job_alone(
    scenario: Scenario, node_back: None, part: str
) -> None:
    node = scenario.kube.node
    assert node is not None
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("steady", queue, Program(prints="steady", seconds=12, on_sigterm=143))
    scenario.wait("steady", "RUNNING", timeout=60)
    if part == "kubelet":
        node.stop_kubelet(kill=True)  # as a crash: SIGKILL
    else:
        node.stop_containerd()
    wait_for(lambda: scenario.status("steady")["status"] == "RUNNING", what="still RUNNING")
    if part == "kubelet":
        node.start_kubelet()
    else:
        node.start_containerd()
    status = scenario.wait("steady", "SUCCEEDED", timeout=90)
    assert status["attemptCount"] == 1
    (pod,) = scenario.pods("steady")
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0


def test_a_node_removed_under_a_job_is_a_lost_host_and_the_job_is_retried(
    scenario: Scenario, node_back: None
) -> None:
    node = scenario.kube.node
    assert node is not None
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run(
        "moved",
        queue,
        Program(prints="moved", seconds=600, on_sigterm=143),
        retryStrategy={"attempts": 2},
    )
    scenario.wait("moved", "RUNNING", timeout=60)
    (first,) = scenario.pods("moved")
    name = first.metadata.name
    # The node is removed (as a cloud provider removes a reclaimed instance): its kubelet
    # goes with it, and its pods are collected; it comes back later as a new registration.
    node.stop_kubelet(kill=True)
    scenario.kube.core.delete_node(node.name)

    def first_ended() -> dict[str, object] | None:
        attempts = scenario.status("moved").get("attempts") or []
        return attempts[0] if attempts and attempts[0].get("statusReason") else None

    ended = wait_for(first_ended, timeout=150, what="the first attempt to end with its host")
    assert ended["statusReason"] == f"Host EC2 (instance {node.name}) terminated."
    assert scenario.status("moved")["status"] == "RUNNABLE", "retried: attempts remain"
    assert read_or_none(scenario.kube.core.read_namespaced_pod, name, scenario.namespace) is None
    node.start_kubelet()
    wait_for(lambda: _node_ready(scenario.kube, node.name), timeout=90, what="the node back")
    status = scenario.wait("moved", "RUNNING", timeout=120)
    assert status["attemptCount"] == 2
    # The first attempt's container went with its pod: nothing of it runs on the node.
    wait_for(lambda: not _running_containers(scenario.kube, name), timeout=60, what="no leftover")
    scenario.patch("moved", {"terminate": {"reason": "enough"}})
    status = scenario.wait("moved", "FAILED", timeout=90)
    assert status["attemptCount"] == 2
    assert [a["attempt"] for a in status["attempts"]] == [1, 2]
    assert len(scenario.pods("moved")) == 1, "the first attempt's pod is not made again"
