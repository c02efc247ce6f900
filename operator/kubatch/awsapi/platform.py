"""The AWS Batch API's operations on the platform's cluster-scoped objects."""

from __future__ import annotations

import json
from typing import Any

from ..api.common import Obj
from ..core import UnknownInstanceType, resolve_shapes
from ..keys import ANNOTATION_AWS_FIELDS
from . import shapes
from .auth import Signed
from .base import CLUSTER, Operations, page
from .errors import ClientError
from .names import check_name, object_name


class PlatformOperations(Operations):
    """Compute environments, job queues and scheduling policies: create, update, delete,
    describe (admin keys only for the writes)."""

    async def op_create_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("computeEnvironmentName", request.get("computeEnvironmentName"))
        spec = shapes.environment_spec(request)
        shapes.check_environment(request, _instance_type_problem)
        kept = shapes.environment_aws_fields(request)
        await self._create_cluster("compute-environment", name, spec, request.get("tags"), kept)
        return {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": self.arns.arn("compute-environment", name),
        }

    async def op_update_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(
            "compute-environment", request["computeEnvironment"], "computeEnvironment"
        )
        spec = shapes.environment_spec(request, update=True)
        problem = _instance_type_problem(
            list((request.get("computeResources") or {}).get("instanceTypes") or [])
        )
        if problem:
            raise ClientError(f"computeResources.instanceTypes: {problem}")
        patch: Obj = {"spec": spec}
        kept = shapes.environment_aws_fields(request, shapes.aws_fields(obj))
        if kept != shapes.aws_fields(obj):
            patch["metadata"] = {
                "annotations": {ANNOTATION_AWS_FIELDS: json.dumps(kept, sort_keys=True)}
            }
        await self._patch_cluster("compute-environment", obj, patch)
        return {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": self.arns.arn("compute-environment", name),
        }

    async def op_delete_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(
            "compute-environment", request["computeEnvironment"], "computeEnvironment"
        )
        return await self._delete_cluster("compute-environment", name, obj)

    async def op_describe_compute_environments(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described(
            "compute-environment", request.get("computeEnvironments"), "computeEnvironments"
        )
        details = [shapes.environment_detail(o, self.arns) for o in objects]
        shown, token = page(details, request)
        return shapes.drop_none({"computeEnvironments": shown, "nextToken": token})

    def _described(self, kind: str, values: Any, field: str) -> list[Obj]:
        cache = self.caches.of(CLUSTER[kind].plural)
        if values:
            if len(values) > 100:
                raise ClientError(f"{field} may hold at most 100 entries")
            found = []
            for value in values:
                name = self.arns.parse(kind, value, field)
                obj = cache.get(None, object_name(check_name(field, name)))
                if obj is not None:
                    found.append(obj)
            return found
        return sorted(cache.values(), key=shapes.aws_name)

    def _aws_names(self) -> dict[str, str]:
        return {
            o["metadata"]["name"]: shapes.aws_name(o)
            for cache in (self.caches.environments, self.caches.policies)
            for o in cache.values()
        }

    async def op_create_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("jobQueueName", request.get("jobQueueName"))
        spec = shapes.queue_spec(request, self.arns)
        self._check_references(spec)
        await self._create_cluster("job-queue", name, spec, request.get("tags"))
        return {"jobQueueName": name, "jobQueueArn": self.arns.arn("job-queue", name)}

    async def op_update_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("job-queue", request["jobQueue"], "jobQueue")
        spec = shapes.queue_spec(request, self.arns, update=True)
        self._check_references(spec)
        await self._patch_cluster("job-queue", obj, {"spec": spec})
        return {"jobQueueName": name, "jobQueueArn": self.arns.arn("job-queue", name)}

    def _check_references(self, spec: Obj) -> None:
        """A queue's environments and policy must exist (AWS refuses the request at once)."""
        environments = self.caches.environments
        for i, entry in enumerate(spec.get("computeEnvironmentOrder") or []):
            if environments.get(None, entry["computeEnvironment"]) is None:
                raise ClientError(
                    f"computeEnvironmentOrder[{i}].computeEnvironment: compute environment "
                    f"{entry['computeEnvironment']} does not exist"
                )
        policy = spec.get("schedulingPolicy")
        if policy and self.caches.policies.get(None, policy) is None:
            raise ClientError(f"schedulingPolicyArn: scheduling policy {policy} does not exist")

    async def op_delete_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("job-queue", request["jobQueue"], "jobQueue")
        return await self._delete_cluster("job-queue", name, obj)

    async def op_describe_job_queues(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("job-queue", request.get("jobQueues"), "jobQueues")
        names = self._aws_names()
        details = [shapes.queue_detail(o, self.arns, names) for o in objects]
        shown, token = page(details, request)
        return shapes.drop_none({"jobQueues": shown, "nextToken": token})

    async def op_create_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("name", request.get("name"))
        if request.get("quotaSharePolicy") is not None:
            raise ClientError("quotaSharePolicy is not supported by Kubatch")
        spec = shapes.policy_spec(request)
        await self._create_cluster("scheduling-policy", name, spec, request.get("tags"))
        return {"name": name, "arn": self.arns.arn("scheduling-policy", name)}

    async def op_update_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        _, obj = self._cluster("scheduling-policy", request["arn"], "arn")
        fairshare = shapes.policy_spec(request)["fairsharePolicy"]
        # AWS replaces the policy: fields left out go back to their defaults.
        patch = {
            "spec": {
                "fairsharePolicy": {
                    "shareDecaySeconds": fairshare.get("shareDecaySeconds"),
                    "computeReservation": fairshare.get("computeReservation"),
                    "shareDistribution": fairshare.get("shareDistribution"),
                }
            }
        }
        await self._patch_cluster("scheduling-policy", obj, patch)
        return {}

    async def op_delete_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("scheduling-policy", request["arn"], "arn")
        return await self._delete_cluster("scheduling-policy", name, obj)

    async def op_describe_scheduling_policies(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("scheduling-policy", request["arns"], "arns")
        return {"schedulingPolicies": [shapes.policy_detail(o, self.arns) for o in objects]}

    async def op_list_scheduling_policies(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("scheduling-policy", None, "arns")
        arns = [{"arn": self.arns.arn("scheduling-policy", shapes.aws_name(o))} for o in objects]
        shown, token = page(arns, request)
        return shapes.drop_none({"schedulingPolicies": shown, "nextToken": token})


def _instance_type_problem(names: list[str]) -> str | None:
    """Why some of `names` are no instance type of the catalog (nor a family, nor optimal)."""
    try:
        resolve_shapes(names)
    except UnknownInstanceType as e:
        return str(e)
    return None
