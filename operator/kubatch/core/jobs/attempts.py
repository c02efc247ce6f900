"""What Kubernetes reports about an attempt's pod, and what that means in AWS Batch's terms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from ...api.batchjob import AttemptDetail
from ...api.common import JobStatus
from ...keys import ANNOTATION_DEFAULT_CONTAINER
from .retry import (
    CANNOT_PULL,
    ESSENTIAL_CONTAINER_EXITED,
    OUT_OF_MEMORY,
    STOP_GRACE_SECONDS,
    TASK_FAILED_TO_START,
    TIMED_OUT,
    AttemptOutcome,
    host_terminated,
)

# Waiting reasons after which a container will not start by itself.
IMAGE_PULL_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CONTAINER_START_FAILURES = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
# A container whose command could not be run (runc could not exec it): terminated, never
# started.
START_ERROR = "StartError"
# A pod's own reasons for ending, which outrank what its container says (the kubelet stopped
# it: its container then says Error, or even Completed when it exits 0 on SIGTERM).
DEADLINE_EXCEEDED = "DeadlineExceeded"
HOST_ENDED_POD = frozenset({"Evicted", "Shutdown", "Terminated", "NodeShutdown"})
POD_REASONS = HOST_ENDED_POD | {DEADLINE_EXCEEDED}
# A pod the cluster ends for its own reasons says so in a DisruptionTarget condition, and
# may be marked Failed with its container still said to run: its node went (the pod
# garbage collector: DeletionByPodGC; the taint manager: DeletionByTaintManager), its kubelet
# ended it (TerminationByKubelet), it was evicted or preempted. For AWS: its host went.
DISRUPTION_TARGET = "DisruptionTarget"
DISRUPTED = frozenset(
    {
        "DeletionByPodGC",
        "DeletionByTaintManager",
        "TerminationByKubelet",
        "EvictionByEvictionAPI",
        "PreemptionByScheduler",
        "PreemptionByKubeScheduler",
    }
)
# Reasons Kubatch gives an attempt whose pod never ran: the API server refused the pod (or it
# never appeared), or no node took it before the schedule deadline.
POD_REFUSED = "PodRefused"
UNSCHEDULABLE = "Unschedulable"
NEVER_RAN = frozenset({POD_REFUSED, UNSCHEDULABLE})

CONTAINER_NAME = "main"


def essential_container(pod: Mapping[str, Any]) -> str:
    """The container whose end is the attempt's: the one the pod names as its default
    (an EKS-style definition's first container), else Kubatch's own "main"."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATION_DEFAULT_CONTAINER) or CONTAINER_NAME)


"""The attempt's container in its pod (AWS: the job's one container)."""


class PodPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    GONE = "Gone"
    """The pod no longer exists (deleted, or lost with its node)."""


@dataclass(frozen=True, kw_only=True)
class PodObservation:
    """The facts about one attempt's pod that the lifecycle uses."""

    pod_name: str
    index: int | None
    attempt: int
    phase: PodPhase
    node_name: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    """The container's terminated or waiting reason (OOMKilled, Error, ErrImagePull...), or
    the pod's own reason (Evicted, DeadlineExceeded) when it has none."""
    message: str | None = None
    deleting: bool = False
    gated: bool = False
    """The pod has scheduling gates: it holds its node's room but is not scheduled yet."""

    @property
    def cannot_start(self) -> bool:
        return self.phase == PodPhase.PENDING and self.reason in (
            IMAGE_PULL_FAILURES | CONTAINER_START_FAILURES | NEVER_RAN
        )

    @property
    def pod_exists(self) -> bool:
        return self.phase != PodPhase.GONE and self.reason != POD_REFUSED

    @property
    def finished(self) -> bool:
        return self.phase in (PodPhase.SUCCEEDED, PodPhase.FAILED, PodPhase.GONE) or (
            self.cannot_start
        )


def outcome_of(obs: PodObservation, stop_reason: str | None) -> AttemptOutcome:
    """How a finished attempt ended. `stop_reason` is set when Kubatch stopped the attempt
    itself (timeout or terminate): such an attempt fails with that reason and is not retried."""
    if stop_reason is not None:
        return AttemptOutcome(
            exit_code=obs.exit_code, reason=None, status_reason=stop_reason, retryable=False
        )
    if obs.phase == PodPhase.SUCCEEDED:
        return AttemptOutcome(exit_code=obs.exit_code if obs.exit_code is not None else 0)
    if obs.phase == PodPhase.GONE:
        return AttemptOutcome(status_reason=host_terminated(obs.node_name))
    if obs.reason in IMAGE_PULL_FAILURES:
        detail = obs.message or obs.reason
        return AttemptOutcome(reason=f"{CANNOT_PULL}: {detail}", status_reason=TASK_FAILED_TO_START)
    if obs.reason == POD_REFUSED:
        detail = obs.message or obs.reason
        return AttemptOutcome(
            reason=f"CannotCreateContainerError: {detail}", status_reason=TASK_FAILED_TO_START
        )
    if obs.reason == UNSCHEDULABLE:
        detail = obs.message or obs.reason
        return AttemptOutcome(
            reason=f"ResourceInitializationError: {detail}", status_reason=TASK_FAILED_TO_START
        )
    if obs.reason in CONTAINER_START_FAILURES or obs.reason == START_ERROR:
        detail = obs.message or obs.reason
        return AttemptOutcome(
            reason=f"CannotStartContainerError: {detail}", status_reason=TASK_FAILED_TO_START
        )
    if obs.reason == "OOMKilled":
        return AttemptOutcome(exit_code=obs.exit_code or 137, reason=OUT_OF_MEMORY)
    if obs.reason == DEADLINE_EXCEEDED:
        return AttemptOutcome(exit_code=obs.exit_code, status_reason=TIMED_OUT, retryable=False)
    if obs.reason in HOST_ENDED_POD or obs.reason in DISRUPTED:
        return AttemptOutcome(status_reason=host_terminated(obs.node_name))
    exit_code = obs.exit_code if obs.exit_code is not None else 1
    return AttemptOutcome(exit_code=exit_code, status_reason=ESSENTIAL_CONTAINER_EXITED)


# -- an attempt, and what the lifecycle asks for -------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreatePod:
    index: int | None
    attempt: int
    pod_name: str
    compute_environment: str
    node: str | None = None
    """The node the scheduler chose, when it chose one."""


@dataclass(frozen=True, kw_only=True)
class StopPod:
    pod_name: str
    grace_seconds: int
    reason: str
    index: int | None = None
    attempt: int | None = None
    """The attempt the pod is (None: a pod of no attempt in flight)."""


@dataclass(frozen=True)
class ReleasePod:
    """Let a pod held back by Kubatch's scheduling gate (a multi-node job's other node,
    waiting for its main node to run) be scheduled."""

    pod_name: str


@dataclass(frozen=True)
class RecordEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = CreatePod | StopPod | ReleasePod | RecordEvent


@dataclass(slots=True, kw_only=True)
class Attempt:
    number: int
    pod_name: str
    compute_environment: str | None = None
    node_name: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    status_reason: str | None = None
    stop_reason: str | None = None
    """Set when Kubatch asked the pod to stop (timeout, terminate): the attempt fails with it."""

    def end(
        self, outcome: AttemptOutcome, stopped_at: datetime, started_at: datetime | None
    ) -> None:
        """Record how the attempt ended."""
        self.stopped_at = stopped_at
        self.started_at = self.started_at or started_at
        self.exit_code = outcome.exit_code
        self.reason = outcome.reason
        self.status_reason = outcome.status_reason

    def stop(self, reason: str, index: int | None, own: bool = True) -> StopPod:
        """Kubatch stops this attempt (timeout, terminate, its job's main node ended): SIGTERM,
        then SIGKILL after the grace period; it fails with `reason`. `own`: the stop ends
        this attempt (not, for a multi-node job's node, the job's whole attempt)."""
        self.stop_reason = reason
        if not own:
            return StopPod(pod_name=self.pod_name, grace_seconds=STOP_GRACE_SECONDS, reason=reason)
        return StopPod(
            pod_name=self.pod_name,
            grace_seconds=STOP_GRACE_SECONDS,
            reason=reason,
            index=index,
            attempt=self.number,
        )

    def give_back(self, reason: str, index: int | None) -> StopPod:
        """Remove the pod at once (no grace: its container will not start by itself)."""
        return StopPod(
            pod_name=self.pod_name, grace_seconds=0, reason=reason, index=index, attempt=self.number
        )

    def create_pod(self, index: int | None, node: str | None) -> CreatePod:
        """The action that makes this attempt's pod (on `node`, when the scheduler chose one)."""
        return CreatePod(
            index=index,
            attempt=self.number,
            pod_name=self.pod_name,
            compute_environment=self.compute_environment or "",
            node=node,
        )

    def detail(self, index: int | None) -> AttemptDetail:
        return AttemptDetail(
            attempt=self.number,
            array_index=index,
            pod_name=self.pod_name,
            node_name=self.node_name,
            compute_environment=self.compute_environment,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            exit_code=self.exit_code,
            reason=self.reason,
            status_reason=self.status_reason or self.stop_reason,
        )


@dataclass(slots=True, kw_only=True)
class Child:
    """One work item: the single job itself (index None) or one array child."""

    index: int | None
    status: JobStatus = JobStatus.SUBMITTED
    reason: str | None = None
    attempts: int = 0
    current: Attempt | None = None
    last: Attempt | None = None
    runnable_since: datetime | None = None
    retried: bool = False


class Counts(Protocol):
    """How many of a job's children are in each state (a Counter reads so)."""

    def __getitem__(self, status: JobStatus, /) -> int: ...
    def __setitem__(self, status: JobStatus, count: int, /) -> None: ...
    def items(self) -> Iterable[tuple[JobStatus, int]]: ...


class OneChildCounts:
    """The counts of a job with one child, read from the child: 1 for its state, 0 for the
    others. Setting a count is a no-op, since the child's state is what is counted (a
    Counter per queued job was 0.25 KiB of its memory)."""

    __slots__ = ("child",)

    def __init__(self, child: Child) -> None:
        self.child = child

    def __getitem__(self, status: JobStatus, /) -> int:
        return 1 if self.child.status == status else 0

    def __setitem__(self, status: JobStatus, count: int, /) -> None:
        pass

    def items(self) -> Iterable[tuple[JobStatus, int]]:
        return ((self.child.status, 1),)


def counts_of(children: list[Child]) -> Counts:
    """The counts of these children, kept as their states change (see JobRecord._set)."""
    if len(children) == 1:
        return OneChildCounts(children[0])
    return Counter(child.status for child in children)


def pod_name(job: str, uid: str, index: int | None, attempt: int) -> str:
    """Deterministic: the same (job, index, attempt) always gives the same pod, so creating it
    twice after a restart is harmless. The uid fragment keeps job "a-1" and array "a" apart."""
    where = "" if index is None else f"-{index}"
    return f"{job}-{uid.replace('-', '')[:5]}{where}-{attempt}"


def service_name(uid: str) -> str:
    """The headless Service that gives a multi-node job's nodes stable names (a DNS label
    that starts with a letter, whatever the job's name)."""
    return f"kubatch-{uid.replace('-', '')[:12]}"


def node_hostname(index: int) -> str:
    """A multi-node job's node's hostname (its name under the job's headless Service)."""
    return f"node-{index}"


def main_node_address(namespace: str, uid: str, main: int) -> str:
    """The stable name of a multi-node job's main node: its hostname under the job's
    headless Service (resolvable in the cluster once the pod has an IP)."""
    return f"{node_hostname(main)}.{service_name(uid)}.{namespace}.svc"
