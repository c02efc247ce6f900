"""The engine's intake of jobs, ScheduledJobs, nodes and pods: what each watch event changes in
the store, and which jobs it gives the next step to evaluate. `Engine` derives from `Feed` and
defines what is declared here; the platform's kinds go through `phases/registry.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..api import (
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    CONSUMABLERESOURCES,
    JOBDEFINITIONS,
    JOBQUEUES,
    SCHEDULEDJOBS,
    SCHEDULINGPOLICIES,
)
from ..api.common import JobStatus, Obj
from ..api.times import parse_time
from ..keys import LABEL_HOSTNAME, LABEL_ORIGIN, LABEL_SCHEDULED, in_cluster, split_cluster
from .jobs.attempts import PodObservation
from .jobs.observe import observe_pod
from .outbox.effects import Outcome
from .outbox.intents import PodIntents
from .outbox.logs import LogKeeper
from .outbox.statuses import StatusBook
from .outbox.telemetry import Telemetry
from .phases.consumables import Consumables
from .phases.dispatch import Dispatcher
from .phases.jobs import Changes, JobsPhase
from .phases.registry import Registered, Registry
from .state.intake import (
    is_stale,
    job_uid_of,
    read_job,
    read_job_spec,
    read_node,
    read_pod,
    read_schedule,
    slim,
    tombstone,
    unscheduled_message,
    version,
)
from .state.objects import CronState, JobKey
from .state.store import Store


def listing_key(key: str | JobKey) -> str:
    """An object's key as a listing names it: "namespace/name", or the name of a cluster-scoped
    object (a pod's key is that already)."""
    return key if isinstance(key, str) else "/".join(key)


def listed_key(obj: Mapping[str, Any]) -> str:
    """The key of a listed object, as `listing_key` spells the engine's."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return listing_key((namespace, meta["name"]) if namespace else meta["name"])


class Feed:
    origin: str
    """This cluster's identity on the pods it makes in worker clusters (keys.LABEL_ORIGIN)."""
    store: Store
    book: StatusBook
    intents: PodIntents
    logs: LogKeeper
    jobs: JobsPhase
    dispatcher: Dispatcher
    registry: Registry
    consumables: Consumables
    telemetry: Telemetry
    dirty: set[JobKey]
    services: set[JobKey]
    observations: list[tuple[JobKey, PodObservation]]
    inbox: list[Outcome]
    dispatch_needed: bool
    queue_counts_dirty: bool

    if TYPE_CHECKING:

        def _apply(self, changes: Changes, now: datetime) -> None: ...
        def _registered(self, found: Registered) -> None: ...
        def _forget_assumed(self, pod: str, now: datetime) -> None: ...
        def _event(
            self, obj: Obj, kind: Literal["Normal", "Warning"], reason: str, message: str
        ) -> None: ...
        def delete_environment(self, name: str, now: datetime) -> None: ...
        def delete_queue(self, name: str) -> None: ...
        def delete_policy(self, name: str, now: datetime) -> None: ...
        def delete_definition(self, namespace: str, name: str) -> None: ...

    # -- intake: jobs --------------------------------------------------------------------------

    def upsert_job(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.store.jobs.get(key)
        if old is not None and old.obj["metadata"].get("uid") != meta.get("uid"):
            self.delete_job(*key, now)
            old = None
        if old is not None:
            if is_stale(obj, old.obj):
                return
            self.book.observed(BATCHJOBS, obj, version(obj))
            old.obj = slim(obj)
            generation = int(meta.get("generation") or 0)
            if generation == old.generation or old.record is None:
                return
            old.generation = generation
            model = read_job_spec(obj)
            if model is None:
                return  # only cancel and terminate change a job; anything else is ignored
            changes = Changes()
            changes.add(key, old.record.update_spec(model.spec, now))
            self._apply(changes, now)
            self.dirty.add(key)
            return
        state, model, invalid = read_job(obj, now)
        self.book.observed(BATCHJOBS, obj, version(obj))
        self.store.put_job(key, state, (meta.get("labels") or {}).get(LABEL_SCHEDULED))
        if invalid is not None:
            status = {
                "status": JobStatus.FAILED,
                "statusReason": invalid,
                "observedGeneration": meta.get("generation"),
            }
            self.book.want(BATCHJOBS, state.obj, status)
            self._event(state.obj, "Warning", "Invalid", invalid)
            return
        record = state.record
        assert record is not None
        if model is not None and model.status.status is None:
            self.telemetry.submitted[record.spec.job_queue] += 1
        if record.spec.depends_on:
            self.dirty |= self.jobs.find_cycles(key[0])
        self.dirty.add(key)
        self.dirty |= self.store.dependents.get(key, set())
        self.queue_counts_dirty = True

    def delete_job(self, namespace: str, name: str, now: datetime) -> None:
        key = (namespace, name)
        state = self.store.jobs.get(key)
        cron = (state.obj["metadata"].get("labels") or {}).get(LABEL_SCHEDULED) if state else None
        if self.store.remove_job(key, cron) is None:
            return
        self.jobs.forget(key)
        self.consumables.forget(key)
        self.services.discard(key)
        self.dispatcher.forget(key)
        self.book.forget(BATCHJOBS, namespace, name)
        for pod, wanted in list(self.intents.creates.items()):
            if wanted.job == key:
                self.intents.forget(pod)
                self._forget_assumed(pod, now)
        for pod in [p.key for p in self.store.pods.values() if p.job == key]:
            if split_cluster(pod)[0]:  # no owner reference there to collect it
                self.intents.want_stopped(pod, 0, "its job was deleted", None, now)
        self.dirty |= self.store.dependents.get(key, set())
        self.queue_counts_dirty = True
        self.dispatch_needed = True

    # -- intake: ScheduledJobs -----------------------------------------------------------------

    def upsert_cron(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.store.crons.get(key)
        if is_stale(obj, old.obj if old else None):
            return
        self.book.observed(SCHEDULEDJOBS, obj, version(obj))
        found = read_schedule(obj)
        model, reason = (None, found) if isinstance(found, str) else (found, None)
        last = old.last if old is not None else None
        if last is None and model is not None:
            last = model.status.last_schedule_time
        created = parse_time(meta.get("creationTimestamp")) or now
        state = CronState(obj=obj, model=model, reason=reason, last=last, created=created)
        if old is not None:
            state.warned, state.deleting = old.warned, old.deleting
        self.store.put_cron(key, state)
        if reason:
            self._event(obj, "Warning", "Invalid", reason)

    def delete_cron(self, namespace: str, name: str) -> None:
        self.store.remove_cron((namespace, name))
        self.book.forget(SCHEDULEDJOBS, namespace, name)

    # -- intake: consumable resources ----------------------------------------------------------

    def upsert_consumable(self, obj: Obj) -> None:
        self.consumables.upsert(obj, version(obj))
        self.dispatch_needed = True

    def delete_consumable(self, name: str) -> None:
        self.consumables.delete(name)
        self.dispatch_needed = True

    # -- intake: nodes and pods ----------------------------------------------------------------

    def upsert_node(self, obj: Obj, now: datetime) -> None:
        self.store.put_node(read_node(obj), now)
        self.dispatch_needed = True

    def delete_node(self, name: str) -> None:
        self.store.remove_node(name)
        self.dispatch_needed = True

    def observe_pod(self, pod: Obj, now: datetime, deleted: bool = False) -> None:
        """Any pod: Kubatch's attempts move their jobs; every pod holds capacity on the node
        it runs on (or, for Kubatch's, the node it is pinned to)."""
        meta = pod["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        uid = job_uid_of(pod)
        job = self.store.uids.get(uid) if uid else None
        state = read_pod(pod, job, gone=deleted)
        spec = pod.get("spec") or {}
        bound = state.node is not None
        if state.node is None and job is not None:
            pinned = (spec.get("nodeSelector") or {}).get(LABEL_HOSTNAME)
            state.node = self.store.hostnames.get(pinned or "")
        if state.active and state.node is not None:
            self.store.put_pod(state, now)
        else:
            self.store.remove_pod(key, now)
        self.dispatch_needed = True
        finished = not state.active
        if job is None:
            self.intents.observed(key, finished, None, bound, False, None, None, now)
            if not deleted and self._orphan(key, meta):
                self.intents.want_stopped(key, 0, "its job no longer exists", None, now)
            return
        obs = observe_pod(pod, gone=deleted)
        if obs is None:
            return
        self.observations.append((job, obs))
        if not deleted:
            self.logs.ended(pod, now)
        self.intents.observed(
            key,
            finished,
            (job, obs.index, obs.attempt),
            bound,
            obs.gated,
            parse_time(meta.get("creationTimestamp")),
            unscheduled_message(pod),
            now,
        )

    def _orphan(self, key: str, meta: Obj) -> bool:
        """A pod this operator made in a worker cluster (its origin label says so) for a job
        it does not know: the job was deleted while no operator watched (with the operator
        running, deleting a job deletes its pods there). Jobs are listed before any worker
        cluster's pods, and a job is known before its pods are made. No owner there collects
        it (see keys.LABEL_ORIGIN)."""
        labels = meta.get("labels") or {}
        origin = self.origin
        return bool(origin and split_cluster(key)[0] and labels.get(LABEL_ORIGIN) == origin)

    def cluster_health(self, cluster: str, problem: str | None, now: datetime) -> None:
        """A worker cluster answers again (None) or does not (why)."""
        self._registered(self.registry.cluster_health(cluster, problem, now))

    def _environments_in(self, clusters: frozenset[str]) -> set[str]:
        return {n for n, e in self.store.envs.items() if e.cluster and e.cluster in clusters}

    def reconcile_cluster(self, cluster: str, now: datetime, lost: bool = False) -> None:
        """A worker cluster that could not be listed at start has been: its attempts whose
        pods it lacks are judged now, as the others were at start (Engine.start). `lost`: it
        was judged lost before it could be: all its attempts end as lost hosts'."""
        others = {n for n, e in self.store.envs.items() if e.cluster != cluster}
        seen = {key.split("/", 1)[1] for key in [*self.store.pods, *self.intents.creates]}
        seen |= self.jobs.pods_placed_in(others)
        self._apply(self.jobs.reconcile_missing(seen, now, lost), now)
        self.dispatch_needed = True

    def pod_key(self, namespace: str, pod_name: str) -> str:
        """The key of an attempt's pod: in the operator's cluster, or in the worker cluster it
        was created in (seen there, or wanted there)."""
        local = f"{namespace}/{pod_name}"
        if local in self.store.pods or local in self.intents.creates:
            return local
        for cluster in {e.cluster for e in self.store.envs.values() if e.cluster}:
            key = f"{in_cluster(cluster, namespace)}/{pod_name}"
            if key in self.store.pods or key in self.intents.creates or key in self.intents.stops:
                return key
        return local

    def observe_kept_log(self, configmap: Obj, deleted: bool = False) -> None:
        """A ConfigMap that keeps an ended attempt's log (core/outbox/logs.py)."""
        self.logs.seen(configmap, present=not deleted)

    def unlisted(self, plural: str, listed: set[str], now: datetime, cluster: str = "") -> None:
        """A new list of `plural` (after its watch was lost) names what exists, by
        `listing_key`: what the engine holds and the list lacks was deleted while nobody
        watched, and is deleted now as its event would have been. A pod only assumed may yet
        come; a deleted revision changes nothing (its definition keeps the history it had).
        Nodes and pods are listed per cluster: `cluster` names the one listed ("" the
        operator's own; names inside it are `<cluster>:<name>`, see keys.in_cluster)."""
        if plural == "configmaps":
            self.logs.unlisted(listed)
            return
        if plural == "pods":
            for key, pod in list(self.store.pods.items()):
                if key in listed or pod.assumed or split_cluster(key)[0] != cluster:
                    continue
                self.observe_pod(tombstone(pod), now, deleted=True)
            return
        if plural == "nodes":
            for name in [n for n in self.store.nodes if split_cluster(n)[0] == cluster]:
                if name not in listed:
                    self.delete_node(name)
            return
        store = self.store
        held: dict[str, tuple[Iterable[str | JobKey], Callable[[Any], None]]] = {
            BATCHJOBS: (store.jobs, lambda job: self.delete_job(job[0], job[1], now)),
            SCHEDULEDJOBS: (store.crons, lambda cron: self.delete_cron(cron[0], cron[1])),
            JOBDEFINITIONS: (store.definitions, lambda d: self.delete_definition(d[0], d[1])),
            COMPUTEENVIRONMENTS: (store.envs, lambda name: self.delete_environment(name, now)),
            JOBQUEUES: (store.queues, lambda name: self.delete_queue(name)),
            SCHEDULINGPOLICIES: (store.policies, lambda name: self.delete_policy(name, now)),
            CONSUMABLERESOURCES: (store.consumables, lambda name: self.delete_consumable(name)),
        }
        if plural not in held:
            return
        keys, delete = held[plural]
        for gone in [k for k in keys if listing_key(k) not in listed]:
            delete(gone)

    def report(self, outcome: Outcome) -> None:
        """The writer's report of one effect: read at the next step."""
        self.inbox.append(outcome)
