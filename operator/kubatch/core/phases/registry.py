"""The platform's objects: compute environments, job queues, scheduling policies and job
definitions (with their revisions). Intake validates them into the store and says which jobs
their change may move; their statuses are written from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ...api import API_VERSION, COMPUTEENVIRONMENTS, JOBDEFINITIONS, JOBQUEUES, SCHEDULINGPOLICIES
from ...api.common import JobStatus, Obj
from ...keys import ANNOTATION_REVISION_HASH, LABEL_DEFINITION, LABEL_MANAGED_BY, MANAGED_BY
from ..jobs.definitions import revision_hash
from ..outbox.effects import CreateObject, Effect, event_reference
from ..outbox.statuses import StatusBook, queue_counts, timestamp, validity
from ..state.intake import (
    EnvironmentRules,
    is_stale,
    read_definition,
    read_environment,
    read_policy,
    read_queue,
    read_revision,
)
from ..state.objects import DefinitionState, EnvState, JobKey, QueueState
from ..state.store import Store
from .dispatch import Dispatcher
from .finalizers import deleting_status, is_deleting, queue_holds


@dataclass
class Registered:
    """What an intake call changed beyond the object itself."""

    jobs: set[JobKey] = field(default_factory=set)
    """Jobs to evaluate again."""
    effects: list[Effect] = field(default_factory=list)
    events: list[tuple[Obj, Literal["Normal", "Warning"], str, str]] = field(default_factory=list)


class Registry:
    def __init__(
        self, store: Store, book: StatusBook, dispatcher: Dispatcher, rules: EnvironmentRules
    ) -> None:
        self.store = store
        self.book = book
        self.dispatcher = dispatcher
        self.rules = rules
        self.last_counts: dict[str, Counter[JobStatus]] = {}
        """Jobs per queue and state, as last counted."""
        self.unreachable: dict[str, str] = {}
        """Worker clusters that do not answer, and why: their environments are INVALID."""

    # -- compute environments --------------------------------------------------------------

    def upsert_environment(self, obj: Obj, version: int, now: datetime) -> Registered:
        name = obj["metadata"]["name"]
        old = self.store.envs.get(name)
        if is_stale(obj, old.obj if old else None):
            return Registered()
        self.book.observed(COMPUTEENVIRONMENTS, obj, version)
        state = read_environment(obj, self.rules)
        if old is not None:
            state.unavailable = old.unavailable
        self._check_cluster(state)
        self.store.put_environment(name, state)
        found = self._revalidate_queues(now)
        self.dispatcher.environment_status(state, now, None)
        return found

    def _check_cluster(self, state: EnvState) -> None:
        """An environment in a worker cluster that does not answer, or that names its
        cluster with another environment's name for a different kubeconfig, is INVALID."""
        if not state.valid or not state.cluster or state.model is None:
            return
        ref = state.model.spec.cluster
        for name, other in self.store.envs.items():
            theirs = other.model.spec.cluster if other.model is not None else None
            mine = name == state.model.name
            if theirs is not None and not mine and theirs.name == state.cluster and ref != theirs:
                state.valid = False
                state.reason = (
                    f"cluster.kubeconfigSecret: cluster {state.cluster!r} is named by "
                    f"ComputeEnvironment {name} with another kubeconfigSecret"
                )
                return
        problem = self.unreachable.get(state.cluster)
        if problem is not None:
            state.valid = False
            state.reason = f"cluster {state.cluster}: {problem}"

    def cluster_health(self, cluster: str, problem: str | None, now: datetime) -> Registered:
        """Whether a worker cluster answers (None) or not (why): its environments are
        INVALID while it does not, and VALID again as soon as it answers."""
        if self.unreachable.get(cluster) == problem:
            return Registered()
        if problem is None:
            self.unreachable.pop(cluster, None)
        else:
            self.unreachable[cluster] = problem
        for name, env in list(self.store.envs.items()):
            if env.cluster != cluster:
                continue
            state = read_environment(env.obj, self.rules)
            state.unavailable = env.unavailable
            self._check_cluster(state)
            self.store.put_environment(name, state)
            self.dispatcher.environment_status(state, now, None)
        return self._revalidate_queues(now)

    def delete_environment(self, name: str, now: datetime) -> Registered:
        self.store.remove_environment(name)
        self.dispatcher.forget_environment(name)
        self.book.forget(COMPUTEENVIRONMENTS, None, name)
        return self._revalidate_queues(now)

    # -- queues and policies ---------------------------------------------------------------

    def upsert_queue(self, obj: Obj, version: int, now: datetime) -> Registered:
        name = obj["metadata"]["name"]
        old = self.store.queues.get(name)
        if is_stale(obj, old.obj if old else None):
            return Registered()
        self.book.observed(JOBQUEUES, obj, version)
        state = read_queue(obj)
        self.store.put_queue(name, state)
        self.dispatcher.restore_usage(name, obj.get("status") or {})
        self._check_queue(state)
        self.queue_status(state, now)
        return Registered(set(self.store.jobs_of_queue(name)))

    def delete_queue(self, name: str) -> Registered:
        self.store.remove_queue(name)
        self.book.forget(JOBQUEUES, None, name)
        return Registered(set(self.store.jobs_of_queue(name)))

    def upsert_policy(self, obj: Obj, version: int, now: datetime) -> Registered:
        name = obj["metadata"]["name"]
        self.book.observed(SCHEDULINGPOLICIES, obj, version)
        found = read_policy(obj)
        if isinstance(found, str):
            self.store.remove_policy(name)
            valid, reason = False, found
        else:
            self.store.put_policy(name, found)
            valid, reason = True, None
        status = validity(obj, SCHEDULINGPOLICIES, valid, reason, now, self.book)
        self.book.want(SCHEDULINGPOLICIES, obj, status)
        return self._revalidate_queues(now)

    def delete_policy(self, name: str, now: datetime) -> Registered:
        self.store.remove_policy(name)
        self.book.forget(SCHEDULINGPOLICIES, None, name)
        return self._revalidate_queues(now)

    def _check_queue(self, state: QueueState) -> None:
        if state.model is None:
            return
        spec = state.model.spec
        missing = [
            o.compute_environment
            for o in spec.compute_environment_order
            if o.compute_environment not in self.store.envs
        ]
        if missing:
            state.valid = False
            state.reason = "ComputeEnvironment " + ", ".join(missing) + " does not exist"
        elif spec.scheduling_policy and spec.scheduling_policy not in self.store.policies:
            state.valid = False
            state.reason = f"SchedulingPolicy {spec.scheduling_policy} does not exist"
        else:
            state.valid, state.reason = True, None

    def _revalidate_queues(self, now: datetime) -> Registered:
        found = Registered()
        for name, state in self.store.queues.items():
            before = (state.valid, state.reason)
            self._check_queue(state)
            if (state.valid, state.reason) != before:
                self.queue_status(state, now)
                found.jobs |= set(self.store.jobs_of_queue(name))
        return found

    def queue_status(
        self,
        state: QueueState,
        now: datetime,
        counts: Counter[JobStatus] | None = None,
        oldest: datetime | None = None,
        running: int = 0,
    ) -> None:
        status: Obj = {
            **validity(state.obj, JOBQUEUES, state.valid, state.reason, now, self.book),
            "jobCounts": queue_counts(counts),
            "runningvCpus": round(running / 1000, 3),
        }
        if oldest is not None:
            status["oldestRunnableTime"] = timestamp(oldest)
        name = state.obj["metadata"]["name"]
        waiting = self.dispatcher.waiting_reason(name)
        if waiting is not None:
            status["waitingReason"] = waiting
        policy_name = state.model.spec.scheduling_policy if state.model else None
        policy = self.store.policies.get(policy_name or "")
        if policy is not None:
            status["shares"] = self.dispatcher.shares(name, policy)
        if is_deleting(state.obj):
            status = deleting_status(status, queue_holds(name, self.last_counts))
        self.book.want(JOBQUEUES, state.obj, status)

    def queue_counts(self, now: datetime) -> dict[str, Counter[JobStatus]]:
        """Every queue's job counts (children one by one) and oldest RUNNABLE work, as the
        store keeps them (updated job by job as jobs change)."""
        counts = {queue: Counter(found) for queue, found in self.store.counts.items()}
        self.last_counts = counts
        running = self._running()
        for name, state in self.store.queues.items():
            oldest = self.store.oldest_runnable(name)
            found = counts.get(name, Counter())
            self.queue_status(state, now, found, oldest, running.get(name, 0))
        return counts

    def _running(self) -> Counter[str]:
        """Per queue, the CPU (millicpu) its STARTING and RUNNING work holds."""
        running: Counter[str] = Counter()
        for key in self.store.in_flight:
            record = self.store.record(key)
            if record is None or record.resolved is None:
                continue
            resolved = record.resolved
            if record.multinode:
                held = resolved.gang_total.millicpu
            else:
                busy = record.counts[JobStatus.STARTING] + record.counts[JobStatus.RUNNING]
                held = resolved.resources.millicpu * busy
            running[record.spec.job_queue] += held
        return running

    # -- definitions -----------------------------------------------------------------------

    def upsert_revision(self, obj: Obj) -> Registered:
        found = read_revision(obj)
        if found is None:
            return Registered()
        name, number, digest, spec = found
        key = (obj["metadata"]["namespace"], name)
        state = self.store.definition(key)
        state.revisions[number] = (digest, spec)
        return Registered(self._waiting_on(key))

    def upsert_definition(self, obj: Obj, version: int, now: datetime) -> Registered:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        state = self.store.definition(key)
        if is_stale(obj, state.obj):
            return Registered()
        self.book.observed(JOBDEFINITIONS, obj, version)
        if state.obj is not None and state.obj["metadata"].get("uid") != meta.get("uid"):
            state.revisions.clear()  # deleted and created again: a new history
        state.obj = obj
        found = read_definition(obj)
        state.model, state.reason = (None, found) if isinstance(found, str) else (found, None)
        result = Registered(self._waiting_on(key))
        if state.model is not None:
            digest = revision_hash(state.model.spec)
            if digest not in {h for h, _ in state.revisions.values()}:
                number = max(state.revisions, default=0) + 1
                state.revisions[number] = (digest, state.model.spec)
                result.effects.append(self._revision(obj, key, number, digest, state))
        self._definition_status(state, now, result)
        return result

    def delete_definition(self, namespace: str, name: str) -> Registered:
        self.store.remove_definition((namespace, name))
        self.book.forget(JOBDEFINITIONS, namespace, name)
        return Registered()

    def _waiting_on(self, key: JobKey) -> set[JobKey]:
        """Jobs not yet evaluated that name this definition."""
        return {
            job_key
            for job_key, job in self.store.jobs.items()
            if job_key[0] == key[0]
            and job.record is not None
            and not job.record.evaluated
            and job.record.spec.job_definition.partition(":")[0] == key[1]
        }

    def _revision(
        self, obj: Obj, key: JobKey, number: int, digest: str, state: DefinitionState
    ) -> CreateObject:
        assert state.model is not None
        owner = {**event_reference(obj, API_VERSION), "controller": True}
        owner.pop("namespace", None)
        return CreateObject(
            api_version="apps/v1",
            plural="controllerrevisions",
            namespace=key[0],
            body={
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": f"{key[1]}-{number}",
                    "namespace": key[0],
                    "labels": {LABEL_DEFINITION: key[1], LABEL_MANAGED_BY: MANAGED_BY},
                    "annotations": {ANNOTATION_REVISION_HASH: digest},
                    "ownerReferences": [owner],
                },
                "revision": number,
                "data": state.model.spec.wire(),
            },
        )

    def _definition_status(self, state: DefinitionState, now: datetime, result: Registered) -> None:
        assert state.obj is not None
        revisions = state.revision_list()
        active = [r.number for r in revisions if r.active]
        status: Obj = {
            **validity(
                state.obj, JOBDEFINITIONS, state.model is not None, state.reason, now, self.book
            ),
            "revisions": [
                {
                    "revision": r.number,
                    "status": "ACTIVE" if r.active else "INACTIVE",
                    "hash": state.revisions[r.number][0],
                }
                for r in revisions
            ],
        }
        if active:
            status["latestRevision"] = max(active)
        if state.reason:
            result.events.append((state.obj, "Warning", "Invalid", state.reason))
        self.book.want(JOBDEFINITIONS, state.obj, status)
