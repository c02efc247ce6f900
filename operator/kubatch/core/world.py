"""The operator's view of the cluster, and one reconcile step over it.

`World` takes API objects as they arrive (dicts in the shape of the Kubernetes API),
validates Kubatch's resources, keeps one JobRecord per BatchJob, and in `step(now)` runs
the lifecycle and the scheduler over everything that changed, returning the writes to make:
pods to create or stop, statuses to write, events to post, pools to resize. It does no I/O
and reads no clock; the controller feeds it and carries the writes out.
"""

from __future__ import annotations

import heapq
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import ValidationError

from ..api import (
    API_VERSION,
    BatchJob,
    ComputeEnvironment,
    JobDefinition,
    JobQueue,
    ScheduledJob,
    SchedulingPolicy,
)
from ..api.common import DNS_LABEL_MAX, Condition, ConditionStatus, JobStatus, State
from ..api.computeenvironment import AllocationStrategy, ComputeEnvironmentType
from ..api.jobdefinition import JobDefinitionSpec
from ..api.kinds import InvalidManifest, parse
from ..api.resources import Resources, quantity_int, quantity_millis
from ..api.scheduledjob import ConcurrencyPolicy
from ..keys import (
    ANNOTATION_REVISION_HASH,
    ANNOTATION_SCHEDULED_AT,
    LABEL_COMPUTE_ENVIRONMENT,
    LABEL_DEFINITION,
    LABEL_HOSTNAME,
    LABEL_INSTANCE_TYPE,
    LABEL_JOB_UID,
    LABEL_MANAGED_BY,
    LABEL_SCHEDULED,
    MANAGED_BY,
)
from .attempts import PodObservation, PodPhase
from .catalog import PODS_PER_NODE, Shape, UnknownInstanceType, resolve_shapes
from .definitions import (
    Refused,
    ResolvedJob,
    Revision,
    Waiting,
    resolve_job,
    resolve_revision,
    revision_hash,
)
from .dependencies import dependency_names, jobs_in_cycles
from .fairshare import Candidate, decayed, fair_order, reservation_cap, weight_for
from .lifecycle import Action, CreatePod, JobRecord, RecordEvent, StopPod
from .pods import (
    AttemptSpec,
    Pool,
    observe_pod,
    parse_time,
    render_pod,
)
from .scheduler import (
    NEVER_PLACEABLE,
    CapacityPlan,
    Decisions,
    Environment,
    Node,
    Queue,
    Snapshot,
    WorkItem,
    positions,
    schedule,
)

Obj = dict[str, Any]
JobKey = tuple[str, str]

T_MIN = datetime(1970, 1, 1, tzinfo=UTC)


# -- writes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateObject:
    api_version: str
    plural: str
    namespace: str | None
    body: Obj
    job: JobKey | None = None
    attempt: tuple[int | None, int] | None = None
    """(index, attempt) when the object is an attempt's pod."""


@dataclass(frozen=True)
class DeleteObject:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    grace_seconds: int | None = None


@dataclass(frozen=True)
class PatchObject:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    patch: Obj


@dataclass(frozen=True)
class WriteStatus:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    status: Obj
    previous: Obj | None = None
    """What the server holds, as far as known: the patch removes what is gone from it."""


@dataclass(frozen=True)
class PostEvent:
    namespace: str
    involved: Obj
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ResizePool:
    environment: str
    provider: str
    settings: Mapping[str, Any]
    plan: CapacityPlan
    nodes: tuple[tuple[str, str | None], ...]
    """The pool's current nodes: (name, shape)."""
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]
    shapes: tuple[Shape, ...] = ()


Write = CreateObject | DeleteObject | PatchObject | WriteStatus | PostEvent | ResizePool


# -- state kept per object ---------------------------------------------------------------


_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "labels",
    "creationTimestamp",
)


def slim(obj: Obj) -> Obj:
    """What the world keeps of a job's object: identity, version, labels and status. The spec
    lives in its JobRecord; managedFields and the rest are not needed (memory per job)."""
    meta = obj.get("metadata") or {}
    kept: Obj = {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind", "BatchJob"),
        "metadata": {k: meta[k] for k in _KEPT_METADATA if k in meta},
    }
    if "status" in obj:
        kept["status"] = obj["status"]
    return kept


def _rv(obj: Obj) -> int:
    text = obj.get("metadata", {}).get("resourceVersion", "")
    return int(text) if str(text).isdigit() else -1


def _ref(obj: Obj) -> Obj:
    meta = obj["metadata"]
    ref = {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


@dataclass
class NodeState:
    name: str
    labels: dict[str, str]
    allocatable: Resources
    pod_slots: int
    ready: bool
    schedulable: bool
    deleting: bool
    shape: str | None
    created: datetime | None
    pods: dict[str, Resources] = field(default_factory=dict)
    """Pods of Kubatch jobs bound to the node, with their requests."""
    idle_since: datetime | None = None

    @property
    def used(self) -> Resources:
        total = Resources()
        for r in self.pods.values():
            total = total + r
        return total


@dataclass
class EnvState:
    obj: Obj
    model: ComputeEnvironment | None
    valid: bool
    reason: str | None
    shapes: tuple[Shape, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, str], ...] = ()
    provider: str = "unmanaged"
    last_plan: CapacityPlan | None = None


@dataclass
class QueueState:
    obj: Obj
    model: JobQueue | None
    valid: bool
    reason: str | None


@dataclass
class DefinitionState:
    obj: Obj | None
    model: JobDefinition | None
    reason: str | None
    revisions: dict[int, tuple[str, JobDefinitionSpec]] = field(default_factory=dict)
    """revision -> (hash, spec), from ControllerRevisions and ones this step created."""

    def revision_list(self) -> list[Revision]:
        inactive = set(self.model.spec.deregistered_revisions) if self.model else set()
        return [
            Revision(n, spec, n not in inactive) for n, (_, spec) in sorted(self.revisions.items())
        ]


@dataclass
class JobState:
    obj: Obj
    record: JobRecord | None
    """None when the object is invalid (its status says why)."""
    generation: int
    annotations: dict[str, str]
    finished: bool = False
    """Whether its end was counted (for metrics)."""


@dataclass
class ScheduleState:
    obj: Obj
    model: ScheduledJob | None
    reason: str | None
    last: datetime | None
    """The latest run started (or skipped for good)."""
    created: datetime
    warned: set[str] = field(default_factory=set)


@dataclass
class WorldConfig:
    default_provider: str = "simulated"
    providers: frozenset[str] = frozenset({"unmanaged", "simulated"})
    provider_tolerations: Mapping[str, tuple[Mapping[str, str], ...]] = field(default_factory=dict)
    provider_checks: Mapping[str, Callable[[Mapping[str, Any]], str | None]] = field(
        default_factory=dict
    )
    """Per provider, why its settings are unusable (None when they are fine)."""
    scale_in_after: timedelta = timedelta(minutes=5)


@dataclass
class Telemetry:
    """What happened since it was last taken, for metrics (the world keeps no clock)."""

    submitted: Counter[str] = field(default_factory=Counter)
    finished: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    waits: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds from RUNNABLE to placed)"""
    runs: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds an attempt ran)"""
    queue_counts: dict[str, Counter[JobStatus]] = field(default_factory=dict)
    environments: dict[str, dict[str, float]] = field(default_factory=dict)
    """environment -> desired/ready/allocated vCPUs and desired/ready nodes"""


class NamespaceView:
    """The dependency view of one namespace, over the world's records."""

    def __init__(self, world: World, namespace: str) -> None:
        self.world = world
        self.namespace = namespace

    def _record(self, name: str) -> JobRecord | None:
        state = self.world.jobs.get((self.namespace, name))
        return state.record if state else None

    def status_of(self, name: str) -> JobStatus | None:
        record = self._record(name)
        if record is None:
            state = self.world.jobs.get((self.namespace, name))
            return JobStatus.FAILED if state is not None else None
        return record.status

    def size_of(self, name: str) -> int | None:
        record = self._record(name)
        return record.size if record else None

    def child_status_of(self, name: str, index: int) -> JobStatus | None:
        record = self._record(name)
        return record.child_status(index) if record else None


def _condition(
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
    previous: Iterable[Obj] = (),
) -> Obj:
    status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    since = now
    for old in previous:
        if (
            old.get("type") == kind
            and old.get("status") == status.value
            and old.get("lastTransitionTime")
        ):
            since = parse_time(old["lastTransitionTime"]) or now
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message[:32768],
        last_transition_time=since,
        observed_generation=generation,
    ).wire()


def pod_requests(pod: Obj) -> Resources:
    total = Resources()
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        total = total + Resources(
            quantity_millis(requests["cpu"]) if "cpu" in requests else 0,
            quantity_int(requests["memory"]) if "memory" in requests else 0,
            quantity_int(requests.get("nvidia.com/gpu", 0)),
        )
    return total


def work_items(key: JobKey, record: JobRecord) -> list[tuple[tuple[Any, ...], WorkItem]]:
    """A job's RUNNABLE work with its place in the queue. Consecutive array children that
    were not retried share their place and become one item with a count."""
    assert record.resolved is not None
    queue, resources = record.spec.job_queue, record.resolved.resources
    problem = record.resolved.resource_problem
    found: list[tuple[tuple[Any, ...], WorkItem]] = []
    run: list[Any] | None = None  # [first index, count, order]
    for child in record.runnable():
        groupable = record.is_array and not child.retried
        if groupable and run is not None and child.index == run[0] + run[1]:
            run[1] += 1
            continue
        if run is not None:
            found.append((run[2], WorkItem(key, run[0], queue, resources, run[1], problem)))
            run = None
        if groupable:
            run = [child.index, 1, record.queue_key(child)]
        else:
            found.append(
                (record.queue_key(child), WorkItem(key, child.index, queue, resources, 1, problem))
            )
    if run is not None:
        found.append((run[2], WorkItem(key, run[0], queue, resources, run[1], problem)))
    return found


FAIR_SHARE_SPLIT = 2000
"""Array children taken one by one in a fair-share queue (the rest stays one item)."""


def split_children(
    entries: list[tuple[tuple[Any, ...], WorkItem]],
) -> list[tuple[tuple[Any, ...], WorkItem]]:
    """Work items of one child each, so that shares interleave child by child."""
    split: list[tuple[tuple[Any, ...], WorkItem]] = []
    for order, item in entries:
        if item.count == 1 or item.index is None:
            split.append((order, item))
            continue
        first = min(item.count, FAIR_SHARE_SPLIT)
        split += [((*order, i), replace(item, index=item.index + i, count=1)) for i in range(first)]
        if item.count > first:
            split.append(
                ((*order, first), replace(item, index=item.index + first, count=item.count - first))
            )
    return split


class World:
    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.envs: dict[str, EnvState] = {}
        self.queues: dict[str, QueueState] = {}
        self.definitions: dict[JobKey, DefinitionState] = {}
        self.jobs: dict[JobKey, JobState] = {}
        self.uids: dict[str, JobKey] = {}
        self.nodes: dict[str, NodeState] = {}
        self.pod_nodes: dict[str, str] = {}
        """namespace/pod -> node, for our bound pods."""
        self.dependents: dict[JobKey, set[JobKey]] = {}
        self.cycles: dict[JobKey, str] = {}
        self.dirty: set[JobKey] = set()
        self.changed: set[JobKey] = set()
        self.observations: list[tuple[JobKey, PodObservation]] = []
        self.deadlines: list[tuple[datetime, JobKey]] = []
        self.writes: list[Write] = []
        self.schedule_needed = True
        self.scheduled = False
        """Whether the last step ran a scheduling pass."""
        self.runnable_jobs: set[JobKey] = set()
        self.blocked_jobs: set[JobKey] = set()
        """Jobs whose status shows a blocker or a queue position."""
        self.item_cache: dict[JobKey, list[tuple[tuple[Any, ...], WorkItem]]] = {}
        self.queue_counts_dirty = True
        self.started = False
        self.telemetry = Telemetry()
        self.policies: dict[str, SchedulingPolicy] = {}
        self.share_usage: dict[str, dict[str, float]] = {}
        """Per fair-share queue, each share's usage (see core/fairshare.py)."""
        self.share_running: dict[str, dict[str, int]] = {}
        self.schedules: dict[JobKey, ScheduleState] = {}
        self.schedule_children: dict[JobKey, set[JobKey]] = {}
        self._deleting: set[str] = set()
        self.resolved_cache: weakref.WeakValueDictionary[tuple[Any, ...], ResolvedJob | Refused] = (
            weakref.WeakValueDictionary()
        )
        """Jobs that ask the same of the same revision share one resolution (memory per job);
        an entry goes when no job refers to it any more."""
        """ScheduledJob -> the BatchJobs it made (by label)."""
        self.usage_time: datetime | None = None
        self._emitted_status: dict[tuple[str, str], Obj] = {}

    # -- compute environments -----------------------------------------------------------

    def upsert_environment(self, obj: Obj, now: datetime) -> None:
        name = obj["metadata"]["name"]
        old = self.envs.get(name)
        if old is not None and _rv(obj) <= _rv(old.obj) and _rv(obj) >= 0:
            return
        state = self._validate_environment(obj)
        if old is not None:
            state.last_plan = old.last_plan
        self.envs[name] = state
        self._revalidate_queues(now)
        self._write_environment_status(state, now, None)
        self.schedule_needed = True

    def delete_environment(self, name: str, now: datetime) -> None:
        self.envs.pop(name, None)
        self.telemetry.environments.pop(name, None)
        self._revalidate_queues(now)
        self.schedule_needed = True

    def _validate_environment(self, obj: Obj) -> EnvState:
        try:
            model = parse(obj)
        except InvalidManifest as e:
            return EnvState(obj, None, False, "; ".join(e.errors))
        assert isinstance(model, ComputeEnvironment)
        spec = model.spec
        resources = spec.compute_resources
        managed = spec.type == ComputeEnvironmentType.MANAGED
        provider = (
            spec.provider.name
            if spec.provider
            else (self.config.default_provider if managed else "unmanaged")
        )
        state = EnvState(obj, model, True, None, provider=provider)
        state.selector = (
            dict(resources.node_labels)
            if resources and resources.node_labels
            else {LABEL_COMPUTE_ENVIRONMENT: model.name}
        )
        taints = [t.wire() for t in resources.taints] if resources else []
        state.tolerations = tuple(
            {
                "key": t["key"],
                "operator": "Equal" if "value" in t else "Exists",
                **({"value": t["value"]} if "value" in t else {}),
                "effect": t["effect"],
            }
            for t in taints
        ) + tuple(self.config.provider_tolerations.get(provider, ()))
        if provider not in self.config.providers:
            known = ", ".join(sorted(self.config.providers))
            state.valid, state.reason = (
                False,
                f"unknown autoscaling provider {provider!r} (known: {known})",
            )
            return state
        check = self.config.provider_checks.get(provider)
        problem = check(spec.provider.settings if spec.provider else {}) if check else None
        if problem:
            state.valid, state.reason = False, f"provider {provider}: {problem}"
            return state
        if resources is not None:
            try:
                state.shapes = tuple(
                    resolve_shapes(resources.instance_types, resources.custom_instance_types)
                )
            except UnknownInstanceType as e:
                state.valid, state.reason = False, str(e)
        return state

    def _pool_nodes(self, env: EnvState) -> list[NodeState]:
        return [
            n
            for n in self.nodes.values()
            if all(n.labels.get(k) == v for k, v in env.selector.items())
        ]

    def _write_environment_status(
        self, env: EnvState, now: datetime, plan: CapacityPlan | None
    ) -> None:
        nodes = self._pool_nodes(env)
        ready = [n for n in nodes if n.ready]
        status: Obj = {
            **self._validity(env.obj, "computeenvironments", env.valid, env.reason, now),
            "desiredvCpus": plan.desired_vcpus
            if plan
            else sum(n.allocatable.millicpu for n in nodes) // 1000,
            "readyvCpus": sum(n.allocatable.millicpu for n in ready) // 1000,
            "allocatedvCpus": round(sum(n.used.millicpu for n in nodes) / 1000, 3),
            "desiredNodes": sum(plan.desired.values()) if plan else len(nodes),
            "readyNodes": len(ready),
            "nodesByType": dict(Counter(n.shape or "unknown" for n in nodes)),
        }
        last = (env.obj.get("status") or {}).get("lastScalingAction")
        if (
            plan is not None
            and plan.reason
            and (env.last_plan is None or env.last_plan.desired != plan.desired)
        ):
            before = env.last_plan.desired_vcpus if env.last_plan else status["desiredvCpus"]
            last = {
                "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "fromvCpus": before,
                "tovCpus": plan.desired_vcpus,
                "reason": plan.reason,
            }
        if last:
            status["lastScalingAction"] = last
        self._status(env.obj, "computeenvironments", status)
        self.telemetry.environments[env.obj["metadata"]["name"]] = {
            "desired_vcpus": status["desiredvCpus"],
            "ready_vcpus": status["readyvCpus"],
            "allocated_vcpus": status["allocatedvCpus"],
            "desired_nodes": status["desiredNodes"],
            "ready_nodes": status["readyNodes"],
        }

    # -- queues --------------------------------------------------------------------------

    def upsert_queue(self, obj: Obj, now: datetime) -> None:
        name = obj["metadata"]["name"]
        old = self.queues.get(name)
        if old is not None and 0 <= _rv(obj) <= _rv(old.obj):
            return
        try:
            model = parse(obj)
            assert isinstance(model, JobQueue)
            state = QueueState(obj, model, True, None)
        except InvalidManifest as e:
            state = QueueState(obj, None, False, "; ".join(e.errors))
        self.queues[name] = state
        if name not in self.share_usage:
            # Usage survives a restart through the queue's status.
            for share in (obj.get("status") or {}).get("shares") or []:
                usage = self.share_usage.setdefault(name, {})
                usage[share["shareIdentifier"]] = float(share.get("usage", 0.0))
        self._check_queue(state)
        self._write_queue_status(state, now)
        self._mark_queue_jobs(name)
        self.schedule_needed = True

    # -- scheduling policies -------------------------------------------------------------

    def upsert_policy(self, obj: Obj, now: datetime) -> None:
        name = obj["metadata"]["name"]
        try:
            model = parse(obj)
            assert isinstance(model, SchedulingPolicy)
            self.policies[name] = model
            valid, reason = True, None
        except InvalidManifest as e:
            self.policies.pop(name, None)
            valid, reason = False, "; ".join(e.errors)
        self._status(
            obj, "schedulingpolicies", self._validity(obj, "schedulingpolicies", valid, reason, now)
        )
        self._revalidate_queues(now)
        self.schedule_needed = True

    def delete_policy(self, name: str, now: datetime) -> None:
        self.policies.pop(name, None)
        self._revalidate_queues(now)

    def delete_queue(self, name: str) -> None:
        self.queues.pop(name, None)
        self._mark_queue_jobs(name)

    def _check_queue(self, state: QueueState) -> None:
        if state.model is None:
            return
        missing = [
            o.compute_environment
            for o in state.model.spec.compute_environment_order
            if o.compute_environment not in self.envs
        ]
        if missing:
            state.valid = False
            state.reason = "ComputeEnvironment " + ", ".join(missing) + " does not exist"
        elif (
            state.model.spec.scheduling_policy
            and state.model.spec.scheduling_policy not in self.policies
        ):
            state.valid = False
            state.reason = f"SchedulingPolicy {state.model.spec.scheduling_policy} does not exist"
        else:
            state.valid, state.reason = True, None

    def _revalidate_queues(self, now: datetime) -> None:
        for state in self.queues.values():
            before = (state.valid, state.reason)
            self._check_queue(state)
            if (state.valid, state.reason) != before:
                self._write_queue_status(state, now)
                self._mark_queue_jobs(state.obj["metadata"]["name"])

    def _mark_queue_jobs(self, queue: str) -> None:
        for key, job in self.jobs.items():
            if (
                job.record is not None
                and job.record.spec.job_queue == queue
                and not job.record.terminal
            ):
                self.dirty.add(key)
        self.queue_counts_dirty = True

    def _write_queue_status(
        self,
        state: QueueState,
        now: datetime,
        counts: Counter[JobStatus] | None = None,
        oldest: datetime | None = None,
    ) -> None:
        status: Obj = {
            **self._validity(state.obj, "jobqueues", state.valid, state.reason, now),
            "jobCounts": {s.value: (counts or Counter())[s] for s in JobStatus},
        }
        if oldest is not None:
            status["oldestRunnableTime"] = oldest.strftime("%Y-%m-%dT%H:%M:%SZ")
        name = state.obj["metadata"]["name"]
        policy = (
            self.policies.get(state.model.spec.scheduling_policy or "") if state.model else None
        )
        if policy is not None:
            running = self.share_running.get(name, {})
            status["shares"] = [
                {
                    "shareIdentifier": share,
                    "weightFactor": weight_for(share, policy.spec.fairshare_policy),
                    "usage": round(usage, 1),
                    "runningvCpus": round(running.get(share, 0) / 1000, 3),
                }
                for share, usage in sorted(self.share_usage.get(name, {}).items())
            ]
        self._status(state.obj, "jobqueues", status)

    # -- definitions ---------------------------------------------------------------------

    def upsert_revision(self, obj: Obj) -> None:
        """A ControllerRevision holding one revision of a job definition."""
        meta = obj["metadata"]
        name = (meta.get("labels") or {}).get(LABEL_DEFINITION)
        if not name:
            return
        key = (meta["namespace"], name)
        state = self.definitions.setdefault(key, DefinitionState(None, None, None))
        try:
            spec = JobDefinitionSpec.model_validate(obj.get("data") or {})
        except ValidationError:
            return
        digest = (meta.get("annotations") or {}).get(ANNOTATION_REVISION_HASH) or revision_hash(
            spec
        )
        state.revisions[int(obj.get("revision", 0))] = (digest, spec)

    def upsert_definition(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        state = self.definitions.setdefault(key, DefinitionState(None, None, None))
        if state.obj is not None and 0 <= _rv(obj) <= _rv(state.obj):
            return
        if state.obj is not None and state.obj["metadata"].get("uid") != meta.get("uid"):
            state.revisions.clear()  # deleted and created again: a new history
        state.obj = obj
        try:
            model = parse(obj)
            assert isinstance(model, JobDefinition)
            state.model, state.reason = model, None
        except InvalidManifest as e:
            state.model, state.reason = None, "; ".join(e.errors)
        if state.model is not None:
            digest = revision_hash(state.model.spec)
            if digest not in {h for h, _ in state.revisions.values()}:
                number = max(state.revisions, default=0) + 1
                state.revisions[number] = (digest, state.model.spec)
                self.writes.append(
                    CreateObject(
                        "apps/v1",
                        "controllerrevisions",
                        key[0],
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ControllerRevision",
                            "metadata": {
                                "name": f"{key[1]}-{number}",
                                "namespace": key[0],
                                "labels": {LABEL_DEFINITION: key[1], LABEL_MANAGED_BY: MANAGED_BY},
                                "annotations": {ANNOTATION_REVISION_HASH: digest},
                                "ownerReferences": [{**_ref(obj), "controller": True}],
                            },
                            "revision": number,
                            "data": state.model.spec.wire(),
                        },
                    )
                )
        self._write_definition_status(state, now)
        for job_key, job in self.jobs.items():
            if (
                job_key[0] == key[0]
                and job.record is not None
                and not job.record.evaluated
                and (job.record.spec.job_definition.partition(":")[0] == key[1])
            ):
                self.dirty.add(job_key)

    def delete_definition(self, namespace: str, name: str) -> None:
        self.definitions.pop((namespace, name), None)

    def _write_definition_status(self, state: DefinitionState, now: datetime) -> None:
        assert state.obj is not None
        revisions = state.revision_list()
        active = [r.number for r in revisions if r.active]
        status: Obj = {
            **self._validity(
                state.obj, "jobdefinitions", state.model is not None, state.reason, now
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
            self._event(state.obj, "Warning", "Invalid", state.reason)
        self._status(state.obj, "jobdefinitions", status)

    # -- jobs ----------------------------------------------------------------------------

    def upsert_job(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.jobs.get(key)
        if old is not None and old.obj["metadata"].get("uid") != meta.get("uid"):
            self.delete_job(*key)
            old = None
        if old is not None:
            if 0 <= _rv(obj) <= _rv(old.obj):
                return
            old.obj = slim(obj)
            generation = int(meta.get("generation") or 0)
            if generation == old.generation or old.record is None:
                return
            old.generation = generation
            try:
                model = parse(obj)
            except InvalidManifest:
                return  # only cancel and terminate change a job; anything else is ignored
            assert isinstance(model, BatchJob)
            self._apply(key, old.record.update_spec(model.spec, now), now)
            self.dirty.add(key)
            return
        state = JobState(
            slim(obj), None, int(meta.get("generation") or 0), dict(meta.get("annotations") or {})
        )
        self.jobs[key] = state
        try:
            model = parse(obj)
        except InvalidManifest as e:
            reason = "invalid BatchJob: " + "; ".join(e.errors)
            self._status(
                obj,
                "batchjobs",
                {
                    "status": "FAILED",
                    "statusReason": reason,
                    "observedGeneration": meta.get("generation"),
                },
            )
            self._event(obj, "Warning", "Invalid", reason)
            return
        assert isinstance(model, BatchJob)
        created = model.metadata.creation_timestamp or now
        status = model.status
        if status.status is not None:
            record = JobRecord.restore(
                key[0], key[1], meta.get("uid", ""), model.spec, created, status
            )
        else:
            record = JobRecord(key[0], key[1], meta.get("uid", ""), model.spec, created)
            self.telemetry.submitted[model.spec.job_queue] += 1
        state.record = record
        if record.counts[JobStatus.RUNNABLE]:
            self.runnable_jobs.add(key)
        self.uids[meta.get("uid", "")] = key
        owner = (meta.get("labels") or {}).get(LABEL_SCHEDULED)
        if owner:
            self.schedule_children.setdefault((key[0], owner), set()).add(key)
        for dep in dependency_names(model.spec.depends_on):
            self.dependents.setdefault((key[0], dep), set()).add(key)
        if model.spec.depends_on:
            self._find_cycles(key[0])
        self.dirty.add(key)
        self.dirty.update(self.dependents.get(key, ()))
        self.queue_counts_dirty = True

    def _find_cycles(self, namespace: str) -> None:
        deps = {
            name: s.record.spec.depends_on
            for (ns, name), s in self.jobs.items()
            if ns == namespace and s.record is not None and s.record.spec.depends_on
        }
        for name, reason in jobs_in_cycles(deps).items():
            if (namespace, name) not in self.cycles:
                self.cycles[(namespace, name)] = reason
                self.dirty.add((namespace, name))

    def delete_job(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        state = self.jobs.pop(key, None)
        if state is None:
            return
        self.uids.pop(state.obj["metadata"].get("uid", ""), None)
        self.cycles.pop(key, None)
        self.runnable_jobs.discard(key)
        self.blocked_jobs.discard(key)
        self.item_cache.pop(key, None)
        owner = (state.obj["metadata"].get("labels") or {}).get(LABEL_SCHEDULED)
        if owner:
            self.schedule_children.get((namespace, owner), set()).discard(key)
        if state.record is not None:
            for dep in dependency_names(state.record.spec.depends_on):
                self.dependents.get((namespace, dep), set()).discard(key)
        self.dirty.update(self.dependents.get(key, ()))
        self._emitted_status.pop(("batchjobs", f"{namespace}/{name}"), None)
        self.queue_counts_dirty = True
        self.schedule_needed = True

    # -- pods and nodes ------------------------------------------------------------------

    def observe_pod(self, pod: Obj, now: datetime, deleted: bool = False) -> None:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        pod_key = f"{meta.get('namespace')}/{meta['name']}"
        node = (pod.get("spec") or {}).get("nodeName")
        finished = deleted or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        previous = self.pod_nodes.get(pod_key)
        if previous is not None and (finished or previous != node):
            holder = self.nodes.get(previous)
            if holder is not None:
                holder.pods.pop(pod_key, None)
                if not holder.pods:
                    holder.idle_since = now
            self.pod_nodes.pop(pod_key, None)
            self.schedule_needed = True
        if node and not finished:
            holder = self.nodes.get(node)
            if holder is not None:
                holder.pods[pod_key] = pod_requests(pod)
                holder.idle_since = None
            self.pod_nodes[pod_key] = node
        key = self.uids.get(labels.get(LABEL_JOB_UID, ""))
        if key is None:
            return
        obs = observe_pod(pod, gone=deleted)
        if obs is not None:
            self.observations.append((key, obs))

    def pod_create_failed(
        self, job: JobKey, index: int | None, attempt: int, pod_name: str, reason: str
    ) -> None:
        """The API refused an attempt's pod: the attempt failed to start."""
        self.observations.append(
            (
                job,
                PodObservation(
                    pod_name,
                    index,
                    attempt,
                    PodPhase.PENDING,
                    reason="CreateContainerError",
                    message=reason,
                ),
            )
        )

    def upsert_node(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        status = obj.get("status") or {}
        allocatable = status.get("allocatable") or status.get("capacity") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        name = meta["name"]
        old = self.nodes.get(name)
        node = NodeState(
            name=name,
            labels=dict(meta.get("labels") or {}),
            allocatable=Resources(
                quantity_millis(allocatable.get("cpu", 0)),
                quantity_int(allocatable.get("memory", 0)),
                quantity_int(allocatable.get("nvidia.com/gpu", 0)),
            ),
            pod_slots=quantity_int(allocatable.get("pods", PODS_PER_NODE)),
            ready=conditions.get("Ready") == "True",
            schedulable=not (obj.get("spec") or {}).get("unschedulable", False),
            deleting=bool(meta.get("deletionTimestamp")),
            shape=(meta.get("labels") or {}).get(LABEL_INSTANCE_TYPE),
            created=parse_time(meta.get("creationTimestamp")),
        )
        if old is not None:
            node.pods = old.pods
            node.idle_since = old.idle_since
        if not node.pods and node.idle_since is None:
            node.idle_since = now
        self.nodes[name] = node
        self.schedule_needed = True

    def delete_node(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.schedule_needed = True

    # -- the step ------------------------------------------------------------------------

    def start(self, now: datetime) -> None:
        """After the initial listing: close attempts whose pods no longer exist."""
        seen = {k.split("/", 1)[1] for k in self.pod_nodes}
        seen |= {obs.pod_name for _, obs in self.observations}
        self._take_observations(now, adopt=True)
        for key, state in self.jobs.items():
            if state.record is not None:
                self._apply(key, state.record.reconcile_missing(seen, now), now)
        self.started = True

    def _take_observations(self, now: datetime, adopt: bool = False) -> None:
        observations, self.observations = self.observations, []
        for key, obs in observations:
            state = self.jobs.get(key)
            if state is None or state.record is None:
                continue
            try:
                attempt = state.record.child(obs.index).current
                actions = state.record.adopt(obs, now) if adopt else state.record.observe(obs, now)
            except KeyError:
                continue  # a pod with an index the job does not have: not ours to judge
            if (
                attempt is not None
                and attempt.stopped_at is not None
                and attempt.started_at is not None
            ):
                seconds = (attempt.stopped_at - attempt.started_at).total_seconds()
                self.telemetry.runs.append((state.record.spec.job_queue, seconds))
            self._apply(key, actions, now)

    def _apply(self, key: JobKey, actions: list[Action], now: datetime) -> None:
        state = self.jobs[key]
        record = state.record
        assert record is not None
        for action in actions:
            if isinstance(action, RecordEvent):
                self._event(state.obj, action.type, action.reason, action.message)
            elif isinstance(action, StopPod):
                self.writes.append(
                    DeleteObject("v1", "pods", key[0], action.pod_name, action.grace_seconds)
                )
            elif isinstance(action, CreatePod):
                self._create_pod(key, state, action)
        if record.terminal and not state.finished:
            state.finished = True
            self.telemetry.finished[(record.spec.job_queue, record.status.value)] += 1
        self._track(key, record)
        deadline = record.next_deadline()
        if deadline is not None:
            heapq.heappush(self.deadlines, (deadline, key))
        if record.counts[JobStatus.RUNNABLE] or record.terminal:
            self.schedule_needed = True
        self.dirty.update(self.dependents.get(key, ()))
        self.queue_counts_dirty = True

    def _track(self, key: JobKey, record: JobRecord) -> None:
        """The job changed: write its status, and keep the scheduler's indexes right."""
        self.changed.add(key)
        self.item_cache.pop(key, None)
        if record.counts[JobStatus.RUNNABLE]:
            self.runnable_jobs.add(key)
        else:
            self.runnable_jobs.discard(key)

    def _create_pod(self, key: JobKey, state: JobState, action: CreatePod) -> None:
        record = state.record
        assert record is not None
        assert record.resolved is not None
        env = self.envs.get(action.compute_environment)
        pool = Pool(
            action.compute_environment,
            dict(env.selector) if env else {},
            env.tolerations if env else (),
        )
        spec = AttemptSpec(
            key[0],
            key[1],
            record.uid,
            record.spec.job_queue,
            action.index,
            record.size,
            action.attempt,
            action.pod_name,
        )
        body = render_pod(spec, record.resolved, pool, state.annotations)
        if action.node:
            # The node's hostname label, which is not always its name on real clusters.
            node = self.nodes.get(action.node)
            hostname = node.labels.get(LABEL_HOSTNAME, action.node) if node else action.node
            body["spec"].setdefault("nodeSelector", {})[LABEL_HOSTNAME] = hostname
        self.writes.append(
            CreateObject("v1", "pods", key[0], body, key, (action.index, action.attempt))
        )

    def _resolution(self, key: JobKey, record: JobRecord) -> ResolvedJob | Waiting | Refused:
        if key in self.cycles:
            return Refused(self.cycles[key])
        queue = self.queues.get(record.spec.job_queue)
        if queue is None:
            return Waiting(f"JobQueue {record.spec.job_queue} does not exist yet")
        if not record.evaluated and queue.model is not None:
            spec = queue.model.spec
            if spec.state == State.DISABLED:
                return Refused(
                    f"JobQueue {record.spec.job_queue} is DISABLED and accepts no new jobs"
                )
            if spec.allowed_namespaces is not None and key[0] not in spec.allowed_namespaces:
                return Refused(
                    f"JobQueue {record.spec.job_queue} does not accept jobs from namespace {key[0]}"
                )
            share = record.spec.share_identifier
            if spec.scheduling_policy and not share:
                return Refused(
                    f"shareIdentifier is required: JobQueue {record.spec.job_queue} has the "
                    f"scheduling policy {spec.scheduling_policy}"
                )
            if not spec.scheduling_policy and share:
                return Refused(
                    f"shareIdentifier is only for queues with a scheduling policy; JobQueue "
                    f"{record.spec.job_queue} has none"
                )
        if not queue.valid:
            return Waiting(f"JobQueue {record.spec.job_queue} is INVALID: {queue.reason}")
        name = record.spec.job_definition.partition(":")[0]
        definition = self.definitions.get((key[0], name))
        revisions = (
            definition.revision_list() if definition and definition.obj is not None else None
        )
        found = resolve_revision(record.definition_ref(), revisions)
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

    def step(self, now: datetime, schedule: bool = True) -> list[Write]:
        """Everything that follows from what changed since the last step. `schedule=False`
        leaves a needed scheduling pass for a later step (the caller paces them)."""
        self._take_observations(now)
        for _ in range(50):
            if not self.dirty:
                break
            dirty, self.dirty = self.dirty, set()
            for key in sorted(dirty):
                state = self.jobs.get(key)
                if state is None or state.record is None or state.record.terminal:
                    continue
                record = state.record
                before = (
                    record.status,
                    record.counts[JobStatus.SUCCEEDED],
                    record.counts[JobStatus.FAILED],
                    record.counts[JobStatus.RUNNABLE],
                )
                actions = record.evaluate(
                    now, NamespaceView(self, key[0]), self._resolution(key, record)
                )
                after = (
                    record.status,
                    record.counts[JobStatus.SUCCEEDED],
                    record.counts[JobStatus.FAILED],
                    record.counts[JobStatus.RUNNABLE],
                )
                if actions or before != after:
                    self._apply(key, actions, now)
                else:
                    self._track(key, record)
        while self.deadlines and self.deadlines[0][0] <= now:
            _, key = heapq.heappop(self.deadlines)
            state = self.jobs.get(key)
            if state is not None and state.record is not None:
                actions = state.record.check_timeouts(now)
                if actions:
                    self._apply(key, actions, now)
        if self.started:
            self._run_schedules(now)
        self.scheduled = False
        if self.schedule_needed and self.started and schedule:
            self.schedule_needed = False
            self.scheduled = True
            self._schedule(now)
        self._write_job_statuses()
        if self.queue_counts_dirty:
            self.queue_counts_dirty = False
            self._write_queue_counts(now)
        writes, self.writes = self.writes, []
        return writes

    def take_telemetry(self) -> Telemetry:
        """What happened since the last call (queue counts and environments stay current)."""
        taken = self.telemetry
        self.telemetry = Telemetry(
            queue_counts=taken.queue_counts, environments=dict(taken.environments)
        )
        return taken

    def next_wake(self) -> datetime | None:
        times = [self.deadlines[0][0]] if self.deadlines else []
        times += [t for s in self.schedules.values() if (t := self._next_run(s)) is not None]
        return min(times, default=None)

    # -- scheduled jobs --------------------------------------------------------------------

    def upsert_scheduled(self, obj: Obj, now: datetime) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.schedules.get(key)
        if old is not None and 0 <= _rv(obj) <= _rv(old.obj):
            return
        try:
            model = parse(obj)
            assert isinstance(model, ScheduledJob)
            reason = None
        except InvalidManifest as e:
            model, reason = None, "; ".join(e.errors)
        last = old.last if old is not None else None
        if last is None and model is not None:
            last = model.status.last_schedule_time
        created = parse_time(meta.get("creationTimestamp")) or now
        self.schedules[key] = ScheduleState(obj, model, reason, last, created)
        if reason:
            self._event(obj, "Warning", "Invalid", reason)

    def delete_scheduled(self, namespace: str, name: str) -> None:
        self.schedules.pop((namespace, name), None)

    def _zone(self, state: ScheduleState) -> ZoneInfo:
        assert state.model is not None
        return ZoneInfo(state.model.spec.time_zone or "UTC")

    def _next_run(self, state: ScheduleState) -> datetime | None:
        """When the schedule runs next (after its last run)."""
        if state.model is None or state.model.spec.suspend:
            return None
        spec = state.model.spec
        if spec.at is not None:
            at = spec.at if spec.at.tzinfo else spec.at.replace(tzinfo=self._zone(state))
            return at if state.last is None else None
        assert spec.schedule is not None
        start = (state.last or state.created).astimezone(self._zone(state))
        found: datetime = croniter(spec.schedule, start).get_next(datetime)
        return found

    def _due_run(self, state: ScheduleState, now: datetime) -> datetime | None:
        """The latest run time not yet acted on, at or before now."""
        assert state.model is not None
        spec = state.model.spec
        if spec.at is not None:
            at = self._next_run(state)
            return at if at is not None and at <= now else None
        assert spec.schedule is not None
        latest: datetime = croniter(
            spec.schedule, now.astimezone(self._zone(state)) + timedelta(seconds=1)
        ).get_prev(datetime)
        while latest > now:
            latest = croniter(spec.schedule, latest).get_prev(datetime)
        start = state.last or state.created
        return latest if latest > start else None

    def _run_schedules(self, now: datetime) -> None:
        for key, state in self.schedules.items():
            if state.model is None:
                self._status(
                    state.obj,
                    "scheduledjobs",
                    self._validity(state.obj, "scheduledjobs", False, state.reason, now),
                )
                continue
            spec = state.model.spec
            children = [
                self.jobs[k] for k in sorted(self.schedule_children.get(key, ())) if k in self.jobs
            ]
            active = [c for c in children if c.record is not None and not c.record.terminal]
            due = None if spec.suspend else self._due_run(state, now)
            if due is not None:
                late = (now - due).total_seconds()
                if (
                    spec.starting_deadline_seconds is not None
                    and late > spec.starting_deadline_seconds
                ):
                    state.last = due
                    self._event(
                        state.obj,
                        "Warning",
                        "MissedSchedule",
                        f"the run of {due.isoformat()} was missed by {late:.0f}s",
                    )
                elif spec.concurrency_policy == ConcurrencyPolicy.FORBID and active:
                    note = f"forbid-{due.isoformat()}"
                    if note not in state.warned:
                        state.warned.add(note)
                        self._event(
                            state.obj,
                            "Normal",
                            "JobAlreadyActive",
                            f"the run of {due.isoformat()} waits: "
                            f"{active[0].obj['metadata']['name']} has not finished "
                            "(concurrencyPolicy Forbid)",
                        )
                else:
                    if spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
                        for child in active:
                            self.writes.append(
                                PatchObject(
                                    API_VERSION,
                                    "batchjobs",
                                    key[0],
                                    child.obj["metadata"]["name"],
                                    {
                                        "spec": {
                                            "terminate": {
                                                "reason": "replaced by the run of "
                                                + due.isoformat()
                                            }
                                        }
                                    },
                                )
                            )
                    self._start_run(key, state, due)
            self._trim_history(key, spec, children)
            self._write_schedule_status(state, children, now)

    def _start_run(self, key: JobKey, state: ScheduleState, due: datetime) -> None:
        assert state.model is not None
        template = state.model.spec.job_template
        suffix = str(int(due.timestamp()) // 60)
        name = f"{key[1][: DNS_LABEL_MAX - len(suffix) - 1]}-{suffix}"
        labels = dict(template.metadata.labels) if template.metadata else {}
        annotations = dict(template.metadata.annotations) if template.metadata else {}
        body = {
            "apiVersion": API_VERSION,
            "kind": "BatchJob",
            "metadata": {
                "name": name,
                "namespace": key[0],
                "labels": {**labels, LABEL_SCHEDULED: key[1]},
                "annotations": {**annotations, ANNOTATION_SCHEDULED_AT: due.isoformat()},
                "ownerReferences": [
                    {**_ref(state.obj), "controller": True, "blockOwnerDeletion": True}
                ],
            },
            "spec": template.spec.wire(),
        }
        self.writes.append(CreateObject(API_VERSION, "batchjobs", key[0], body))
        state.last = due
        self._event(
            state.obj,
            "Normal",
            "SuccessfulCreate",
            f"created BatchJob {name} for {due.isoformat()}",
        )

    def _trim_history(self, key: JobKey, spec: Any, children: list[JobState]) -> None:
        for outcome, limit in (
            (JobStatus.SUCCEEDED, spec.successful_jobs_history_limit),
            (JobStatus.FAILED, spec.failed_jobs_history_limit),
        ):
            ended = [c for c in children if c.record is not None and c.record.status == outcome]
            ended.sort(
                key=lambda c: c.record.stopped_at if c.record and c.record.stopped_at else T_MIN
            )
            for old in ended[: max(0, len(ended) - limit)]:
                name = old.obj["metadata"]["name"]
                if name not in self._deleting:
                    self._deleting.add(name)
                    self.writes.append(DeleteObject(API_VERSION, "batchjobs", key[0], name))

    def _write_schedule_status(
        self, state: ScheduleState, children: list[JobState], now: datetime
    ) -> None:
        status = self._validity(state.obj, "scheduledjobs", True, None, now)
        active = [
            c.obj["metadata"]["name"]
            for c in children
            if c.record is not None and not c.record.terminal
        ]
        status["active"] = active
        if state.last is not None:
            status["lastScheduleTime"] = state.last.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        succeeded = [
            c.record.stopped_at
            for c in children
            if c.record is not None
            and c.record.status == JobStatus.SUCCEEDED
            and c.record.stopped_at
        ]
        if succeeded:
            status["lastSuccessfulTime"] = (
                max(succeeded).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            )
        upcoming = self._next_run(state)
        if upcoming is not None:
            status["nextScheduleTime"] = upcoming.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._status(state.obj, "scheduledjobs", status)

    # -- scheduling ----------------------------------------------------------------------

    def _items(self) -> dict[str, list[tuple[tuple[Any, ...], WorkItem]]]:
        """RUNNABLE work per queue, in queue order."""
        per_queue: dict[str, list[tuple[tuple[Any, ...], WorkItem]]] = {}
        for key in self.runnable_jobs:
            state = self.jobs.get(key)
            record = state.record if state else None
            if record is None or not record.counts[JobStatus.RUNNABLE] or not record.resolved:
                continue
            items = self.item_cache.get(key)
            if items is None:
                items = self.item_cache[key] = work_items(key, record)
            per_queue.setdefault(record.spec.job_queue, []).extend(items)
        for entries in per_queue.values():
            entries.sort(key=lambda e: e[0])
        return per_queue

    def _fair_share(
        self,
        queue: str,
        policy: SchedulingPolicy,
        entries: list[tuple[tuple[Any, ...], WorkItem]],
        order: tuple[str, ...],
        env_max: Mapping[str, int],
    ) -> tuple[tuple[WorkItem, ...], int, int]:
        """A fair-share queue's items in fair order, its CPU cap (computeReservation) and
        the CPU its jobs hold."""
        fair = policy.spec.fairshare_policy
        running = self.share_running.get(queue, {})
        entries = split_children(entries)
        candidates = []
        for order_key, item in entries:
            record = self.jobs[item.job].record
            assert record is not None
            assert record.resolved is not None
            candidates.append(
                Candidate(
                    record.spec.share_identifier or "",
                    record.resolved.scheduling_priority,
                    item.resources.millicpu * item.count,
                    order_key,
                )
            )
        shares = {c.share for c in candidates} | {s for s, held in running.items() if held}
        weights = {share: weight_for(share, fair) for share in shares}
        usage = self.share_usage.get(queue, {})
        ordered = tuple(entries[i][1] for i in fair_order(candidates, usage, weights))
        total = sum(env_max.get(e, 0) for e in order)
        cap = reservation_cap(total, fair.compute_reservation, len(shares))
        return ordered, cap, sum(running.values())

    def _update_share_usage(self, now: datetime) -> None:
        """Fold what each share ran since the last pass into its usage."""
        seconds = (now - self.usage_time).total_seconds() if self.usage_time else 0.0
        self.usage_time = now
        if not any(q.model and q.model.spec.scheduling_policy for q in self.queues.values()):
            return  # no fair-share queue: nothing to count, and no job to look at
        running: dict[str, dict[str, int]] = {}
        for state in self.jobs.values():
            record = state.record
            if record is None or record.resolved is None or not record.spec.share_identifier:
                continue
            in_flight = record.counts[JobStatus.STARTING] + record.counts[JobStatus.RUNNING]
            if in_flight:
                shares = running.setdefault(record.spec.job_queue, {})
                share = record.spec.share_identifier
                shares[share] = (
                    shares.get(share, 0) + in_flight * record.resolved.resources.millicpu
                )
        for name, queue in self.queues.items():
            model = queue.model
            policy = self.policies.get(model.spec.scheduling_policy or "") if model else None
            if policy is None:
                continue
            fair = policy.spec.fairshare_policy
            usage = self.share_usage.setdefault(name, {})
            now_running = running.get(name, {})
            for share in set(usage) | set(now_running):
                usage[share] = decayed(
                    usage.get(share, 0.0),
                    now_running.get(share, 0) / 1000,
                    weight_for(share, fair),
                    seconds,
                    fair.share_decay_seconds,
                )
        self.share_running = running
        self.queue_counts_dirty = True

    def _time_limits(self, decisions: Decisions, now: datetime) -> None:
        """jobStateTimeLimitActions: cancel the job at the head of its queue that was blocked
        by the action's reason for maxTimeSeconds. Work that can never be placed does not
        block in Kubatch, so it counts as the head whatever its place."""
        for waiting in decisions.waiting:
            queue = self.queues.get(waiting.item.queue)
            state = self.jobs.get(waiting.item.job)
            if queue is None or queue.model is None or state is None or state.record is None:
                continue
            record = state.record
            head = waiting.position == 1 or waiting.reason in NEVER_PLACEABLE
            if not head or record.blocked_since is None or record.terminal:
                continue
            waited = (now - record.blocked_since).total_seconds()
            for action in queue.model.spec.job_state_time_limit_actions:
                if action.reason == waiting.reason and waited >= action.max_time_seconds:
                    reason = (
                        f"{action.reason}: canceled after {action.max_time_seconds}s at the "
                        f"head of JobQueue {waiting.item.queue} (jobStateTimeLimitActions)"
                    )
                    self._apply(waiting.item.job, record.cancel(reason, now), now)
                    break

    def _environment(self, env: EnvState) -> Environment:
        assert env.model is not None
        resources = env.model.spec.compute_resources
        managed = (
            env.model.spec.type == ComputeEnvironmentType.MANAGED and env.provider != "unmanaged"
        )
        nodes = tuple(
            Node(
                n.name,
                n.allocatable,
                n.allocatable - n.used,
                max(n.pod_slots - len(n.pods), 0),
                n.shape,
                n.ready and n.schedulable and not n.deleting,
                len(n.pods),
                n.idle_since,
            )
            for n in self._pool_nodes(env)
            if not n.deleting
        )
        allocated = sum(n.allocatable.millicpu - n.free.millicpu for n in nodes)
        max_vcpus = (
            resources.maxv_cpus if resources else sum(n.allocatable.millicpu for n in nodes) // 1000
        )
        return Environment(
            env.model.name,
            max_vcpus=max_vcpus,
            enabled=env.model.spec.state == State.ENABLED,
            valid=env.valid,
            managed=managed,
            min_vcpus=resources.minv_cpus if resources else 0,
            shapes=env.shapes,
            strategy=resources.allocation_strategy if resources else AllocationStrategy.BEST_FIT,
            nodes=nodes,
            allocated_millicpu=allocated,
        )

    def _schedule(self, now: datetime) -> None:
        items = self._items()
        envs = tuple(self._environment(e) for e in self.envs.values() if e.model is not None)
        env_max = {e.name: e.max_vcpus * 1000 for e in envs}
        self._update_share_usage(now)
        queues = []
        for name, q in sorted(self.queues.items()):
            if q.model is None or not q.valid:
                continue
            spec = q.model.spec
            order = tuple(
                o.compute_environment
                for o in sorted(spec.compute_environment_order, key=lambda o: o.order)
            )
            entries = items.get(name, [])
            policy = self.policies.get(spec.scheduling_policy or "")
            if policy is None:
                queues.append(
                    Queue(
                        name,
                        spec.priority,
                        order,
                        spec.queueing_strategy,
                        tuple(i for _, i in entries),
                    )
                )
                continue
            ordered, cap, held = self._fair_share(name, policy, entries, order, env_max)
            queues.append(
                Queue(name, spec.priority, order, spec.queueing_strategy, ordered, cap, held)
            )
        decisions = schedule(Snapshot(tuple(queues), envs, now, self.config.scale_in_after))
        for placement in decisions.placements:
            state = self.jobs.get(placement.job)
            if state is None or state.record is None:
                continue
            child = state.record.child(placement.index)
            if child.runnable_since is not None:
                waited = (now - child.runnable_since).total_seconds()
                self.telemetry.waits.append((state.record.spec.job_queue, waited))
            self.telemetry.attempts[state.record.spec.job_queue] += 1
            actions = state.record.place(
                placement.index, placement.environment, now, placement.node
            )
            node = self.nodes.get(placement.node)
            if node is not None and state.record.resolved is not None:
                for action in actions:
                    if isinstance(action, CreatePod):
                        pod_key = f"{placement.job[0]}/{action.pod_name}"
                        node.pods[pod_key] = state.record.resolved.resources
                        node.idle_since = None
                        self.pod_nodes[pod_key] = node.name
            self._apply(placement.job, actions, now)
        blockers: dict[JobKey, str] = {}
        for waiting in decisions.waiting:
            blockers.setdefault(waiting.item.job, waiting.reason)
        best = positions(decisions.waiting)
        for key in self.blocked_jobs | blockers.keys():
            state = self.jobs.get(key)
            record = state.record if state else None
            if record is None:
                continue
            blocker, position = (
                (None, None) if record.terminal else (blockers.get(key), best.get(key))
            )
            if record.blocker != blocker:
                record.blocked_since = now if blocker else None
            if (record.blocker, record.position) != (blocker, position):
                record.blocker, record.position = blocker, position
                self.changed.add(key)
        self.blocked_jobs = set(blockers)
        self._time_limits(decisions, now)
        for name, plan in decisions.plans.items():
            env = self.envs.get(name)
            if env is None or env.model is None:
                continue
            pool = self._pool_nodes(env)
            resources = env.model.spec.compute_resources
            if env.provider != "unmanaged":
                self.writes.append(
                    ResizePool(
                        name,
                        env.provider,
                        dict(env.model.spec.provider.settings) if env.model.spec.provider else {},
                        plan,
                        tuple((n.name, n.shape) for n in pool),
                        {**env.selector, LABEL_COMPUTE_ENVIRONMENT: name},
                        tuple(t.wire() for t in resources.taints) if resources else (),
                        env.shapes,
                    )
                )
            self._write_environment_status(env, now, plan)
            env.last_plan = plan

    # -- statuses and events -------------------------------------------------------------

    def _validity(
        self, obj: Obj, plural: str, valid: bool, reason: str | None, now: datetime
    ) -> Obj:
        """The part of a status every validated kind shares: status, observedGeneration,
        the Valid condition and, when invalid, the reason."""
        generation = obj["metadata"].get("generation")
        kind = obj.get("kind") or plural
        message = reason or f"the {kind} is valid"
        condition = _condition(
            "Valid",
            valid,
            "Validated" if valid else "Invalid",
            message,
            generation,
            now,
            self._previous_conditions(obj, plural),
        )
        status: Obj = {
            "status": "VALID" if valid else "INVALID",
            "observedGeneration": generation,
            "conditions": [condition],
        }
        if reason:
            status["statusReason"] = reason
        return status

    def _previous_conditions(self, obj: Obj, plural: str) -> list[Obj]:
        meta = obj["metadata"]
        emitted = self._emitted_status.get((plural, f"{meta.get('namespace', '')}/{meta['name']}"))
        source = emitted if emitted is not None else (obj.get("status") or {})
        return list(source.get("conditions") or [])

    def _status(self, obj: Obj, plural: str, status: Obj) -> None:
        meta = obj["metadata"]
        key = (plural, f"{meta.get('namespace', '')}/{meta['name']}")
        previous = self._emitted_status.get(key, obj.get("status"))
        if previous == status:
            return
        self._emitted_status[key] = status
        self.writes.append(
            WriteStatus(
                obj.get("apiVersion", API_VERSION),
                plural,
                meta.get("namespace"),
                meta["name"],
                status,
                previous,
            )
        )

    def last_status(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """The status last written (or about to be) for an object."""
        found = self._emitted_status.get((plural, f"{namespace or ''}/{name}"))
        return dict(found) if found is not None else None

    def forget_status(self, plural: str, namespace: str | None, name: str) -> None:
        """A status write failed: write the whole status again at the next step."""
        self._emitted_status[(plural, f"{namespace or ''}/{name}")] = {}
        if plural == "batchjobs" and namespace is not None:
            self.changed.add((namespace, name))
        else:
            self.queue_counts_dirty = True
            self.schedule_needed = True

    def _event(
        self, obj: Obj, kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        namespace = obj["metadata"].get("namespace") or "default"
        self.writes.append(PostEvent(namespace, _ref(obj), kind, reason, message[:1024]))

    def _write_job_statuses(self) -> None:
        changed, self.changed = self.changed, set()
        for key in sorted(changed):
            state = self.jobs.get(key)
            if state is None or state.record is None:
                continue
            status = state.record.to_status(state.generation).wire()
            self._status(state.obj, "batchjobs", status)

    def _write_queue_counts(self, now: datetime) -> None:
        counts: dict[str, Counter[JobStatus]] = {}
        oldest: dict[str, datetime] = {}
        for job in self.jobs.values():
            record = job.record
            if record is None:
                continue
            queue = record.spec.job_queue
            counts.setdefault(queue, Counter()).update(record.counts)
            if record.counts[JobStatus.RUNNABLE]:
                since = min(
                    (c.runnable_since for c in record.runnable() if c.runnable_since), default=None
                )
                if since is not None and (queue not in oldest or since < oldest[queue]):
                    oldest[queue] = since
        for name, state in self.queues.items():
            self._write_queue_status(state, now, counts.get(name, Counter()), oldest.get(name))
        self.telemetry.queue_counts = counts
