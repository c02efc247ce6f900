"""The engine: Kubatch's whole decision making, as one pure object.

The controller feeds it API objects as they arrive (`upsert_*`, `delete_*`, `observe_pod`)
and the outcomes of the effects it carried out (`report`), and calls `step(now)`, which runs
the phases in order and returns the effects to carry out next:

1. intake of what was observed: pod observations, write outcomes (inbox), expired intents;
2. jobs (core/phases/jobs.py): evaluate what changed, timeouts;
3. cron (core/phases/cron.py): ScheduledJobs whose run is due;
4. dispatch (core/phases/dispatch.py): RUNNABLE work to the scheduler, capacity to providers;
5. statuses: jobs and queues whose status changed, into the status book;
6. effects: pods wanted created or stopped (core/outbox/intents.py), statuses the server does not
   hold yet (core/outbox/statuses.py), events, other writes.

Every effect is recomputed from what the engine wants and what it last observed, so a write
that failed or was lost is sent again (with back-off) until the observation matches. No phase
calls back into the engine; the engine applies what phases return. No I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..api import API_VERSION, BATCHJOBS, COMPUTEENVIRONMENTS, JOBQUEUES
from ..api.common import JobStatus, Obj
from ..keys import LABEL_HOSTNAME, in_cluster
from .feed import Feed
from .jobs.attempt_pods import render_attempt
from .jobs.attempts import CreatePod, PodObservation, RecordEvent, ReleasePod, StopPod
from .jobs.persistence import job_status
from .jobs.pods import Pool, render_service
from .outbox.effects import (
    CreateObject,
    DeleteObject,
    Effect,
    KeepLog,
    Outcome,
    PatchObject,
    ResizePool,
    WriteStatus,
    event,
)
from .outbox.intents import PodIntents
from .outbox.logs import LogKeeper
from .outbox.statuses import StatusBook
from .outbox.telemetry import Telemetry
from .outbox.wanted import IntentTimes
from .phases.consumables import Consumables
from .phases.cron import Cron
from .phases.dispatch import Dispatcher
from .phases.finalizers import Finalizers
from .phases.jobs import Changes, JobsPhase
from .phases.registry import Registered, Registry
from .state.intake import (
    EnvironmentRules,
    job_uid_of,
    version,
)
from .state.objects import JobKey, PodState
from .state.store import Store

MAX_EVALUATION_ROUNDS = 50


@dataclass(kw_only=True)
class EngineConfig:
    default_provider: str = "simulated"
    providers: frozenset[str] = frozenset({"unmanaged", "simulated"})
    provider_tolerations: Mapping[str, tuple[Mapping[str, str], ...]] = field(default_factory=dict)
    provider_checks: Mapping[str, Callable[[Mapping[str, Any]], str | None]] = field(
        default_factory=dict
    )
    """Per provider, why its settings are unusable (None when they are fine)."""
    scale_in_after: timedelta = timedelta(minutes=5)
    gang_reservation: timedelta = timedelta(minutes=10)  # see Snapshot.gang_reservation
    intents: IntentTimes = field(default_factory=IntentTimes)
    kept_log_bytes: int = 256 * 1024
    """How much of an ended attempt's log is kept beyond its pod (0: none)."""
    evaluations_per_step: int = 5000  # jobs evaluated, statuses made, taken in by a pass
    origin: str = ""  # this cluster's identity on the pods it makes elsewhere (keys.LABEL_ORIGIN)


class Engine(Feed):
    """The phases run in order over the store; `Feed` (core/feed.py) takes in jobs,
    ScheduledJobs, nodes and pods."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.origin = self.config.origin
        self.store = Store()
        self.book = StatusBook()
        self.intents = PodIntents(self.config.intents)
        self.logs = LogKeeper(self.config.kept_log_bytes)
        self.jobs = JobsPhase(self.store)
        config = self.config
        self.dispatcher = Dispatcher(
            self.store,
            self.book,
            config.scale_in_after,
            gang_reservation=config.gang_reservation,
            taken_per_pass=config.evaluations_per_step,
        )
        self.cron = Cron(self.store, self.book)
        rules = EnvironmentRules(
            default_provider=config.default_provider,
            providers=config.providers,
            tolerations=config.provider_tolerations,
            checks=config.provider_checks,
        )
        self.registry = Registry(self.store, self.book, self.dispatcher, rules)
        self.finalizers = Finalizers(self.store)
        self.consumables = Consumables(self.store, self.book)
        self.dirty: set[JobKey] = set()
        """Jobs to evaluate: something they depend on changed."""
        self.services: set[JobKey] = set()  # multi-node jobs whose Service was asked for
        self.touched: set[JobKey] = set()
        """Jobs whose record changed: their status and indexes follow."""
        self.observations: list[tuple[JobKey, PodObservation]] = []
        self.inbox: list[Outcome] = []
        self.effects: list[Effect] = []
        self.dispatch_needed = True
        self.dispatched = False  # whether the last step ran a dispatch pass
        self.queue_counts_dirty = True
        self.started = False
        self.telemetry = Telemetry()

    # -- intake: the platform ----------------------------------------------------------------

    def _registered(self, found: Registered) -> None:
        self.dirty |= found.jobs
        self.effects += found.effects
        for obj, kind, reason, message in found.events:
            self._event(obj, kind, reason, message)
        self.dispatch_needed = True
        self.queue_counts_dirty = True

    def upsert_environment(self, obj: Obj, now: datetime) -> None:
        self._registered(self.registry.upsert_environment(obj, version(obj), now))

    def delete_environment(self, name: str, now: datetime) -> None:
        self.finalizers.forget(COMPUTEENVIRONMENTS, name)
        self._registered(self.registry.delete_environment(name, now))

    def upsert_queue(self, obj: Obj, now: datetime) -> None:
        self._registered(self.registry.upsert_queue(obj, version(obj), now))

    def delete_queue(self, name: str) -> None:
        self.finalizers.forget(JOBQUEUES, name)
        self._registered(self.registry.delete_queue(name))

    def upsert_policy(self, obj: Obj, now: datetime) -> None:
        self._registered(self.registry.upsert_policy(obj, version(obj), now))

    def delete_policy(self, name: str, now: datetime) -> None:
        self._registered(self.registry.delete_policy(name, now))

    def upsert_revision(self, obj: Obj) -> None:
        self._registered(self.registry.upsert_revision(obj))

    def upsert_definition(self, obj: Obj, now: datetime) -> None:
        self._registered(self.registry.upsert_definition(obj, version(obj), now))

    def delete_definition(self, namespace: str, name: str) -> None:
        self._registered(self.registry.delete_definition(namespace, name))

    # -- the step ------------------------------------------------------------------------------

    def start(self, now: datetime, unlisted: frozenset[str] = frozenset()) -> None:
        """After the initial listing, before any decision: resolve every job in flight (so
        attempts that ended while the operator was away are judged with their retry
        strategy), adopt the pods found, and put back to RUNNABLE the attempts whose pods
        were never created; but not those in `unlisted` worker clusters, whose pods could
        not be listed (see reconcile_cluster)."""
        with_pods = {p.job for p in self.store.pods.values() if p.job is not None}
        self._apply(self.jobs.resume(now, with_pods | {k for k, _ in self.observations}), now)
        seen = {k.split("/", 1)[1] for k, p in self.store.pods.items() if p.job is not None}
        seen |= {obs.pod_name for _, obs in self.observations}
        seen |= self.jobs.pods_placed_in(self._environments_in(unlisted))
        observations, self.observations = self.observations, []
        changes, runs = self.jobs.observe(observations, now, adopt=True)
        self.telemetry.runs += runs
        self._apply(changes, now)
        self._apply(self.jobs.reconcile_missing(seen, now), now)
        self.consumables.start()
        self.started = True

    def step(self, now: datetime, dispatch: bool = True) -> list[Effect]:
        """Everything that follows from what changed since the last step. `dispatch=False`
        leaves a needed dispatch pass for a later step (the caller paces them)."""
        self._read_inbox(now)
        for job, pod, obs in self.intents.expired(now):
            self._forget_assumed(pod, now)
            self.observations.append((job, obs))
        observations, self.observations = self.observations, []
        changes, runs = self.jobs.observe(observations, now, adopt=False)
        self.telemetry.runs += runs
        self._apply(changes, now)
        budget = self.config.evaluations_per_step
        for _ in range(MAX_EVALUATION_ROUNDS):
            dirty = self.store.oldest(self.dirty, budget)  # the rest in the next step
            if not dirty:
                break
            budget -= len(dirty)
            self._apply(self.jobs.evaluate(dirty, now), now)
        self._apply(self.jobs.timeouts(now), now)
        if self.started:
            work = self.cron.run(now)
            self.effects += work.effects
            for obj, kind, reason, message in work.events:
                self._event(obj, kind, reason, message)
        self.dispatched = False
        if self.dispatch_needed and self.started and dispatch:
            self.dispatch_needed = False
            self.dispatched = True
            self._dispatch(now)
        self._job_statuses()
        if self.queue_counts_dirty:
            self.queue_counts_dirty = False
            self.telemetry.queue_counts = self.registry.queue_counts(now)
        self.effects += self.finalizers.effects(now, self.registry.last_counts)
        effects, self.effects = self.effects, []
        due = [*self.intents.due(now), *self.logs.due(now), *self.book.due(now)]
        return effects + due

    def _dispatch(self, now: datetime) -> None:
        result = self.dispatcher.run(now, self.consumables.snapshot())
        self.dispatch_needed |= self.dispatcher.behind  # jobs the pass did not take in yet
        self.telemetry.waits += result.waits
        self._apply(result.changes, now)
        self.consumables.publish()
        self.dispatcher.settled(result.relabeled)
        if result.tails_changed:
            self.queue_counts_dirty = True  # the queues' status.waitingReason
        self.effects += result.resizes
        self.telemetry.environments = dict(self.dispatcher.environments)

    def _read_inbox(self, now: datetime) -> None:
        inbox, self.inbox = self.inbox, []
        for outcome in inbox:
            effect = outcome.effect
            if isinstance(effect, CreateObject) and effect.intent is not None:
                refused = self.intents.create_outcome(effect.intent, outcome.failure, now)
                if refused is not None:
                    self._forget_assumed(effect.intent, now)
                    job = self._job_of_pod(effect.body)
                    if job is not None:
                        self.observations.append((job, refused))
            elif isinstance(effect, DeleteObject | PatchObject) and effect.intent is not None:
                gone = self.intents.write_outcome(effect.intent, effect, outcome.failure, now)
                if gone is not None:
                    self.observations.append(gone)
            elif isinstance(effect, WriteStatus):
                self.book.outcome(effect, outcome.failure, outcome.version, now)
            elif isinstance(effect, KeepLog):
                self.logs.outcome(effect, outcome.failure, now)
            elif isinstance(effect, ResizePool) and outcome.resized is not None:
                environment = effect.request.environment
                if self.dispatcher.resized(environment, outcome.resized, now):
                    self.dispatch_needed = True

    def _job_of_pod(self, body: Obj) -> JobKey | None:
        uid = job_uid_of(body)
        return self.store.uids.get(uid) if uid else None

    # -- applying what phases decided ----------------------------------------------------------

    def _apply(self, changes: Changes, now: datetime) -> None:
        for key, action in changes.actions:
            state = self.store.jobs.get(key)
            if state is None:
                continue
            if isinstance(action, RecordEvent):
                self._event(state.obj, action.type, action.reason, action.message)
            elif isinstance(action, StopPod):
                pod = self.pod_key(key[0], action.pod_name)
                ours = None if action.attempt is None else (key, action.index, action.attempt)
                self.intents.want_stopped(pod, action.grace_seconds, action.reason, ours, now)
                self._forget_assumed(pod, now)
            elif isinstance(action, CreatePod):
                self._want_pod(key, action, now)
            elif isinstance(action, ReleasePod):
                self.intents.want_released(self.pod_key(key[0], action.pod_name), now)
        for key in changes.touched:
            self._touched(key)

    def _want_pod(self, key: JobKey, action: CreatePod, now: datetime) -> None:
        state = self.store.jobs[key]
        record = state.record
        assert record is not None
        assert record.resolved is not None
        self.telemetry.attempts[record.spec.job_queue] += 1
        env = self.store.envs.get(action.compute_environment)
        node = self.store.nodes.get(action.node) if action.node else None
        body = render_attempt(
            record,
            record.resolved,
            action,
            state.annotations,
            Pool(action.compute_environment, env.selector, env.tolerations) if env else None,
            node.labels.get(LABEL_HOSTNAME, node.name) if node else action.node,
        )
        namespace = in_cluster(env.cluster if env else "", key[0])  # a worker cluster's?
        body["metadata"]["namespace"] = namespace
        pod = f"{namespace}/{action.pod_name}"
        self.intents.want_pod(pod, key, action.index, action.attempt, body, action.node, now)
        resources = record.resolved.for_node(action.index).resources
        if record.multinode and action.index == record.main_node and key not in self.services:
            self.services.add(key)  # its nodes' names (asked again, and refused, after a restart)
            service = render_service(namespace, key[1], record.uid)
            self.effects.append(
                CreateObject(api_version="v1", plural="services", namespace=namespace, body=service)
            )
        if action.node is not None and pod not in self.store.pods:
            assumed = PodState(
                key=pod,
                node=action.node,
                requests=resources,
                active=True,
                job=key,
                keeps_node=True,
                assumed=True,
            )
            self.store.put_pod(assumed, now)

    def _forget_assumed(self, pod: str, now: datetime) -> None:
        """An assumed placement whose pod will not come: its capacity is free at once."""
        found = self.store.pods.get(pod)
        if found is not None and found.assumed:
            self.store.remove_pod(pod, now)
            self.dispatch_needed = True

    def _touched(self, key: JobKey) -> None:
        state = self.store.jobs.get(key)
        record = state.record if state else None
        if state is None or record is None:
            return
        self.touched.add(key)
        self.store.track_job(key)
        self.consumables.touched(key, record)
        self.dispatcher.forget(key)
        self.jobs.watch_deadline(key, record)
        if record.counts[JobStatus.RUNNABLE] or record.terminal:
            self.dispatch_needed = True
        if record.terminal and not state.finished:
            state.finished = True
            self.telemetry.finished[(record.spec.job_queue, record.status.value)] += 1
        self.dirty |= self.store.dependents.get(key, set())
        self.queue_counts_dirty = True

    def _job_statuses(self) -> None:
        touched = self.store.oldest(self.touched, self.config.evaluations_per_step)
        for key in sorted(touched):
            state = self.store.jobs.get(key)
            if state is None or state.record is None:
                continue
            status = job_status(state.record, state.generation).wire()
            self.book.want(BATCHJOBS, state.obj, status)

    def _event(
        self, obj: Obj, kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        self.effects.append(event(obj, kind, reason, message, API_VERSION))

    # -- for the controller and the tests ------------------------------------------------------

    def request_dispatch(self) -> None:
        """Run a scheduling pass at the next step that may (scale-in cool-downs, lost
        updates: the controller asks for one now and then)."""
        self.dispatch_needed = True

    def take_telemetry(self) -> Telemetry:
        """What happened since the last call (queue counts and environments stay current)."""
        taken = self.telemetry
        self.telemetry = Telemetry(
            queue_counts=taken.queue_counts, environments=dict(taken.environments)
        )
        return taken

    def next_wake(self) -> datetime | None:
        jobs, cron, intents = self.jobs.next_deadline(), self.cron.next_wake(), self.intents
        if self.dirty or self.touched:  # jobs left for the next step: at once
            return datetime.min.replace(tzinfo=UTC)
        times = (jobs, cron, intents.next_wake(), self.book.next_retry(), self.logs.next_wake())
        return min((t for t in times if t is not None), default=None)

    def last_status(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """The status last wanted for an object."""
        found = self.book.current(plural, namespace, name)
        return dict(found) if found is not None else None

    def check(self) -> list[str]:
        """The store's invariants, and the engine's own: every assumed pod is wanted."""
        problems = self.store.check() + self.dispatcher.check()
        for key, pod in self.store.pods.items():
            if pod.assumed and key not in self.intents.creates:
                problems.append(f"pod {key}: assumed but no longer wanted")
        return problems
