"""SubmitJob's request -> a BatchJob manifest, and a BatchJob (or one child, or one node)
in DescribeJobs' and ListJobs' shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...api.batchjob import (
    MAX_ARRAY_SIZE,
    MAX_DEPENDENCIES,
    AttemptDetail,
    BatchJobSpec,
    BatchJobStatus,
    NodeDetail,
)
from ...api.common import API_VERSION, JOB_STATES, TERMINAL, JobStatus, Obj
from ...api.eks import EksPodProperties
from ...core import Refused, Revision, parse_ranges, resolve_job
from ...keys import ANNOTATION_AWS_NAME, SIM_PREFIX
from ..errors import ClientError
from ..names import (
    Arns,
    check_name,
    generate_name,
    object_name,
)
from .common import aws_name, drop_none, expect, millis, string_map, tags_of
from .consumables import consumables_detail, consumables_spec
from .containers import container_detail, requirements
from .definitions import retry_detail

UNSUPPORTED_SUBMIT = ("ecsPropertiesOverride",)


def definition_reference(value: Any, arns: Arns) -> str:
    """ "name", "name:3" or an ARN -> the job's spec.jobDefinition."""
    ref = arns.parse("job-definition", value, "jobDefinition")
    name, _, revision = ref.partition(":")
    check_name("jobDefinition", name)
    if revision and not revision.isdigit():
        raise ClientError(f"jobDefinition: revision must be a number; got {revision!r}")
    return object_name(name) + (f":{int(revision)}" if revision else "")


def _overrides(value: Any, field: str = "containerOverrides") -> Obj | None:
    overrides = expect(value, dict, field, "an object")
    if not overrides:
        return None
    unsupported = [k for k in ("instanceType",) if overrides.get(k)]
    if unsupported:
        raise ClientError(f"{field}.{unsupported[0]} is not supported by Kubatch")
    return drop_none(
        {
            "command": overrides.get("command"),
            "environment": overrides.get("environment") or [],
            **requirements(overrides, field),
        }
    )


def _node_overrides(value: Any) -> Obj | None:
    """SubmitJob's nodeOverrides (a multi-node job's node count and containers by range)."""
    overrides = expect(value, dict, "nodeOverrides", "an object")
    if not overrides:
        return None
    ranges = expect(
        overrides.get("nodePropertyOverrides"),
        list,
        "nodeOverrides.nodePropertyOverrides",
        "a list",
    )
    return drop_none(
        {
            "numNodes": overrides.get("numNodes"),
            "nodePropertyOverrides": [
                {
                    "targetNodes": entry.get("targetNodes"),
                    "containerOverrides": _overrides(
                        entry.get("containerOverrides"),
                        f"nodeOverrides.nodePropertyOverrides[{i}].containerOverrides",
                    )
                    or {},
                }
                for i, entry in enumerate(ranges or [])
            ]
            or None,
        }
    )


def job_manifest(
    request: Obj, arns: Arns, dependency: Callable[[str], str], queue_name: str
) -> Obj:
    """SubmitJob's request -> a BatchJob manifest (generateName; the AWS name annotated).
    `dependency` maps a jobId ("<uid>" or "<uid>:<index>") to the job's reference in the
    namespace, or raises ClientError."""
    for field in UNSUPPORTED_SUBMIT:
        if request.get(field) is not None:
            raise ClientError(f"{field} is not supported by Kubatch")
    name = check_name("jobName", request.get("jobName"))
    depends = expect(request.get("dependsOn"), list, "dependsOn", "a list") or []
    if len(depends) > MAX_DEPENDENCIES:
        raise ClientError(f"dependsOn may hold at most {MAX_DEPENDENCIES} jobs; got {len(depends)}")
    depends_on = []
    for i, entry in enumerate(depends):
        kind = entry.get("type")
        if kind not in (None, "N_TO_N", "SEQUENTIAL"):
            raise ClientError(f"dependsOn[{i}].type must be N_TO_N or SEQUENTIAL; got {kind!r}")
        job_id = entry.get("jobId")
        if kind == "SEQUENTIAL":
            depends_on.append({"type": kind})
            continue
        if not isinstance(job_id, str) or not job_id:
            raise ClientError(f"dependsOn[{i}].jobId is required")
        depends_on.append(drop_none({"jobName": dependency(job_id), "type": kind}))
    array = expect(request.get("arrayProperties"), dict, "arrayProperties", "an object")
    if array:
        size = array.get("size")
        if not isinstance(size, int) or not 2 <= size <= MAX_ARRAY_SIZE:
            raise ClientError(
                f"arrayProperties.size must be between 2 and {MAX_ARRAY_SIZE}; got {size!r}"
            )
    spec = drop_none(
        {
            "jobQueue": queue_name,
            "jobDefinition": definition_reference(request.get("jobDefinition"), arns),
            "parameters": string_map(request.get("parameters"), "parameters") or None,
            "containerOverrides": _overrides(request.get("containerOverrides")),
            "nodeOverrides": _node_overrides(request.get("nodeOverrides")),
            "eksPropertiesOverride": expect(
                request.get("eksPropertiesOverride"), dict, "eksPropertiesOverride", "an object"
            ),
            "consumableResourcePropertiesOverride": consumables_spec(
                request.get("consumableResourcePropertiesOverride"),
                "consumableResourcePropertiesOverride",
                arns,
            ),
            "arrayProperties": {"size": array["size"]} if array else None,
            "dependsOn": depends_on or None,
            "retryStrategy": request.get("retryStrategy"),
            "timeout": request.get("timeout"),
            "schedulingPriorityOverride": request.get("schedulingPriorityOverride"),
            "shareIdentifier": request.get("shareIdentifier"),
            "tags": string_map(request.get("tags"), "tags") or None,
            "propagateTags": request.get("propagateTags"),
        }
    )
    # On a simulated cluster, tags named sim.kubatch.io/... are the job's simulation
    # instructions (annotations on a BatchJob), so AWS clients can drive the simulation too.
    simulated = {k: v for k, v in (spec.get("tags") or {}).items() if k.startswith(SIM_PREFIX)}
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchJob",
        "metadata": {
            "generateName": generate_name(name),
            "annotations": {ANNOTATION_AWS_NAME: name, **simulated},
        },
        "spec": spec,
    }


@dataclass(frozen=True, kw_only=True)
class Children:
    """A job's status read once (through its model), with an array's children: the state of
    each index and the attempts listed per index (ListJobs by arrayJobId shows 10,000
    children from one read)."""

    status: BatchJobStatus
    states: list[str]
    attempts: dict[int | None, list[AttemptDetail | NodeDetail]]


def children(obj: Obj, size: int) -> Children:
    """`obj`'s status and its `size` children (none for a single job)."""
    status = BatchJobStatus.of(obj)
    parent = status.status or JobStatus.SUBMITTED
    waiting = parent if parent in (JobStatus.SUBMITTED, JobStatus.PENDING) else JobStatus.PENDING
    states: list[str] = [str(waiting)] * size
    for state, ranges in (
        status.array_properties.indexes if status.array_properties else {}
    ).items():
        for index in parse_ranges(ranges, size) if ranges else ():
            if 0 <= index < size:
                states[index] = str(state)
    attempts: dict[int | None, list[AttemptDetail | NodeDetail]] = {}
    for attempt in status.attempts:
        attempts.setdefault(attempt.array_index, []).append(attempt)
    return Children(status=status, states=states, attempts=attempts)


def node_status(obj: Obj) -> dict[int, NodeDetail]:
    """A multi-node job's nodes by index, as its status lists them (empty for other jobs)."""
    nodes = BatchJobStatus.of(obj).node_properties
    return {n.node_index: n for n in nodes.nodes} if nodes else {}


def _attempts(attempts: list[AttemptDetail | NodeDetail]) -> list[Obj]:
    return [
        drop_none(
            {
                "container": drop_none(
                    {
                        "exitCode": attempt.exit_code,
                        "reason": attempt.reason,
                        "logStreamName": attempt.pod_name,
                        "containerInstanceArn": attempt.node_name,
                        "taskArn": attempt.pod_name,
                    }
                ),
                "startedAt": millis(attempt.started_at),
                "stoppedAt": millis(attempt.stopped_at),
                "statusReason": attempt.status_reason,
            }
        )
        for attempt in attempts
    ]


def job_detail(
    obj: Obj,
    arns: Arns,
    revision: Revision | None,
    definition_name: str,
    dependency_id: Callable[[str], str],
    index: int | None = None,
    queue_name: str | None = None,
    kids: Children | None = None,
    node: int | None = None,
    names: dict[str, str] | None = None,
) -> Obj:
    """A BatchJob (or, with `index`, one child of it; with `node`, one node of a multi-node
    job) in DescribeJobs' shape; `names` maps consumable resources' object names to their AWS
    names. `dependency_id` maps a dependency's reference in the
    namespace to its jobId; `kids` are the job's status and children when the caller read
    them already."""
    spec = obj.get("spec") or {}
    uid = obj["metadata"]["uid"]
    job_id = uid if index is None else f"{uid}:{index}"
    size = (spec.get("arrayProperties") or {}).get("size") or 0
    if kids is None:
        kids = children(obj, size)
    status = kids.status
    state = (status.status or JobStatus.SUBMITTED) if index is None else kids.states[index]
    attempts = _attempts(kids.attempts.get(index if size else None, []))
    nodes = (
        {n.node_index: n for n in status.node_properties.nodes} if status.node_properties else {}
    )
    shown = nodes.get(node) if node is not None else None
    if node is not None:
        job_id, index = f"{uid}#{node}", None
        state = shown.status if shown else state
        attempts = _attempts([shown] if shown and shown.attempt else [])
    last = attempts[-1] if attempts else {}
    if not attempts and state == JobStatus.SUCCEEDED:
        # A child that succeeded at its first attempt (not listed, to keep the status small):
        # a success is an exit code 0.
        last = {"container": {"exitCode": 0}}
    number = status.job_definition_revision or (revision.number if revision else None)
    ended = last.get("container") or {}
    # ListJobs reads no revision: its summaries still say how the job ended.
    container: Obj | None = (
        drop_none({"exitCode": ended.get("exitCode"), "reason": ended.get("reason")}) or None
    )
    node_properties = None
    consumables: Obj | None = None
    eks: Obj | None = None
    eks_attempts: list[Obj] | None = None
    if revision is not None:
        resolved = resolve_job(BatchJobSpec.model_validate(spec), revision)
        if not isinstance(resolved, Refused) and resolved.consumables:
            needs = [{"consumableResource": n, "quantity": q} for n, q in resolved.consumables]
            consumables = consumables_detail({"consumableResourceList": needs}, arns, names)
        if not isinstance(resolved, Refused) and resolved.multinode and node is None:
            container = None  # a multi-node job's containers are its nodes'
            node_properties = {
                "numNodes": resolved.num_nodes,
                "mainNode": resolved.main_node,
                "nodeRangeProperties": [
                    {
                        "targetNodes": f"{g.first}:{g.last}",
                        "container": container_detail(g.container.wire(), arns),
                    }
                    for g in resolved.node_groups
                ],
            }
        elif not isinstance(resolved, Refused) and resolved.eks is not None:
            container = None  # an EKS-style job's containers are its pod's
            eks, eks_attempts = _eks_detail(
                resolved.eks, kids.attempts.get(index if size else None, []), obj
            )
        elif not isinstance(resolved, Refused):
            container = container_detail(resolved.for_node(node).container.wire(), arns)
            container.update(
                drop_none(
                    {
                        "exitCode": (last.get("container") or {}).get("exitCode"),
                        "reason": (last.get("container") or {}).get("reason"),
                        "logStreamName": (last.get("container") or {}).get("logStreamName"),
                    }
                )
            )
    array = spec.get("arrayProperties")
    if array and index is None:
        summary = status.array_properties.status_summary.wire() if status.array_properties else {}
        array_out: Obj | None = {
            "size": array["size"],
            "statusSummary": {s: int(summary.get(s, 0)) for s in JOB_STATES},
        }
    elif array:
        array_out = {"index": index}
    else:
        array_out = None
    created = millis(status.created_at) or millis(obj["metadata"].get("creationTimestamp"))
    reason = status.status_reason
    if index is not None:
        reason = (attempts[-1].get("statusReason") if attempts else None) or (
            reason if state in TERMINAL else None
        )
    started = millis(status.started_at) if index is None else last.get("startedAt")
    stopped = millis(status.stopped_at) if index is None else last.get("stoppedAt")
    if node is not None:
        reason = shown.status_reason if shown else None
        started, stopped = last.get("startedAt"), last.get("stoppedAt")
    return drop_none(
        {
            "jobArn": arns.arn("job", job_id),
            "jobName": aws_name(obj),
            "jobId": job_id,
            "jobQueue": arns.arn("job-queue", queue_name or spec.get("jobQueue", "")),
            "status": state,
            "shareIdentifier": spec.get("shareIdentifier"),
            "schedulingPriority": spec.get("schedulingPriorityOverride"),
            "attempts": attempts,
            "statusReason": reason,
            "createdAt": created,
            "retryStrategy": retry_detail(spec.get("retryStrategy"))
            or (retry_detail(revision.spec.wire().get("retryStrategy")) if revision else None),
            "startedAt": started,
            "stoppedAt": stopped,
            "dependsOn": [
                drop_none(
                    {
                        "jobId": dependency_id(d["jobName"]) if d.get("jobName") else None,
                        "type": d.get("type"),
                    }
                )
                for d in spec.get("dependsOn") or []
            ],
            "jobDefinition": arns.arn(
                "job-definition", definition_name + (f":{number}" if number else "")
            ),
            "parameters": spec.get("parameters") or {},
            "container": container,
            "arrayProperties": array_out,
            "nodeProperties": node_properties,
            "nodeDetails": None
            if node is None
            else {
                "nodeIndex": node,
                "isMainNode": bool(shown and shown.is_main_node),
            },
            "timeout": spec.get("timeout"),
            "tags": tags_of(obj),
            "propagateTags": spec.get("propagateTags"),
            "platformCapabilities": [str(p) for p in revision.spec.platform_capabilities]
            if revision and revision.spec.platform_capabilities
            else ["EC2"],
            "consumableResourceProperties": consumables,
            "eksProperties": eks,
            "eksAttempts": eks_attempts,
            "isCancelled": bool(spec.get("cancel")) or None,
            "isTerminated": bool(spec.get("terminate")) or None,
        }
    )


def _eks_detail(
    pod: EksPodProperties, attempts: list[AttemptDetail | NodeDetail], obj: Obj
) -> tuple[Obj, list[Obj]]:
    """An EKS-style job's eksProperties (its pod as it runs, the essential container's exit
    with the latest attempt) and eksAttempts."""
    essential = str(pod.containers[0].name)
    detail = pod.wire()
    last = attempts[-1] if attempts else None
    if last is not None:
        detail["containers"][0].update(
            drop_none({"exitCode": last.exit_code, "reason": last.reason})
        )
        detail.update(drop_none({"podName": last.pod_name, "nodeName": last.node_name}))
    found = [
        drop_none(
            {
                "containers": [
                    drop_none({"name": essential, "exitCode": a.exit_code, "reason": a.reason})
                ],
                "podName": a.pod_name,
                "podNamespace": obj["metadata"]["namespace"],
                "nodeName": a.node_name,
                "startedAt": millis(a.started_at),
                "stoppedAt": millis(a.stopped_at),
                "statusReason": a.status_reason,
            }
        )
        for a in attempts
    ]
    return {"podProperties": detail}, found


def job_summary(detail: Obj) -> Obj:
    """ListJobs' shape of a job, from its DescribeJobs shape."""
    container = detail.get("container") or {}
    return drop_none(
        {
            "jobArn": detail["jobArn"],
            "jobId": detail["jobId"],
            "jobName": detail["jobName"],
            "createdAt": detail.get("createdAt"),
            "status": detail["status"],
            "statusReason": detail.get("statusReason"),
            "startedAt": detail.get("startedAt"),
            "stoppedAt": detail.get("stoppedAt"),
            "container": drop_none(
                {"exitCode": container.get("exitCode"), "reason": container.get("reason")}
            )
            or None,
            "arrayProperties": drop_none(
                {
                    "size": (detail.get("arrayProperties") or {}).get("size"),
                    "index": (detail.get("arrayProperties") or {}).get("index"),
                }
            )
            or None,
            "nodeProperties": drop_none(
                {
                    "isMainNode": (detail.get("nodeDetails") or {}).get("isMainNode"),
                    "numNodes": (detail.get("nodeProperties") or {}).get("numNodes"),
                    "nodeIndex": (detail.get("nodeDetails") or {}).get("nodeIndex"),
                }
            )
            or None,
            "jobDefinition": detail.get("jobDefinition"),
        }
    )
