"""Compute environments, job queues and scheduling policies: AWS's requests -> specs, and
the objects in AWS's Describe shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...api.common import Obj
from ...api.computeenvironment import ComputeEnvironmentStatus
from ...api.jobqueue import JobQueueStatus
from ..errors import ClientError
from ..names import (
    Arns,
    object_name,
)
from .common import aws_fields, aws_name, drop_none, expect, tags_of

KEPT_ENVIRONMENT = ("serviceRole", "eksConfiguration", "unmanagedvCpus", "context", "updatePolicy")
"""CreateComputeEnvironment's fields that Kubatch keeps as given (for Describe) but acts on
not: there is no EC2 or ECS under a cluster."""
KEPT_RESOURCES = (
    "instanceRole",
    "subnets",
    "securityGroupIds",
    "ec2KeyPair",
    "imageId",
    "tags",
    "placementGroup",
    "spotIamFleetRole",
    "launchTemplate",
    "ec2Configuration",
    "updateToLatestImageVersion",
)
"""computeResources' fields kept the same way."""


def environment_aws_fields(request: Obj, held: Obj | None = None) -> Obj:
    """What of a Create/UpdateComputeEnvironment request Kubatch keeps as given but has no
    field for (held: what an earlier request kept, which an update changes)."""
    kept = dict(held or {})
    for field in KEPT_ENVIRONMENT:
        if request.get(field) is not None:
            kept[field] = request[field]
    compute = request.get("computeResources") or {}
    resources = dict(kept.get("computeResources") or {})
    for field in KEPT_RESOURCES:
        if compute.get(field) is not None:
            resources[field] = compute[field]
    if resources:
        kept["computeResources"] = resources
    return kept


def check_environment(request: Obj, known_instance_type: Callable[[list[str]], str | None]) -> None:
    """What AWS refuses in CreateComputeEnvironment at once, beside what the model checks: an
    EC2 or SPOT managed environment needs its instance role and its minimum; instance types
    must be known (`known_instance_type` says why some are not, or None)."""
    compute = request.get("computeResources") or {}
    if request.get("type") != "MANAGED" or not compute:
        return
    if compute.get("type", "EC2") in ("EC2", "SPOT"):
        for field in ("instanceRole", "minvCpus"):
            if compute.get(field) is None:
                raise ClientError(
                    f"computeResources.{field} is required for a {compute.get('type', 'EC2')} "
                    "compute environment"
                )
    problem = known_instance_type(list(compute.get("instanceTypes") or []))
    if problem:
        raise ClientError(f"computeResources.instanceTypes: {problem}")


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
    status = ComputeEnvironmentStatus.of(obj)
    compute = spec.get("computeResources")
    name = aws_name(obj)
    kept = aws_fields(obj)
    eks = kept.get("eksConfiguration")
    # AWS runs an ECS environment on an ECS cluster of its own, named after it.
    uid = obj["metadata"].get("uid")
    cluster = f"arn:aws:ecs:{arns.region}:{arns.account}:cluster/{name}_Batch_{uid}"
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
            else status.status or "CREATING",
            "statusReason": status.status_reason,
            "computeResources": drop_none(
                {
                    "type": compute.get("type", "EC2"),
                    "minvCpus": compute.get("minvCpus", 0),
                    "maxvCpus": compute["maxvCpus"],
                    "desiredvCpus": status.desiredv_cpus
                    if "desiredv_cpus" in status.model_fields_set
                    else compute.get("desiredvCpus"),
                    "instanceTypes": compute.get("instanceTypes", ["optimal"]),
                    "allocationStrategy": compute.get("allocationStrategy", "BEST_FIT"),
                    "bidPercentage": compute.get("bidPercentage"),
                    "subnets": [],
                    **(kept.get("computeResources") or {}),
                }
            )
            if compute
            else None,
            "containerOrchestrationType": "EKS" if eks else "ECS",
            "ecsClusterArn": None if eks else cluster,
            **{k: v for k, v in kept.items() if k != "computeResources"},
        }
    )


def queue_spec(request: Obj, arns: Arns, update: bool = False) -> Obj:
    order = expect(
        request.get("computeEnvironmentOrder"), list, "computeEnvironmentOrder", "a list"
    )
    if order is not None and len(order) > 3:
        raise ClientError("computeEnvironmentOrder may hold at most 3 compute environments")
    policy = request.get("schedulingPolicyArn")
    if policy is not None and not str(policy).startswith("arn:"):
        raise ClientError(
            f"schedulingPolicyArn must be the ARN of a scheduling policy; got {policy!r}"
        )
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
    status = JobQueueStatus.of(obj)
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
            else status.status or "CREATING",
            "statusReason": status.status_reason,
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
