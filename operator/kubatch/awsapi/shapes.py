"""AWS Batch request and response shapes <-> Kubatch's custom resources (pure: no I/O).

Field names are AWS's own; most of Kubatch's spec fields already carry them (retryStrategy,
evaluateOnExit, timeout, parameters, resourceRequirements...), so a translation is mostly a
selection. What has no meaning on Kubernetes (log drivers, IAM execution roles, Fargate
platform settings, ulimits) is accepted and ignored, as the README says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api.batchjob import MAX_ARRAY_SIZE, MAX_DEPENDENCIES, BatchJobSpec
from ..api.common import API_VERSION, JOB_STATES, TERMINAL, JobStatus, Obj
from ..core import Refused, Revision, parse_ranges, resolve_job
from ..keys import ANNOTATION_AWS_NAME, ANNOTATION_AWS_TAGS, SIM_PREFIX
from .errors import ClientError
from .names import (
    Arns,
    check_name,
    generate_name,
    object_name,
)

UNSUPPORTED_SUBMIT = ("nodeOverrides", "eksPropertiesOverride", "ecsPropertiesOverride")
UNSUPPORTED_REGISTER = ("eksProperties", "ecsProperties", "consumableResourceProperties")


# -- small helpers -----------------------------------------------------------------------------


def millis(value: str | None) -> int | None:
    """An RFC 3339 time (as Kubernetes writes it) as AWS's epoch milliseconds."""
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def drop_none(values: Mapping[str, Any]) -> Obj:
    return {k: v for k, v in values.items() if v is not None}


def aws_name(obj: Obj) -> str:
    meta = obj["metadata"]
    return str((meta.get("annotations") or {}).get(ANNOTATION_AWS_NAME) or meta["name"])


def tags_of(obj: Obj) -> dict[str, str]:
    """A resource's tags: those set through TagResource once any were, else its spec's."""
    annotated = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_AWS_TAGS)
    if annotated is not None:
        found: dict[str, str] = json.loads(annotated)
        return found
    return dict((obj.get("spec") or {}).get("tags") or {})


def expect(value: Any, kind: type | tuple[type, ...], field: str, what: str) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ClientError(f"{field} must be {what}")
    return value


def string_map(value: Any, field: str) -> dict[str, str]:
    expect(value, dict, field, "a map of strings")
    if value and not all(isinstance(v, str) for v in value.values()):
        raise ClientError(f"{field} must be a map of strings")
    return dict(value or {})


# -- containers --------------------------------------------------------------------------------


def _requirements(container: Obj, field: str) -> list[Obj]:
    requirements = [
        dict(r)
        for r in expect(
            container.get("resourceRequirements"), list, field + ".resourceRequirements", "a list"
        )
        or []
    ]
    kinds = {r.get("type") for r in requirements}
    for legacy, kind in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        value = container.get(legacy)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ClientError(f"{field}.{legacy} must be a whole number")
        if kind in kinds:
            raise ClientError(
                f"{field}: give {kind} either in {legacy} or in resourceRequirements, not both"
            )
        requirements.append({"type": kind, "value": str(value)})
    return requirements


def _role_name(arn: str) -> str:
    return object_name(arn.rsplit("/", 1)[-1] if "/" in arn else arn)


def container_spec(container: Any, field: str) -> Obj:
    """AWS containerProperties -> Kubatch's containerProperties."""
    expect(container, dict, field, "an object")
    if not container or not isinstance(container.get("image"), str) or not container["image"]:
        raise ClientError(f"{field}.image is required")
    volumes = []
    for i, volume in enumerate(
        expect(container.get("volumes"), list, field + ".volumes", "a list") or []
    ):
        name = volume.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError(f"{field}.volumes[{i}].name is required")
        source = (volume.get("host") or {}).get("sourcePath")
        volumes.append(
            {
                "name": object_name(name),
                **({"host": {"sourcePath": source}} if source else {"emptyDir": {}}),
            }
        )
    mounts = [
        drop_none(
            {
                "sourceVolume": object_name(str(m.get("sourceVolume") or "")),
                "containerPath": m.get("containerPath"),
                "readOnly": m.get("readOnly"),
            }
        )
        for m in expect(container.get("mountPoints"), list, field + ".mountPoints", "a list") or []
    ]
    linux = container.get("linuxParameters") or {}
    spec = {
        "image": container["image"],
        "command": container.get("command"),
        "environment": container.get("environment") or None,
        "resourceRequirements": _requirements(container, field) or None,
        "volumes": volumes or None,
        "mountPoints": mounts or None,
        "secrets": container.get("secrets") or None,
        "privileged": container.get("privileged"),
        "readonlyRootFilesystem": container.get("readonlyRootFilesystem"),
        "user": container.get("user"),
        "serviceAccountName": _role_name(container["jobRoleArn"])
        if container.get("jobRoleArn")
        else None,
        "linuxParameters": drop_none(
            {
                "sharedMemorySize": linux.get("sharedMemorySize"),
                "initProcessEnabled": linux.get("initProcessEnabled"),
            }
        )
        or None,
    }
    return drop_none(spec)


def container_detail(spec: Obj, arns: Arns) -> Obj:
    """Kubatch's containerProperties -> AWS's."""
    return drop_none(
        {
            "image": spec.get("image"),
            "command": spec.get("command") or [],
            "environment": spec.get("environment") or [],
            "resourceRequirements": spec.get("resourceRequirements") or [],
            "volumes": [
                drop_none({"name": v["name"], "host": v.get("host")})
                for v in spec.get("volumes") or []
            ],
            "mountPoints": spec.get("mountPoints") or [],
            "secrets": spec.get("secrets") or [],
            "privileged": spec.get("privileged"),
            "readonlyRootFilesystem": spec.get("readonlyRootFilesystem"),
            "user": spec.get("user"),
            "jobRoleArn": f"arn:aws:iam::{arns.account}:role/{spec['serviceAccountName']}"
            if spec.get("serviceAccountName")
            else None,
            "linuxParameters": spec.get("linuxParameters"),
            "ulimits": [],
        }
    )


# -- job definitions ---------------------------------------------------------------------------


def definition_spec(request: Obj) -> Obj:
    """RegisterJobDefinition's request -> a JobDefinition spec."""
    for field in UNSUPPORTED_REGISTER:
        if request.get(field) is not None:
            raise ClientError(f"{field} is not supported by Kubatch: use containerProperties")
    kind = request.get("type")
    if kind not in ("container", "multinode"):
        raise ClientError(f"type must be container or multinode; got {kind!r}")
    spec: Obj = {
        "type": kind,
        "parameters": string_map(request.get("parameters"), "parameters") or None,
        "schedulingPriority": request.get("schedulingPriority"),
        "retryStrategy": request.get("retryStrategy"),
        "timeout": request.get("timeout"),
        "tags": string_map(request.get("tags"), "tags") or None,
        "propagateTags": request.get("propagateTags"),
    }
    if kind == "container":
        if request.get("nodeProperties") is not None:
            raise ClientError("type container takes containerProperties, not nodeProperties")
        spec["containerProperties"] = container_spec(
            request.get("containerProperties"), "containerProperties"
        )
    else:
        nodes = expect(request.get("nodeProperties"), dict, "nodeProperties", "an object")
        if not nodes:
            raise ClientError("type multinode requires nodeProperties")
        spec["nodeProperties"] = drop_none(
            {
                "numNodes": nodes.get("numNodes"),
                "mainNode": nodes.get("mainNode"),
                "nodeRangeProperties": [
                    {
                        "targetNodes": r.get("targetNodes"),
                        "container": container_spec(
                            r.get("container"), f"nodeProperties.nodeRangeProperties[{i}].container"
                        ),
                    }
                    for i, r in enumerate(nodes.get("nodeRangeProperties") or [])
                ],
            }
        )
    return drop_none(spec)


def definition_detail(
    name: str, revision: int, spec: Obj, active: bool, tags: Mapping[str, str], arns: Arns
) -> Obj:
    """One revision of a JobDefinition in DescribeJobDefinitions' shape."""
    nodes = spec.get("nodeProperties")
    return drop_none(
        {
            "jobDefinitionName": name,
            "jobDefinitionArn": arns.arn("job-definition", f"{name}:{revision}"),
            "revision": revision,
            "status": "ACTIVE" if active else "INACTIVE",
            "type": spec.get("type", "container"),
            "parameters": spec.get("parameters") or {},
            "schedulingPriority": spec.get("schedulingPriority"),
            "retryStrategy": spec.get("retryStrategy"),
            "timeout": spec.get("timeout"),
            "containerProperties": container_detail(spec["containerProperties"], arns)
            if spec.get("containerProperties")
            else None,
            "nodeProperties": {
                "numNodes": nodes["numNodes"],
                "mainNode": nodes.get("mainNode", 0),
                "nodeRangeProperties": [
                    {
                        "targetNodes": r["targetNodes"],
                        "container": container_detail(r["container"], arns),
                    }
                    for r in nodes["nodeRangeProperties"]
                ],
            }
            if nodes
            else None,
            "tags": dict(tags),
            "propagateTags": spec.get("propagateTags", False),
            "platformCapabilities": ["EC2"],
            "containerOrchestrationType": "EKS",
        }
    )


# -- jobs ----------------------------------------------------------------------------------------


def definition_reference(value: Any, arns: Arns) -> str:
    """ "name", "name:3" or an ARN -> the job's spec.jobDefinition."""
    ref = arns.parse("job-definition", value, "jobDefinition")
    name, _, revision = ref.partition(":")
    check_name("jobDefinition", name)
    if revision and not revision.isdigit():
        raise ClientError(f"jobDefinition: revision must be a number; got {revision!r}")
    return object_name(name) + (f":{int(revision)}" if revision else "")


def _overrides(value: Any) -> Obj | None:
    overrides = expect(value, dict, "containerOverrides", "an object")
    if not overrides:
        return None
    unsupported = [k for k in ("instanceType",) if overrides.get(k)]
    if unsupported:
        raise ClientError(f"containerOverrides.{unsupported[0]} is not supported by Kubatch")
    return drop_none(
        {
            "command": overrides.get("command"),
            "environment": overrides.get("environment") or [],
            "resourceRequirements": _requirements(overrides, "containerOverrides") or None,
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


@dataclass(frozen=True)
class Children:
    """An array job's children, read once from its status: the state of each index and the
    attempts listed per index (ListJobs by arrayJobId shows 10,000 children from it)."""

    states: list[str]
    attempts: dict[int | None, list[Obj]]


def children(status: Obj, size: int) -> Children:
    array = status.get("arrayProperties") or {}
    parent = status.get("status") or JobStatus.SUBMITTED
    states = [
        JobStatus.PENDING if parent not in (JobStatus.SUBMITTED, JobStatus.PENDING) else parent
    ] * size
    for state, ranges in (array.get("indexes") or {}).items():
        for index in parse_ranges(ranges, size) if ranges else ():
            if 0 <= index < size:
                states[index] = str(state)
    attempts: dict[int | None, list[Obj]] = {}
    for attempt in status.get("attempts") or []:
        attempts.setdefault(attempt.get("arrayIndex"), []).append(attempt)
    return Children(states, attempts)


def node_status(status: Obj) -> dict[int, Obj]:
    """A multi-node job's nodes by index, as its status lists them (empty for other jobs)."""
    nodes = (status.get("nodeProperties") or {}).get("nodes") or []
    return {int(n["nodeIndex"]): n for n in nodes if "nodeIndex" in n}


def _attempts(attempts: list[Obj]) -> list[Obj]:
    return [
        drop_none(
            {
                "container": drop_none(
                    {
                        "exitCode": attempt.get("exitCode"),
                        "reason": attempt.get("reason"),
                        "logStreamName": attempt.get("podName"),
                        "containerInstanceArn": attempt.get("nodeName"),
                        "taskArn": attempt.get("podName"),
                    }
                ),
                "startedAt": millis(attempt.get("startedAt")),
                "stoppedAt": millis(attempt.get("stoppedAt")),
                "statusReason": attempt.get("statusReason"),
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
) -> Obj:
    """A BatchJob (or, with `index`, one child of it; with `node`, one node of a multi-node
    job) in DescribeJobs' shape. `dependency_id` maps a dependency's reference in the
    namespace to its jobId; `kids` are the array's children when the caller read them
    already."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    uid = obj["metadata"]["uid"]
    job_id = uid if index is None else f"{uid}:{index}"
    size = (spec.get("arrayProperties") or {}).get("size") or 0
    if kids is None:
        kids = children(status, size)
    state = (status.get("status") or JobStatus.SUBMITTED) if index is None else kids.states[index]
    attempts = _attempts(kids.attempts.get(index if size else None, []))
    nodes = node_status(status)
    if node is not None:
        job_id, index = f"{uid}#{node}", None
        shown = nodes.get(node) or {}
        state = shown.get("status") or state
        attempts = _attempts([shown] if shown.get("attempt") else [])
    last = attempts[-1] if attempts else {}
    number = status.get("jobDefinitionRevision") or (revision.number if revision else None)
    container = None
    node_properties = None
    if revision is not None:
        resolved = resolve_job(BatchJobSpec.model_validate(spec), revision)
        if not isinstance(resolved, Refused) and resolved.multinode and node is None:
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
        summary = dict(((status.get("arrayProperties") or {}).get("statusSummary")) or {})
        array_out: Obj | None = {
            "size": array["size"],
            "statusSummary": {s: int(summary.get(s, 0)) for s in JOB_STATES},
        }
    elif array:
        array_out = {"index": index}
    else:
        array_out = None
    created = millis(obj["metadata"].get("creationTimestamp"))
    reason = status.get("statusReason")
    if index is not None:
        reason = (attempts[-1].get("statusReason") if attempts else None) or (
            reason if state in TERMINAL else None
        )
    started = millis(status.get("startedAt")) if index is None else last.get("startedAt")
    stopped = millis(status.get("stoppedAt")) if index is None else last.get("stoppedAt")
    if node is not None:
        reason = (nodes.get(node) or {}).get("statusReason")
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
            "retryStrategy": spec.get("retryStrategy"),
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
                "isMainNode": node == (status.get("nodeProperties") or {}).get("mainNode"),
            },
            "timeout": spec.get("timeout"),
            "tags": tags_of(obj),
            "propagateTags": spec.get("propagateTags"),
            "platformCapabilities": ["EC2"],
            "isCancelled": bool(spec.get("cancel")) or None,
            "isTerminated": bool(spec.get("terminate")) or None,
        }
    )


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


# -- compute environments, queues, scheduling policies -------------------------------------------


def environment_spec(request: Obj, update: bool = False) -> Obj:
    """Create/UpdateComputeEnvironment's request -> a ComputeEnvironment spec (a merge patch
    of the spec when `update`)."""
    compute = expect(request.get("computeResources"), dict, "computeResources", "an object")
    resources = None
    if compute:
        resources = drop_none(
            {
                "type": compute.get("type"),
                "minvCpus": compute.get("minvCpus"),
                "maxvCpus": compute.get("maxvCpus"),
                "desiredvCpus": compute.get("desiredvCpus"),
                "instanceTypes": compute.get("instanceTypes"),
                "allocationStrategy": compute.get("allocationStrategy"),
                "bidPercentage": compute.get("bidPercentage"),
            }
        )
    spec = drop_none(
        {
            "type": None if update else request.get("type"),
            "state": request.get("state"),
            "computeResources": resources,
        }
    )
    if not update and spec.get("type") not in ("MANAGED", "UNMANAGED"):
        raise ClientError(f"type must be MANAGED or UNMANAGED; got {request.get('type')!r}")
    if not update and spec["type"] == "MANAGED" and not resources:
        raise ClientError("computeResources is required for a MANAGED compute environment")
    return spec


def environment_detail(obj: Obj, arns: Arns) -> Obj:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    compute = spec.get("computeResources")
    name = aws_name(obj)
    return drop_none(
        {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": arns.arn("compute-environment", name),
            "uuid": obj["metadata"].get("uid"),
            "tags": tags_of(obj),
            "type": spec.get("type", "MANAGED"),
            "state": spec.get("state", "ENABLED"),
            "status": "DELETING"
            if obj["metadata"].get("deletionTimestamp")
            else status.get("status") or "CREATING",
            "statusReason": status.get("statusReason"),
            "computeResources": drop_none(
                {
                    "type": compute.get("type", "EC2"),
                    "minvCpus": compute.get("minvCpus", 0),
                    "maxvCpus": compute["maxvCpus"],
                    "desiredvCpus": status.get("desiredvCpus", compute.get("desiredvCpus")),
                    "instanceTypes": compute.get("instanceTypes", ["optimal"]),
                    "allocationStrategy": compute.get("allocationStrategy", "BEST_FIT"),
                    "bidPercentage": compute.get("bidPercentage"),
                    "subnets": [],
                }
            )
            if compute
            else None,
            "containerOrchestrationType": "EKS",
        }
    )


def queue_spec(request: Obj, arns: Arns, update: bool = False) -> Obj:
    order = expect(
        request.get("computeEnvironmentOrder"), list, "computeEnvironmentOrder", "a list"
    )
    if order is not None and len(order) > 3:
        raise ClientError("computeEnvironmentOrder may hold at most 3 compute environments")
    policy = request.get("schedulingPolicyArn")
    spec = drop_none(
        {
            "priority": request.get("priority"),
            "state": request.get("state"),
            "computeEnvironmentOrder": [
                {
                    "order": entry.get("order"),
                    "computeEnvironment": object_name(
                        arns.parse(
                            "compute-environment",
                            entry.get("computeEnvironment"),
                            f"computeEnvironmentOrder[{i}].computeEnvironment",
                        )
                    ),
                }
                for i, entry in enumerate(order)
            ]
            if order is not None
            else None,
            "schedulingPolicy": object_name(
                arns.parse("scheduling-policy", policy, "schedulingPolicyArn")
            )
            if policy
            else None,
            "jobStateTimeLimitActions": request.get("jobStateTimeLimitActions"),
        }
    )
    if not update and "priority" not in spec:
        raise ClientError("priority is required")
    return spec


def queue_detail(obj: Obj, arns: Arns, names: Mapping[str, str]) -> Obj:
    """`names` maps environment and policy object names to their AWS names."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = aws_name(obj)
    policy = spec.get("schedulingPolicy")
    return drop_none(
        {
            "jobQueueName": name,
            "jobQueueArn": arns.arn("job-queue", name),
            "state": spec.get("state", "ENABLED"),
            "schedulingPolicyArn": arns.arn("scheduling-policy", names.get(policy, policy))
            if policy
            else None,
            "status": "DELETING"
            if obj["metadata"].get("deletionTimestamp")
            else status.get("status") or "CREATING",
            "statusReason": status.get("statusReason"),
            "priority": spec.get("priority"),
            "computeEnvironmentOrder": [
                {
                    "order": e["order"],
                    "computeEnvironment": arns.arn(
                        "compute-environment",
                        names.get(e["computeEnvironment"], e["computeEnvironment"]),
                    ),
                }
                for e in spec.get("computeEnvironmentOrder") or []
            ],
            "tags": tags_of(obj),
            "jobStateTimeLimitActions": spec.get("jobStateTimeLimitActions") or [],
            "jobQueueType": "ECS",
        }
    )


def policy_spec(request: Obj) -> Obj:
    fairshare = expect(request.get("fairsharePolicy"), dict, "fairsharePolicy", "an object")
    return {"fairsharePolicy": dict(fairshare or {})}


def policy_detail(obj: Obj, arns: Arns) -> Obj:
    name = aws_name(obj)
    fairshare = dict((obj.get("spec") or {}).get("fairsharePolicy") or {})
    fairshare.setdefault("shareDecaySeconds", 0)
    fairshare.setdefault("computeReservation", 0)
    fairshare.setdefault("shareDistribution", [])
    return {
        "name": name,
        "arn": arns.arn("scheduling-policy", name),
        "fairsharePolicy": fairshare,
        "tags": tags_of(obj),
    }
