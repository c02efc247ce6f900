"""Reading API objects into the engine's state, one kind at a time: parse, validate, derive.

Each function takes an object as the API serves it and returns the state to store (or why
it is invalid); none of them looks at or changes the store.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from ...api import (
    API_VERSION,
    BatchJob,
    ComputeEnvironment,
    JobDefinition,
    JobQueue,
    ScheduledJob,
    SchedulingPolicy,
)
from ...api.batchjob import BatchJobSpec
from ...api.common import Obj
from ...api.computeenvironment import ComputeEnvironmentType
from ...api.jobdefinition import JobDefinitionSpec
from ...api.kinds import InvalidManifest, parse
from ...api.resources import Resources, quantity_int, quantity_millis
from ...api.times import parse_time
from ...keys import (
    ANNOTATION_REVISION_HASH,
    LABEL_COMPUTE_ENVIRONMENT,
    LABEL_DEFINITION,
    LABEL_INSTANCE_TYPE,
    LABEL_JOB_UID,
)
from ..jobs.definitions import revision_hash
from ..jobs.persistence import restore_record
from ..jobs.pods import GPU_RESOURCE
from ..jobs.record import JobRecord
from ..scheduling.catalog import PODS_PER_NODE, UnknownInstanceType, resolve_shapes
from .objects import EnvState, JobState, NodeState, PodState, QueueState

_KEPT_METADATA = ("name", "namespace", "uid", "resourceVersion", "labels")
"""What a job's events and status writes need of its metadata: five keys fit a dict's
smallest table (its generation and creation time live in JobState and the record)."""


NO_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


def slim(obj: Obj) -> Obj:
    """What the engine keeps of an object it holds many of (jobs): identity, version and
    labels. The spec lives in its record, the status in the status book."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind", "BatchJob"),
        "metadata": {k: meta[k] for k in _KEPT_METADATA if k in meta},
    }


def version(obj: Obj) -> int:
    """The resourceVersion as a number (-1 when it is not one)."""
    text = obj.get("metadata", {}).get("resourceVersion", "")
    return int(text) if str(text).isdigit() else -1


def is_stale(new: Obj, old: Obj | None) -> bool:
    """Whether `new` is not newer than what is held (a watch replaying an old version)."""
    return old is not None and 0 <= version(new) <= version(old)


@dataclass(frozen=True, kw_only=True)
class EnvironmentRules:
    """What the engine knows of autoscaling providers, to validate environments."""

    default_provider: str
    providers: frozenset[str]
    tolerations: Mapping[str, tuple[Mapping[str, str], ...]]
    checks: Mapping[str, Callable[[Mapping[str, Any]], str | None]]


def read_environment(obj: Obj, rules: EnvironmentRules) -> EnvState:
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return EnvState(obj=obj, model=None, valid=False, reason="; ".join(e.errors))
    assert isinstance(model, ComputeEnvironment)
    spec = model.spec
    resources = spec.compute_resources
    managed = spec.type == ComputeEnvironmentType.MANAGED
    provider = (
        spec.provider.name
        if spec.provider
        else (rules.default_provider if managed else "unmanaged")
    )
    state = EnvState(obj=obj, model=model, valid=True, reason=None, provider=provider)
    state.cluster = spec.cluster.name if spec.cluster else ""
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
    ) + tuple(rules.tolerations.get(provider, ()))
    if provider not in rules.providers:
        known = ", ".join(sorted(rules.providers))
        state.valid = False
        state.reason = f"unknown autoscaling provider {provider!r} (known: {known})"
        return state
    check = rules.checks.get(provider)
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


def read_queue(obj: Obj) -> QueueState:
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return QueueState(obj=obj, model=None, valid=False, reason="; ".join(e.errors))
    assert isinstance(model, JobQueue)
    return QueueState(obj=obj, model=model, valid=True, reason=None)


def read_policy(obj: Obj) -> SchedulingPolicy | str:
    """The policy, or why it is invalid."""
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return "; ".join(e.errors)
    assert isinstance(model, SchedulingPolicy)
    return model


def read_definition(obj: Obj) -> JobDefinition | str:
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return "; ".join(e.errors)
    assert isinstance(model, JobDefinition)
    return model


def read_revision(obj: Obj) -> tuple[str, int, str, JobDefinitionSpec] | None:
    """A ControllerRevision holding one revision of a job definition:
    (definition name, revision, hash, spec); None when it is not one of ours."""
    meta = obj["metadata"]
    name = (meta.get("labels") or {}).get(LABEL_DEFINITION)
    if not name:
        return None
    try:
        spec = JobDefinitionSpec.model_validate(obj.get("data") or {})
    except ValidationError:
        return None
    digest = (meta.get("annotations") or {}).get(ANNOTATION_REVISION_HASH) or revision_hash(spec)
    return name, int(obj.get("revision", 0)), digest, spec


def read_job(obj: Obj, now: datetime) -> tuple[JobState, BatchJob | None, str | None]:
    """The job's state (a record, restored from its status when it has one), its model, and
    why it is invalid (then the record is None)."""
    meta = obj["metadata"]
    annotations = meta.get("annotations") or NO_ANNOTATIONS  # most jobs have none: one for all
    state = JobState(
        obj=slim(obj),
        record=None,
        generation=int(meta.get("generation") or 0),
        annotations=annotations,
    )
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return state, None, "invalid BatchJob: " + "; ".join(e.errors)
    assert isinstance(model, BatchJob)
    created = model.metadata.creation_timestamp or now
    created = created.astimezone(UTC)  # the one UTC, not a timezone object per parsed time
    key = (meta["namespace"], meta["name"])
    uid = meta.get("uid", "")
    spec = SPECS.share(obj.get("spec"), model.spec)
    if model.status.status is not None:
        state.record = restore_record(
            key[0], key[1], uid, spec, created, model.status, state.generation
        )
    else:
        state.record = JobRecord(
            namespace=key[0], name=key[1], uid=uid, spec=spec, created_at=created
        )
    return state, model, None


class SharedSpecs:
    """Jobs submitted alike (same queue, definition, parameters...) share one spec model:
    specs are immutable once submitted (the CRD's rules) and never changed in place, and a
    queue of 100,000 jobs would otherwise hold 100,000 equal copies (about 1 KiB each). The
    most recent `size` distinct specs are kept."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.models: OrderedDict[str, BatchJobSpec] = OrderedDict()

    def share(self, raw: Any, model: BatchJobSpec) -> BatchJobSpec:
        try:
            key = json.dumps(raw, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return model
        found = self.models.get(key)
        if found is not None:
            self.models.move_to_end(key)
            return found
        self.models[key] = model
        if len(self.models) > self.size:
            self.models.popitem(last=False)
        return model


SPECS = SharedSpecs()


def read_job_spec(obj: Obj) -> BatchJob | None:
    """The job's model, or None when it is invalid."""
    try:
        model = parse(obj)
    except InvalidManifest:
        return None
    assert isinstance(model, BatchJob)
    return model


def read_schedule(obj: Obj) -> ScheduledJob | str:
    try:
        model = parse(obj)
    except InvalidManifest as e:
        return "; ".join(e.errors)
    assert isinstance(model, ScheduledJob)
    return model


CONDITION_TAINTS = frozenset(
    f"node.kubernetes.io/{key}"
    for key in (
        "not-ready",
        "unreachable",
        "memory-pressure",
        "disk-pressure",
        "pid-pressure",
        "network-unavailable",
    )
)
"""The taints the node lifecycle controller puts on a node for its conditions. Kubatch's pods
tolerate none of them (only their environment's and provider's taints): while a node has
one, the kube-scheduler binds none of its pods there. It may outlast the condition: a lift
the API server refused is not tried again before the node's next update."""


def _condition_tainted(spec: Obj) -> bool:
    return any(
        t.get("key") in CONDITION_TAINTS and t.get("effect") in ("NoSchedule", "NoExecute")
        for t in spec.get("taints") or []
    )


def read_node(obj: Obj) -> NodeState:
    """A node is ready for pods when it says Ready and the scheduler would bind there (no
    condition taint left on it)."""
    meta = obj["metadata"]
    status = obj.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return NodeState(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        allocatable=Resources(
            quantity_millis(allocatable.get("cpu", 0)),
            quantity_int(allocatable.get("memory", 0)),
            quantity_int(allocatable.get(GPU_RESOURCE, 0)),
        ),
        pod_slots=quantity_int(allocatable.get("pods", PODS_PER_NODE)),
        ready=conditions.get("Ready") == "True" and not _condition_tainted(obj.get("spec") or {}),
        schedulable=not (obj.get("spec") or {}).get("unschedulable", False),
        deleting=bool(meta.get("deletionTimestamp")),
        shape=(meta.get("labels") or {}).get(LABEL_INSTANCE_TYPE),
        created=parse_time(meta.get("creationTimestamp")),
    )


def pod_requests(pod: Obj) -> Resources:
    """What a pod holds on its node, as the kube-scheduler counts it: its containers'
    requests (a limit stands in for a missing request), or its largest init container's if
    that is more, plus the pod's overhead."""

    def of(container: Obj) -> Resources:
        resources = container.get("resources") or {}
        requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return Resources(
            quantity_millis(requests["cpu"]) if "cpu" in requests else 0,
            quantity_int(requests["memory"]) if "memory" in requests else 0,
            quantity_int(requests.get(GPU_RESOURCE, 0)),
        )

    spec = pod.get("spec") or {}
    total = Resources()
    for container in spec.get("containers") or []:
        total = total + of(container)
    for container in spec.get("initContainers") or []:
        init = of(container)
        total = Resources(
            max(total.millicpu, init.millicpu),
            max(total.memory, init.memory),
            max(total.gpus, init.gpus),
        )
    overhead = spec.get("overhead") or {}
    if overhead:
        total = total + of({"resources": {"requests": overhead}})
    return total


def read_pod(obj: Obj, job: tuple[str, str] | None, gone: bool = False) -> PodState:
    meta = obj["metadata"]
    phase = (obj.get("status") or {}).get("phase")
    owners = meta.get("ownerReferences") or []
    return PodState(
        key=f"{meta.get('namespace')}/{meta['name']}",
        node=(obj.get("spec") or {}).get("nodeName"),
        requests=pod_requests(obj),
        active=not gone and phase not in ("Succeeded", "Failed"),
        job=job,
        keeps_node=not any(o.get("kind") == "DaemonSet" for o in owners),
        labels=meta.get("labels") if job is not None else None,
    )


def tombstone(pod: PodState) -> Obj:
    """What is left of a pod that a new listing lacks (deleted while nobody watched): its
    name, labels and node, to be observed as gone."""
    namespace, _, name = pod.key.partition("/")
    metadata = {"namespace": namespace, "name": name, "labels": dict(pod.labels or {})}
    return {"metadata": metadata, "spec": {"nodeName": pod.node}}


def job_uid_of(pod: Obj) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(LABEL_JOB_UID)


def unscheduled_message(pod: Obj) -> str | None:
    """Why the scheduler has not placed a pod (its PodScheduled=False condition), if it said."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "")
    return None
