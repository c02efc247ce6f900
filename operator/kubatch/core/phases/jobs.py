"""The jobs phase of a step: move jobs forward from what changed.

It resolves each job against its queue and definition, evaluates dependencies, takes pod
observations and timeouts, and returns the records' actions (pods to create or stop, events)
per job. It changes job records and nothing else: the engine applies the actions.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...api.common import JobStatus, State
from ..jobs.attempts import Action, PodObservation
from ..jobs.definitions import (
    Refused,
    ResolvedJob,
    Revision,
    Unresolved,
    resolve_job,
    resolve_revision,
)
from ..jobs.dependencies import jobs_in_cycles
from ..jobs.record import JobRecord
from ..state.objects import JobKey
from ..state.store import Store
from .finalizers import is_deleting

Resolution = ResolvedJob | Unresolved | Refused


@dataclass
class Changes:
    """What a phase did: actions per job, and the jobs whose record changed."""

    actions: list[tuple[JobKey, Action]] = field(default_factory=list)
    touched: set[JobKey] = field(default_factory=set)

    def add(self, key: JobKey, actions: Iterable[Action]) -> None:
        self.actions += [(key, a) for a in actions]
        self.touched.add(key)


class NamespaceView:
    """The dependency view of one namespace, over the store's records."""

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    def status_of(self, name: str) -> JobStatus | None:
        state = self.store.jobs.get((self.namespace, name))
        if state is None:
            return None
        return state.record.status if state.record is not None else JobStatus.FAILED

    def size_of(self, name: str) -> int | None:
        record = self.store.record((self.namespace, name))
        return record.size if record else None

    def child_status_of(self, name: str, index: int) -> JobStatus | None:
        record = self.store.record((self.namespace, name))
        return record.child_status(index) if record else None


class JobsPhase:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.views: dict[str, NamespaceView] = {}
        """One dependency view per namespace, shared by its jobs (it holds no state)."""
        self.cycles: dict[JobKey, str] = {}
        """Jobs in a dependency cycle, with the reason they fail."""
        self.deadlines: list[tuple[datetime, JobKey]] = []
        """Attempt timeouts, earliest first (entries may be stale: checked when due)."""
        self.resolved_cache: weakref.WeakValueDictionary[tuple[Any, ...], ResolvedJob | Refused] = (
            weakref.WeakValueDictionary()
        )
        """Jobs that ask the same of the same revision share one resolution (memory per job);
        an entry goes when no job refers to it any more."""

    # -- resolution ------------------------------------------------------------------------

    def find_cycles(self, namespace: str) -> set[JobKey]:
        """Look for dependency cycles among a namespace's jobs; returns the jobs newly in one."""
        deps = {
            name: s.record.spec.depends_on
            for (ns, name), s in self.store.jobs.items()
            if ns == namespace and s.record is not None and s.record.spec.depends_on
        }
        found: set[JobKey] = set()
        for name, reason in jobs_in_cycles(deps).items():
            if (namespace, name) not in self.cycles:
                self.cycles[(namespace, name)] = reason
                found.add((namespace, name))
        return found

    def resolution(self, key: JobKey, record: JobRecord) -> Resolution:
        if key in self.cycles:
            return Refused(self.cycles[key])
        queue = self.store.queues.get(record.spec.job_queue)
        if queue is None:
            return Unresolved(f"JobQueue {record.spec.job_queue} does not exist yet")
        if not record.evaluated and queue.model is not None:
            refused = _intake_refusal(key, record, queue.model.spec, is_deleting(queue.obj))
            if refused is not None:
                return refused
        if not queue.valid:
            return Unresolved(f"JobQueue {record.spec.job_queue} is INVALID: {queue.reason}")
        name = record.spec.job_definition.partition(":")[0]
        definition = self.store.definitions.get((key[0], name))
        revisions = (
            definition.revision_list() if definition and definition.obj is not None else None
        )
        if definition is not None and definition.model is None and not revisions:
            return Unresolved(f"JobDefinition {name} is INVALID: {definition.reason}")
        found = resolve_revision(record.definition_ref(), revisions, record.revision is not None)
        if not isinstance(found, Revision):
            return found
        if record.resolved is not None and record.resolved.revision == found.number:
            return record.resolved
        basis = (
            key[0],
            name,
            found.number,
            found.active,
            record.spec.model_dump_json(
                include={
                    "parameters",
                    "container_overrides",
                    "retry_strategy",
                    "timeout",
                    "scheduling_priority_override",
                    "tags",
                    "propagate_tags",
                }
            ),
        )
        cached = self.resolved_cache.get(basis)
        if cached is None:
            cached = self.resolved_cache[basis] = resolve_job(record.spec, found)
        return cached

    # -- the work of a step ----------------------------------------------------------------

    def evaluate(self, dirty: Iterable[JobKey], now: datetime) -> Changes:
        """Evaluate jobs that may move (their inputs changed)."""
        changes = Changes()
        for key in sorted(dirty):
            record = self.store.record(key)
            if record is None or record.terminal:
                continue
            before = _progress(record)
            view = self.views.get(key[0])
            if view is None:
                view = self.views[key[0]] = NamespaceView(self.store, key[0])
            actions = record.evaluate(now, view, self.resolution(key, record))
            if actions or _progress(record) != before:
                changes.add(key, actions)
            else:
                changes.touched.add(key)  # its blocker or reason may read differently now
        return changes

    def reconcile_missing(self, seen_pods: set[str], now: datetime, lost: bool = False) -> Changes:
        """After a restart, the attempts in flight whose pods were not found (see
        Interventions.reconcile_missing)."""
        changes = Changes()
        for key in sorted(self.store.in_flight):
            record = self.store.record(key)
            if record is not None:
                changes.add(key, record.reconcile_missing(seen_pods, now, lost))
        return changes

    def pods_placed_in(self, environments: set[str]) -> set[str]:
        """The pods of the attempts in flight placed in these environments."""
        names: set[str] = set()
        for key in self.store.in_flight if environments else ():
            record = self.store.record(key)
            for child in record.children if record is not None else ():
                attempt = child.current
                if attempt is not None and attempt.compute_environment in environments:
                    names.add(attempt.pod_name)
        return names

    def resume(self, now: datetime, with_pods: set[JobKey]) -> Changes:
        """After a restart, before pods are adopted: give every job in flight, and every job
        a pod was found for (its status may never have been written), its resolved
        definition (retry strategy, timeout), so that attempts that ended while the operator
        was away are judged as they would have been. The other jobs are resolved when they
        are evaluated, the earliest submitted first, a step's budget at a time: the head of
        every queue is dispatched after the first step, not after the whole backlog."""
        changes = Changes()
        for key in sorted(self.store.in_flight | with_pods):
            record = self.store.record(key)
            if record is None or record.terminal:
                continue
            found = self.resolution(key, record)
            if isinstance(found, ResolvedJob):
                record.restore_resolution(found)
                changes.touched.add(key)
        return changes

    def observe(
        self, observations: Iterable[tuple[JobKey, PodObservation]], now: datetime, adopt: bool
    ) -> tuple[Changes, list[tuple[str, float]]]:
        """Pod observations; also returns (queue, seconds) for attempts that ended."""
        changes = Changes()
        runs: list[tuple[str, float]] = []
        if adopt:  # older attempts first: a later attempt's pod means the earlier one ended
            observations = sorted(observations, key=_attempt_order)
        for key, obs in observations:
            record = self.store.record(key)
            if record is None:
                continue
            try:
                attempt = record.child(obs.index).current
                actions = record.adopt(obs, now) if adopt else record.observe(obs, now)
            except KeyError:
                continue  # a pod with an index the job does not have: not ours to judge
            if attempt is not None and attempt.stopped_at and attempt.started_at:
                seconds = (attempt.stopped_at - attempt.started_at).total_seconds()
                runs.append((record.spec.job_queue, seconds))
            changes.add(key, actions)
        return changes, runs

    def watch_deadline(self, key: JobKey, record: JobRecord) -> None:
        deadline = record.next_deadline()
        if deadline is not None:
            heapq.heappush(self.deadlines, (deadline, key))

    def timeouts(self, now: datetime) -> Changes:
        changes = Changes()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, key = heapq.heappop(self.deadlines)
            record = self.store.record(key)
            if record is not None:
                actions = record.check_timeouts(now)
                if actions:
                    changes.add(key, actions)
        return changes

    def next_deadline(self) -> datetime | None:
        return self.deadlines[0][0] if self.deadlines else None

    def forget(self, key: JobKey) -> None:
        self.cycles.pop(key, None)


def _attempt_order(found: tuple[JobKey, PodObservation]) -> tuple[JobKey, int, int]:
    key, obs = found
    return key, -1 if obs.index is None else obs.index, obs.attempt


def _progress(record: JobRecord) -> tuple[Any, ...]:
    return (
        record.status,
        record.counts[JobStatus.SUCCEEDED],
        record.counts[JobStatus.FAILED],
        record.counts[JobStatus.RUNNABLE],
    )


def _intake_refusal(key: JobKey, record: JobRecord, spec: Any, deleting: bool) -> Refused | None:
    """What a queue refuses at submission (AWS: SubmitJob fails)."""
    queue = record.spec.job_queue
    if deleting:
        return Refused(f"JobQueue {queue} is being deleted and accepts no new jobs")
    if spec.state == State.DISABLED:
        return Refused(f"JobQueue {queue} is DISABLED and accepts no new jobs")
    if spec.allowed_namespaces is not None and key[0] not in spec.allowed_namespaces:
        return Refused(f"JobQueue {queue} does not accept jobs from namespace {key[0]}")
    share = record.spec.share_identifier
    if spec.scheduling_policy and not share:
        return Refused(
            f"shareIdentifier is required: JobQueue {queue} has the scheduling policy "
            f"{spec.scheduling_policy}"
        )
    if not spec.scheduling_policy and share:
        return Refused(
            f"shareIdentifier is only for queues with a scheduling policy; JobQueue {queue} "
            "has none"
        )
    return None
