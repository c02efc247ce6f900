"""The simulated kubelet writes the status sequences a real kubelet writes.

The same pods (a command for the real node, the same behaviour as sim.kubatch.io/
annotations for the simulated one) run on the emulator's simulated node and on the real
node; each pod's statuses, as a watch delivers them, must match the sequence the real
kubelet was seen to write (ContainerCreating first; a quick container terminated while the
phase is still Pending or Running, then the phase; PID 1 and SIGTERM; activeDeadlineSeconds;
ErrImagePull and ImagePullBackOff; StartError; OOMKilled). Where the real kubelet may or may
not write a step (a quick container's Running), the step is optional, for both."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import watch

from kubatch.keys import LABEL_SIMULATED, SIM_PREFIX
from tests.support.cluster import Cluster, read_or_none, wait_for
from tests.support.containers import Program
from tests.support.system import System

pytestmark = pytest.mark.node

SIM_NODE = "sim-conformance"
GRACE = 3


@dataclass(frozen=True)
class Seen:
    phase: str
    state: str
    """waiting, running, terminated, or "" (no container status yet)."""
    reason: str | None
    exit_code: int | None
    pod_reason: str | None


@dataclass(frozen=True)
class Step:
    phases: frozenset[str]
    state: str
    reason: str | None = None
    exit_code: int | None = None
    pod_reason: str | None = None
    optional: bool = False

    def matches(self, seen: Seen) -> bool:
        return (
            seen.phase in self.phases
            and seen.state == self.state
            and (self.reason is None or seen.reason == self.reason)
            and (self.exit_code is None or seen.exit_code == self.exit_code)
            and seen.pod_reason == self.pod_reason
        )


PENDING, RUNNING = frozenset({"Pending"}), frozenset({"Running"})
ALIVE = PENDING | RUNNING
CREATING = Step(PENDING, "waiting", "ContainerCreating")
STARTED = Step(ALIVE, "running", optional=True)


def ended(reason: str, code: int, phase: str, pod_reason: str | None = None) -> list[Step]:
    """A container's end: reported while the pod is alive, then the phase (a pod its kubelet
    stops gets both at once)."""
    final = Step(frozenset({phase}), "terminated", reason, code, pod_reason)
    if pod_reason is not None:
        return [final]
    return [Step(ALIVE, "terminated", reason, code), final]


@dataclass(frozen=True)
class Case:
    program: Program
    expected: list[Step]
    deadline_when_running: bool = False
    until_seen: int | None = None
    """Stop watching once this many steps matched (a pod that never ends)."""


CASES = {
    "quick_success": Case(
        Program(prints="hi"), [CREATING, STARTED, *ended("Completed", 0, "Succeeded")]
    ),
    "quick_failure": Case(Program(exit_code=3), [CREATING, STARTED, *ended("Error", 3, "Failed")]),
    "runs_then_succeeds": Case(
        Program(seconds=2),
        [CREATING, Step(RUNNING, "running"), *ended("Completed", 0, "Succeeded")],
    ),
    "deadline_sigterm_ignored": Case(
        Program(seconds=600),
        [CREATING, Step(RUNNING, "running"), *ended("Error", 137, "Failed", "DeadlineExceeded")],
        deadline_when_running=True,
    ),
    "deadline_sigterm_trapped": Case(
        Program(seconds=600, on_sigterm=0),
        [
            CREATING,
            Step(RUNNING, "running"),
            *ended("Completed", 0, "Failed", "DeadlineExceeded"),
        ],
        deadline_when_running=True,
    ),
    "image_pull_fails": Case(
        Program(pullable=False),
        [
            CREATING,
            Step(PENDING, "waiting", "ErrImagePull"),
            Step(PENDING, "waiting", "ImagePullBackOff"),
        ],
        until_seen=3,
    ),
    "command_not_found": Case(
        Program(runnable=False), [CREATING, *ended("StartError", 128, "Failed")]
    ),
    "out_of_memory": Case(
        Program(memory_mib=200), [CREATING, STARTED, *ended("OOMKilled", 137, "Failed")]
    ),
}


def matches(steps: list[Step], seen: list[Seen]) -> bool:
    """Whether the observed sequence is the expected one (optional steps may be missing)."""
    if not seen:
        return all(s.optional for s in steps)
    if not steps:
        return False
    first, rest = steps[0], steps[1:]
    if first.matches(seen[0]) and matches(rest, seen[1:]):
        return True
    return first.optional and matches(rest, seen)


def _seen(pod: Any) -> Seen:
    status = pod.status
    state, reason, code = "", None, None
    for container in status.container_statuses or []:
        found = container.state
        if found.waiting:
            state, reason = "waiting", found.waiting.reason
        elif found.running:
            state = "running"
        elif found.terminated:
            state, reason, code = "terminated", found.terminated.reason, found.terminated.exit_code
    return Seen(status.phase, state, reason, code, status.reason)


@pytest.fixture(scope="module")
def node_name(kube: Cluster, system: System) -> Iterator[str]:
    """The node the pods run on: the real one, or a simulated node (the system's simulated
    kubelet makes it Ready)."""
    if kube.node is not None:
        yield kube.node.name
        return
    kube.core.create_node(
        {
            "metadata": {"name": SIM_NODE, "labels": {LABEL_SIMULATED: "true"}},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
        }
    )

    def ready() -> bool:
        node = read_or_none(kube.core.read_node, SIM_NODE)
        conditions = (node.status.conditions or []) if node else []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    wait_for(ready, what="the simulated node Ready")
    yield SIM_NODE
    kube.core.delete_node(SIM_NODE)


def _pod(name: str, node: str, program: Program) -> dict[str, Any]:
    container = program.container()
    return {
        "metadata": {
            "name": name,
            "annotations": {SIM_PREFIX + k: v for k, v in program.sim().items()},
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": GRACE,
            "containers": [
                {
                    "name": "main",
                    "image": container["image"],
                    "command": container["command"],
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "32Mi"}},
                }
            ],
        },
    }


def _follow(
    kube: Cluster, namespace: str, name: str, node: str, case: Case
) -> tuple[list[Seen], Any]:
    """Create the pod; every status it has until it ends (or `until_seen` steps matched)."""
    seen: list[Seen] = []
    last: Any = None
    stream = watch.Watch()
    deadline = time.monotonic() + 90
    # Watched from before its creation: no status it ever had is missed.
    since = kube.core.list_namespaced_pod(namespace).metadata.resource_version
    kube.core.create_namespaced_pod(namespace, _pod(name, node, case.program))
    for event in stream.stream(
        kube.core.list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={name}",
        resource_version=since,
        timeout_seconds=90,
    ):
        last = event["object"]
        if last.status.phase is None:
            continue
        found = _seen(last)
        if found.state == "" or (seen and seen[-1] == found):
            continue
        seen.append(found)
        if case.deadline_when_running and found.state == "running":
            patch = {"spec": {"activeDeadlineSeconds": 1}}
            threading.Thread(
                target=kube.core.patch_namespaced_pod, args=(name, namespace, patch)
            ).start()
        done = last.status.phase in ("Succeeded", "Failed")
        if (
            done
            or (case.until_seen and len(seen) >= case.until_seen)
            or time.monotonic() > deadline
        ):
            stream.stop()
    return seen, last


@pytest.mark.parametrize("case_name", list(CASES))
def test_the_kubelet_writes_the_sequence_a_real_kubelet_writes(
    kube: Cluster, namespace: str, node_name: str, case_name: str
) -> None:
    case = CASES[case_name]
    name = f"{case_name.replace('_', '-')}-{uuid.uuid4().hex[:4]}"
    seen, pod = _follow(kube, namespace, name, node_name, case)
    assert matches(case.expected, seen), f"{kube.tier} wrote {seen}"
    status = pod.status
    assert status.start_time is not None
    assert status.host_ip
    assert status.qos_class == "Burstable"
    # A pod that ended has no address any more (its sandbox is gone); one alive has one.
    assert (status.pod_ip is None) == (status.phase in ("Succeeded", "Failed"))
    types = {c.type: c.status for c in status.conditions or []}
    assert {"Initialized", "Ready", "ContainersReady", "PodScheduled"} <= set(types)
    if status.phase in ("Succeeded", "Failed"):
        assert types["Ready"] == "False"


def test_matching_takes_optional_steps_and_refuses_a_wrong_order() -> None:
    """The matcher itself: a sequence with or without an optional step matches; one with a
    step out of place does not."""
    expected = CASES["quick_success"].expected
    creating = Seen("Pending", "waiting", "ContainerCreating", None, None)
    running = Seen("Running", "running", None, None, None)
    done = Seen("Running", "terminated", "Completed", 0, None)
    final = Seen("Succeeded", "terminated", "Completed", 0, None)
    assert matches(expected, [creating, running, done, final])
    assert matches(expected, [creating, done, final])
    assert not matches(expected, [creating, final])
    assert not matches(expected, [running, creating, done, final])
