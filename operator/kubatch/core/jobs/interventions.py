"""What reaches a job from outside its own run: attempt timeouts, cancel and terminate
requests, and, after a restart, the pods found running. `JobRecord` derives from
`Interventions` and defines what is declared here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ...api.batchjob import BatchJobSpec, StopRequest
from ...api.common import IN_FLIGHT, NOT_STARTED, JobStatus
from .attempts import Action, Attempt, Child, CreatePod, PodObservation, PodPhase
from .definitions import ResolvedJob
from .ranges import parse_ranges
from .retry import TIMED_OUT

S = JobStatus


class Interventions:
    if not TYPE_CHECKING:  # no __dict__ for JobRecord (slots); mypy checks JobRecord's
        __slots__ = ()

    spec: BatchJobSpec
    children: list[Child]
    resolved: ResolvedJob | None
    revision: int | None
    cancel_seen: StopRequest | None
    multinode: bool
    main_node: int

    if TYPE_CHECKING:

        def child(self, index: int | None) -> Child: ...
        def observe(self, obs: PodObservation, now: datetime) -> list[Action]: ...
        def _fail(self, child: Child, reason: str, now: datetime) -> None: ...
        def _set(
            self, child: Child, status: JobStatus, reason: str | None, now: datetime
        ) -> None: ...
        def _refresh(
            self, now: datetime, actions: list[Action], reason: str | None = None
        ) -> None: ...
        def _reconcile_gang(self, seen_pods: set[str], now: datetime) -> list[Action]: ...
        def as_nodes(self, resolved: ResolvedJob) -> None: ...

    # -- timeouts ------------------------------------------------------------------------

    def deadline(self, child: Child) -> datetime | None:
        timeout = self.resolved.timeout_seconds if self.resolved else None
        child = self.children[self.main_node] if self.multinode else child  # the whole job's
        attempt = child.current
        if timeout is None or attempt is None or attempt.started_at is None:
            return None
        return attempt.started_at + timedelta(seconds=timeout)

    def check_timeouts(self, now: datetime) -> list[Action]:
        """Stop attempts that ran past attemptDurationSeconds: SIGTERM now, SIGKILL after
        the grace period. Such an attempt fails and is not retried."""
        actions: list[Action] = []
        if self.resolved is None or self.resolved.timeout_seconds is None:
            return actions
        for child in self.children:
            attempt = child.current
            deadline = self.deadline(child)
            if attempt is None or deadline is None or attempt.stop_reason is not None:
                continue
            if now >= deadline:
                actions.append(attempt.stop(TIMED_OUT, child.index))
        return actions

    def next_deadline(self) -> datetime | None:
        deadlines = [
            d
            for c in self.children
            if c.current is not None and c.current.stop_reason is None
            for d in [self.deadline(c)]
            if d is not None
        ]
        return min(deadlines, default=None)

    # -- cancel and terminate ----------------------------------------------------------

    def _stop_request_for(self, kind: Literal["cancel", "terminate"], child: Child) -> str | None:
        request = self.spec.cancel if kind == "cancel" else self.spec.terminate
        if request is None:
            return None
        if request.array_indexes is None or child.index is None:
            return request.reason
        if child.index in parse_ranges(request.array_indexes):
            return request.reason
        return None

    def cancel(self, reason: str, now: datetime) -> list[Action]:
        """Cancel on Kubatch's own account (a queue's time-limit action): work not yet
        started fails with the reason; attempts in flight go on."""
        actions: list[Action] = []
        for child in self.children:
            if child.status in NOT_STARTED:
                self._fail(child, reason, now)
        self._refresh(now, actions)
        return actions

    def update_spec(self, spec: BatchJobSpec, now: datetime) -> list[Action]:
        """The job's spec changed (only cancel and terminate may): apply the requests."""
        self.spec = spec
        actions = self._apply_stop_requests(now)
        self._refresh(now, actions)
        return actions

    def _apply_stop_requests(self, now: datetime) -> list[Action]:
        """Terminate holds for as long as it is asked: whatever is not finished fails, and
        attempts in flight are stopped (and not retried). Cancel, as AWS's CancelJob, acts
        once, when it arrives: on work not yet STARTING; work in flight then is unaffected,
        and so are its later retries."""
        actions: list[Action] = []
        if self.spec.cancel is None and self.spec.terminate is None:
            return actions
        fresh_cancel = self.spec.cancel is not None and self.spec.cancel != self.cancel_seen
        self.cancel_seen = self.spec.cancel
        for child in self.children:
            terminate = self._stop_request_for("terminate", child)
            cancel = self._stop_request_for("cancel", child) if fresh_cancel else None
            if child.status in NOT_STARTED and (terminate or cancel):
                self._fail(child, terminate or cancel or "", now)
            elif child.status in IN_FLIGHT and terminate is not None:
                attempt = child.current
                if attempt is not None and attempt.stop_reason is None:
                    actions.append(attempt.stop(terminate, child.index))
        return actions

    # -- after a restart ---------------------------------------------------------------

    def restore_resolution(self, resolved: ResolvedJob) -> None:
        """After a restart: the definition the job was resolved against (the revision it
        pinned), and its nodes when it is a multi-node job."""
        self.resolved = resolved
        self.revision = resolved.revision
        self.as_nodes(resolved)

    def adopt(self, obs: PodObservation, now: datetime) -> list[Action]:
        """A pod found at start-up (pods are adopted in attempt order): catch the record up
        with an attempt it started but had not yet written down, then treat the observation
        as usual. A pod of a later attempt than the one in flight means that one ended (its
        own pod, when still there, was judged first)."""
        actions: list[Action] = []
        child = self.child(obs.index)
        current = child.current
        if child.status in IN_FLIGHT and current is not None and obs.attempt > current.number:
            gone = PodObservation(
                pod_name=current.pod_name,
                index=child.index,
                attempt=current.number,
                phase=PodPhase.GONE,
                node_name=current.node_name,
            )
            actions += self.observe(gone, now)
        if child.status in NOT_STARTED and obs.attempt > child.attempts:
            child.attempts = obs.attempt
            child.current = Attempt(
                number=obs.attempt,
                pod_name=obs.pod_name,
                compute_environment=None,
                node_name=obs.node_name,
            )
            self._set(child, S.STARTING, None, now)
        elif child.status in IN_FLIGHT and child.current is None and obs.attempt >= child.attempts:
            child.attempts = obs.attempt
            child.current = Attempt(
                number=obs.attempt,
                pod_name=obs.pod_name,
                compute_environment=None,
                node_name=obs.node_name,
            )
        return actions + self.observe(obs, now)

    def reconcile_missing(
        self, seen_pods: set[str], now: datetime, lost: bool = False
    ) -> list[Action]:
        """After adoption: a STARTING attempt whose pod was never seen is placed again (its
        pod, with the same name, was never created, or the create was lost: the attempt
        never ran, so it keeps its number); a RUNNING one whose pod is gone ended with it.
        `lost`: the pods are unknown, not absent (a worker cluster judged lost before it
        could be listed): every attempt ends as a lost host's, none keeps its number (its pod
        may yet show up there)."""
        actions = self._reconcile_gang(seen_pods, now)
        remade = {a.pod_name for a in actions if isinstance(a, CreatePod)}
        for child in self.children:
            attempt = child.current
            if child.status not in IN_FLIGHT or attempt is None:
                continue
            if attempt.pod_name in seen_pods or attempt.pod_name in remade:
                continue
            if child.status == S.STARTING and attempt.started_at is None and not lost:
                child.current = None
                child.attempts = attempt.number - 1
                self._set(child, S.RUNNABLE, None, now)
            else:
                gone = PodObservation(
                    pod_name=attempt.pod_name,
                    index=child.index,
                    attempt=attempt.number,
                    phase=PodPhase.GONE,
                    node_name=attempt.node_name,
                )
                actions += self.observe(gone, now)
        self._refresh(now, actions)
        return actions
