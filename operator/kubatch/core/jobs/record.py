"""The job state machine, for single jobs and array jobs alike.

A `JobRecord` holds the in-memory state of one BatchJob. Its methods take what was observed
(dependency states, scheduler placements, pod observations, cancel and terminate requests)
and the current time, change the state and return the actions the controller must carry out
(create a pod, stop a pod, record an event). Nothing here does I/O or reads a clock.

An array job's children are work items inside the parent record, never separate objects:
each child is a small slot, counts per state are kept incrementally, and the persisted form
(`to_status`) writes them as index ranges. A single job is a record with one child whose
index is None.

States, as in AWS Batch: SUBMITTED -> PENDING (dependencies unfinished) -> RUNNABLE ->
STARTING (placed; its pod created) -> RUNNING (container started) -> SUCCEEDED | FAILED; a
failed attempt goes back to RUNNABLE, at the front of its queue, while the retry strategy
allows. An array parent is SUBMITTED, then PENDING while its children run, then SUCCEEDED when
all children succeeded or FAILED when any failed (once all finished).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ...api.batchjob import BatchJobSpec, DependencyType, StopRequest
from ...api.common import IN_FLIGHT, NOT_STARTED, TERMINAL, JobStatus
from .attempts import (
    Action,
    Attempt,
    Child,
    Counts,
    PodObservation,
    PodPhase,
    RecordEvent,
    StopPod,
    counts_of,
    outcome_of,
    pod_name,
)
from .definitions import Refused, ResolvedJob, Unresolved
from .dependencies import (
    DependencyView,
    Verdict,
    check_array_shape,
    check_child,
    check_whole_job,
    dependent_failed,
)
from .interventions import Interventions
from .multinode import Gang
from .retry import AttemptOutcome, should_retry

S = JobStatus
# Per-child attempt details kept in an array job's status (the rest: counts and ranges).
MAX_CHILD_DETAILS = 1000


@dataclass(kw_only=True, slots=True)
class JobRecord(Gang, Interventions):
    namespace: str
    name: str
    uid: str
    spec: BatchJobSpec
    created_at: datetime
    children: list[Child] = field(init=False)
    counts: Counts = field(init=False)
    status: JobStatus = S.SUBMITTED
    reason: str | None = None
    resolved: ResolvedJob | None = None
    revision: int | None = None
    """The definition revision, pinned at the first evaluation: "def" keeps meaning the
    revision that was latest when the job was accepted, across restarts and updates."""
    runnable_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    history: list[Attempt] = field(default_factory=list)
    """Finished attempts of a single job (arrays keep each child's last one)."""
    blocker: str | None = None
    blocker_detail: str | None = None
    """What the blocker means for this job, in words."""
    """Why RUNNABLE work is not placed, from the scheduler."""
    blocked_since: datetime | None = None
    """Since when the blocker has been what it is."""
    position: int | None = None
    evaluated: bool = False
    view: DependencyView | None = None
    """The dependency view of the latest evaluation (an in-memory query, no I/O)."""
    cancel_seen: StopRequest | None = None
    """The cancel request already acted on (it acts once, when it arrives)."""
    attempt_end: datetime | None = None
    """When the attempt that just ended stopped (read by the next refresh)."""
    multinode: bool = False
    """A multi-node parallel job: its children are its nodes."""
    main_node: int = 0

    def __post_init__(self) -> None:
        size = self.size
        self.children = [Child(index=i) for i in range(size)] if size else [Child(index=None)]
        self.counts = counts_of(self.children)

    # -- views -------------------------------------------------------------------------

    @property
    def size(self) -> int | None:
        return self.spec.array_properties.size if self.spec.array_properties else None

    @property
    def is_array(self) -> bool:
        return self.spec.array_properties is not None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def sequential(self) -> bool:
        return any(d.type == DependencyType.SEQUENTIAL for d in self.spec.depends_on)

    @property
    def attempt_count(self) -> int:
        return sum(c.attempts for c in self.children) if not self.multinode else self.attempts

    @property
    def indexed(self) -> bool:
        """Whether its children have indexes (array children or nodes)."""
        return self.is_array or self.multinode

    def child(self, index: int | None) -> Child:
        if index is None:
            if self.indexed:
                raise KeyError("an array's or multi-node job's work items have an index")
            return self.children[0]
        if not self.indexed or not 0 <= index < len(self.children):
            raise KeyError(index)
        return self.children[index]

    def child_status(self, index: int) -> JobStatus | None:
        """For dependents: the status of child `index`, None if there is no such child."""
        if not self.is_array or not 0 <= index < len(self.children):
            return None
        return self.children[index].status

    def runnable(self) -> Iterator[Child]:
        return (c for c in self.children if c.status == S.RUNNABLE)

    def queue_key(self, child: Child) -> tuple[int, float, float, str, int]:
        """Order within a queue: retried work first (by when it was retried), then by
        submission time, then by name and index. Times as POSIX seconds: run queues compare
        keys often, and aware datetimes with distinct tzinfo objects compare slowly."""
        created = self.created_at.timestamp()
        if child.retried and child.runnable_since is not None:
            return (0, child.runnable_since.timestamp(), created, self.name, child.index or 0)
        return (1, created, created, self.name, child.index or 0)

    def definition_ref(self) -> str:
        """What to resolve: the pinned revision once there is one, else the spec's name."""
        name = self.spec.job_definition.partition(":")[0]
        return f"{name}:{self.revision}" if self.revision is not None else self.spec.job_definition

    def pod_name(self, index: int | None, attempt: int) -> str:
        return pod_name(self.name, self.uid, index, attempt)

    def mark_waiting(
        self, blocker: str | None, detail: str | None, position: int | None, now: datetime
    ) -> bool:
        """What the scheduler says of the job's RUNNABLE work: why it waits (None: it does
        not), in words, and its place in the queue. Returns whether that changed."""
        if self.blocker != blocker:
            self.blocked_since = now if blocker else None
        if (self.blocker, self.blocker_detail, self.position) == (blocker, detail, position):
            return False
        self.blocker, self.blocker_detail, self.position = blocker, detail, position
        return True

    # -- transitions -------------------------------------------------------------------

    def _set(self, child: Child, status: JobStatus, reason: str | None, now: datetime) -> None:
        if child.status in TERMINAL:
            return
        self.counts[child.status] -= 1
        self.counts[status] += 1
        child.status = status
        child.reason = reason
        if status == S.RUNNABLE:
            child.runnable_since = now
        if status != S.RUNNABLE:
            child.retried = child.retried and status in IN_FLIGHT

    def _refresh(self, now: datetime, actions: list[Action], reason: str | None = None) -> None:
        """Derive the job's own status from its children and report a change."""
        before = self.status
        ended, self.attempt_end = self.attempt_end, None
        if self.multinode:
            self.status, self.reason = self._gang_status()
        elif not self.is_array:
            self.status, self.reason = self.children[0].status, self.children[0].reason
        else:
            total = len(self.children)
            failed = self.counts[S.FAILED]
            if failed + self.counts[S.SUCCEEDED] == total:
                self.status = S.FAILED if failed else S.SUCCEEDED
                self.reason = (reason or self._children_failed_reason(failed)) if failed else None
            elif self.evaluated:
                self.status = S.PENDING
                self.reason = reason
        if self.status == before:
            return
        if self.status == S.RUNNABLE and self.runnable_at is None:
            self.runnable_at = now
        if self.status in TERMINAL:
            # Ended by an attempt: when its container stopped (the clock its dependents'
            # start times come from), else now.
            self.stopped_at = ended if ended is not None and ended <= now else now
        message = f"{self.status.value}" + (f": {self.reason}" if self.reason else "")
        kind: Literal["Normal", "Warning"] = "Warning" if self.status == S.FAILED else "Normal"
        actions.append(RecordEvent(kind, self.status.value.title(), message))

    def _children_failed_reason(self, failed: int) -> str:
        reasons = {c.reason for c in self.children if c.status == S.FAILED}
        if failed == len(self.children) and len(reasons) == 1:
            return reasons.pop() or "child jobs failed"
        return f"{failed} of {len(self.children)} child jobs failed"

    def _fail(self, child: Child, reason: str, now: datetime) -> None:
        self._set(child, S.FAILED, reason, now)
        if self.sequential and child.index is not None:
            # Every later child waits, directly or not, on this one.
            following = child.index + 1
            label = f"{self.name}:{child.index}"
            while following < len(self.children) and self.children[following].status in (
                S.SUBMITTED,
                S.PENDING,
            ):
                self._set(self.children[following], S.FAILED, dependent_failed(label), now)
                label = f"{self.name}:{following}"
                following += 1

    def evaluate(
        self,
        now: datetime,
        view: DependencyView,
        resolution: ResolvedJob | Unresolved | Refused,
        indexes: Iterable[int] | None = None,
    ) -> list[Action]:
        """Move SUBMITTED and PENDING work forward: refuse, wait, fail on a failed
        dependency, or become RUNNABLE. `indexes` limits the array children looked at
        (after child i of an N_TO_N dependency changed); None looks at all of them."""
        actions: list[Action] = []
        if self.terminal:
            return actions
        if isinstance(resolution, Refused):
            for child in self.children:
                if child.status in NOT_STARTED:
                    self._set(child, S.FAILED, resolution.reason, now)
            self.evaluated = True
            self._refresh(now, actions, resolution.reason)
            return actions
        if isinstance(resolution, Unresolved):
            # Work not yet started says what it waits for now (its queue may have gone since
            # a dependency was what it waited for).
            if self.status in (S.SUBMITTED, S.PENDING):
                self.reason = resolution.reason
                for child in self.children:
                    if child.status in (S.SUBMITTED, S.PENDING):
                        child.reason = resolution.reason
            return actions
        self.resolved = resolution
        self.revision = resolution.revision
        self.as_nodes(resolution)
        self.evaluated = True
        self.view = view
        whole = check_whole_job(self.spec.depends_on, view)
        if whole.verdict == Verdict.SATISFIED and self.size is not None:
            whole = check_array_shape(self.spec.depends_on, self.size, view)
        if whole.verdict == Verdict.FAILED:
            for child in self.children:
                if child.status in (S.SUBMITTED, S.PENDING):
                    self._set(child, S.FAILED, whole.reason, now)
        elif whole.verdict == Verdict.WAITING:
            for child in self.children:
                if child.status == S.SUBMITTED or (
                    child.status == S.PENDING and child.reason != whole.reason
                ):
                    self._set(child, S.PENDING, whole.reason, now)
        else:
            chosen = (
                self.children
                if indexes is None
                else [self.children[i] for i in indexes if 0 <= i < len(self.children)]
            )
            self._evaluate_children(chosen, now)
        actions += self._apply_stop_requests(now)
        self._refresh(now, actions, whole.reason)
        return actions

    def _evaluate_children(self, children: Iterable[Child], now: datetime) -> None:
        """Per-child dependencies (N_TO_N, SEQUENTIAL), once whole-job ones are satisfied."""
        view = self.view
        for child in children:
            if child.status not in (S.SUBMITTED, S.PENDING):
                continue
            if child.index is None or view is None or self.multinode:
                self._set(child, S.RUNNABLE, None, now)
                continue
            previous = self.children[child.index - 1].status if child.index > 0 else None
            check = check_child(child.index, self.spec.depends_on, self.name, view, previous)
            if check.verdict == Verdict.FAILED:
                self._fail(child, check.reason or "dependency failed", now)
            elif check.verdict == Verdict.WAITING:
                self._set(child, S.PENDING, check.reason, now)
            else:
                self._set(child, S.RUNNABLE, None, now)

    def place(
        self, index: int | None, compute_environment: str, now: datetime, node: str | None = None
    ) -> list[Action]:
        """The scheduler placed RUNNABLE work: a new attempt starts (STARTING)."""
        child = self.child(index)
        if child.status != S.RUNNABLE:
            raise ValueError(f"{self.name}[{index}] is {child.status}, not RUNNABLE")
        child.attempts += 1
        attempt = Attempt(
            number=child.attempts,
            pod_name=self.pod_name(index, child.attempts),
            compute_environment=compute_environment,
        )
        child.current = attempt
        self._set(child, S.STARTING, None, now)
        actions: list[Action] = [attempt.create_pod(index, node)]
        self._refresh(now, actions)
        return actions

    def observe(self, obs: PodObservation, now: datetime) -> list[Action]:
        """A pod of this job changed (or disappeared)."""
        actions: list[Action] = []
        child = self.child(obs.index)
        attempt = child.current
        if attempt is None or attempt.number != obs.attempt or child.status not in IN_FLIGHT:
            # An old attempt, or one already accounted for. Its pod has no business running
            # (a create that landed after the attempt ended): stop it, unless it is being
            # stopped (its kubelet ends it, in its grace period).
            last = child.last
            stopping = last is not None and last.pod_name == obs.pod_name and last.stop_reason
            running = obs.phase in (PodPhase.PENDING, PodPhase.RUNNING)
            if running and not obs.deleting and not stopping:
                ended = "the attempt of this pod has ended"
                actions.append(StopPod(pod_name=obs.pod_name, grace_seconds=0, reason=ended))
            return actions
        attempt.node_name = obs.node_name or attempt.node_name
        if child.status == S.STARTING and (obs.phase == PodPhase.RUNNING or obs.started_at):
            # It runs, or it ran: a quick container can end while its pod's phase still says
            # Pending. AWS shows every job that ran as RUNNING, with its start time.
            attempt.started_at = obs.started_at or now
            if self._starts_job(child):
                self.started_at = attempt.started_at
            self._set(child, S.RUNNING, None, now)
            self._refresh(now, actions)
        if obs.finished:
            if obs.cannot_start and obs.pod_exists and not obs.deleting:
                # It will not start by itself; give the node back.
                actions.append(attempt.give_back(obs.reason or "cannot start", child.index))
            outcome = outcome_of(obs, attempt.stop_reason)
            if self.multinode:
                actions += self._finish_node(child, attempt, outcome, obs, now)
            else:
                self._finish(child, attempt, outcome, obs, now)
        actions += self._open_gates(child, obs)
        self._refresh(now, actions)
        return actions

    def _finish(
        self,
        child: Child,
        attempt: Attempt,
        outcome: AttemptOutcome,
        obs: PodObservation,
        now: datetime,
    ) -> None:
        attempt.end(outcome, obs.finished_at or now, obs.started_at)
        self.attempt_end = attempt.stopped_at
        child.current = None
        child.last = attempt
        if not self.is_array:
            self.history.append(attempt)
        if outcome.succeeded:
            self._set(child, S.SUCCEEDED, None, now)
            self._after_success(child, now)
            return
        strategy = self.resolved.retry_strategy if self.resolved else None
        if should_retry(strategy, child.attempts, outcome):
            self._set(child, S.RUNNABLE, None, now)
            child.retried = True
            return
        self._fail(child, outcome.status_reason, now)

    def _after_success(self, child: Child, now: datetime) -> None:
        if self.sequential and child.index is not None and child.index + 1 < len(self.children):
            self._evaluate_children([self.children[child.index + 1]], now)
