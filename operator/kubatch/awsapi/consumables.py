"""The AWS Batch API's consumable resources, on ConsumableResources: create, describe, update
(SET, ADD, REMOVE), delete, list, and the jobs that need one."""

from __future__ import annotations

from typing import Any

from ..api import BatchJobSpec
from ..api.batchjob import BatchJobStatus, job_state
from ..api.common import Obj
from ..api.consumableresource import ConsumableResourceStatus
from ..core import Refused, resolve_job
from . import shapes
from .auth import Signed
from .base import Operations, page
from .errors import ClientError
from .names import check_name

KIND = "consumable-resource"
OPERATIONS = ("SET", "ADD", "REMOVE")


def _quantities(obj: Obj) -> tuple[int, int, int]:
    """(total, in use, available), as AWS counts them: a NON_REPLENISHABLE resource's total
    is less by what jobs used up."""
    total = int((obj.get("spec") or {}).get("totalQuantity") or 0)
    status = ConsumableResourceStatus.of(obj)
    effective = max(total - status.consumed_quantity, 0)
    available = status.available_quantity if status.observed_generation is not None else effective
    return effective, status.in_use_quantity, available


class ConsumableOperations(Operations):
    """Create/Describe/Update/Delete/ListConsumableResources, ListJobsByConsumableResource."""

    def _resource_detail(self, obj: Obj) -> Obj:
        name = shapes.aws_name(obj)
        total, in_use, available = _quantities(obj)
        return {
            "consumableResourceName": name,
            "consumableResourceArn": self.arns.arn(KIND, name),
            "totalQuantity": total,
            "inUseQuantity": in_use,
            "availableQuantity": available,
            "resourceType": (obj.get("spec") or {}).get("resourceType", "REPLENISHABLE"),
            "createdAt": shapes.millis(obj["metadata"].get("creationTimestamp")),
            "tags": shapes.tags_of(obj),
        }

    async def op_create_consumable_resource(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("consumableResourceName", request.get("consumableResourceName"))
        spec = shapes.drop_none(
            {
                "totalQuantity": request.get("totalQuantity", 0),
                "resourceType": request.get("resourceType"),
            }
        )
        await self._create_cluster(KIND, name, spec, request.get("tags"))
        return {"consumableResourceName": name, "consumableResourceArn": self.arns.arn(KIND, name)}

    async def op_describe_consumable_resource(self, request: Obj, caller: Signed) -> Obj:
        _, obj = self._cluster(KIND, request["consumableResource"], "consumableResource")
        return self._resource_detail(obj)

    async def op_update_consumable_resource(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(KIND, request["consumableResource"], "consumableResource")
        operation = request.get("operation") or "SET"
        quantity = request.get("quantity")
        if not isinstance(quantity, int) or quantity < 0:
            raise ClientError("quantity must be a whole number, 0 or more")
        spec_total = int((obj.get("spec") or {}).get("totalQuantity") or 0)
        consumed = ConsumableResourceStatus.of(obj).consumed_quantity
        if operation == "SET":
            total = quantity + consumed  # what the caller sees is the total less what is used up
        elif operation == "ADD":
            total = spec_total + quantity
        else:
            if quantity > spec_total - consumed:
                raise ClientError(
                    f"quantity: cannot REMOVE {quantity} from consumable resource {name}, "
                    f"which has {spec_total - consumed}"
                )
            total = spec_total - quantity
        written = await self._patch_cluster(KIND, obj, {"spec": {"totalQuantity": total}})
        return {
            "consumableResourceName": name,
            "consumableResourceArn": self.arns.arn(KIND, name),
            "totalQuantity": _quantities(written)[0],
        }

    async def op_delete_consumable_resource(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(KIND, request["consumableResource"], "consumableResource")
        return await self._delete_cluster(KIND, name, obj)

    async def op_list_consumable_resources(self, request: Obj, caller: Signed) -> Obj:
        names = _name_filter(request.get("filters"), "CONSUMABLE_RESOURCE_NAME")
        found = []
        for obj in sorted(self.caches.consumables.values(), key=shapes.aws_name):
            if not _matches(shapes.aws_name(obj), names):
                continue
            detail = self._resource_detail(obj)
            found.append(
                {
                    k: detail[k]
                    for k in (
                        "consumableResourceArn",
                        "consumableResourceName",
                        "totalQuantity",
                        "inUseQuantity",
                        "resourceType",
                    )
                }
            )
        shown, token = page(found, request)
        return shapes.drop_none({"consumableResources": shown, "nextToken": token})

    async def op_list_jobs_by_consumable_resource(self, request: Obj, caller: Signed) -> Obj:
        _, resource = self._cluster(KIND, request["consumableResource"], "consumableResource")
        wanted = resource["metadata"]["name"]
        statuses = _name_filter(request.get("filters"), "JOB_STATUS")
        names = _name_filter(request.get("filters"), "JOB_NAME")
        found = []
        for job in sorted(
            self.caches.jobs.values(),
            key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["uid"]),
        ):
            if job["metadata"]["namespace"] != caller.key.namespace:
                continue
            state = str(job_state(job))
            if statuses and state not in statuses:
                continue
            if not _matches(shapes.aws_name(job), names):
                continue
            needs = dict(self._needs(job))
            if wanted not in needs:
                continue
            detail = self._detail(job, None, full=False)
            status = BatchJobStatus.of(job)
            found.append(
                shapes.drop_none(
                    {
                        "jobArn": detail["jobArn"],
                        "jobQueueArn": detail["jobQueue"],
                        "jobName": detail["jobName"],
                        "jobDefinitionArn": detail.get("jobDefinition"),
                        "shareIdentifier": detail.get("shareIdentifier"),
                        "jobStatus": state,
                        "quantity": needs[wanted],
                        "statusReason": detail.get("statusReason"),
                        "startedAt": shapes.millis(status.started_at),
                        "createdAt": detail["createdAt"],
                        "consumableResourceProperties": self._consumable_detail(needs),
                    }
                )
            )
        shown, token = page(found, request)
        return shapes.drop_none({"jobs": shown, "nextToken": token})

    def _needs(self, job: Obj) -> tuple[tuple[str, int], ...]:
        """The consumable resources a job needs, as it runs them (its definition's with its
        override)."""
        spec = job.get("spec") or {}
        namespace = job["metadata"]["namespace"]
        name, _, pinned = str(spec.get("jobDefinition", "")).partition(":")
        number = BatchJobStatus.of(job).job_definition_revision or (int(pinned) if pinned else 0)
        revision = self._revision(namespace, name, number) if number else None
        if revision is None:
            return ()
        resolved = resolve_job(BatchJobSpec.model_validate(spec), revision)
        return () if isinstance(resolved, Refused) else resolved.consumables

    def _consumable_detail(self, needs: dict[str, int]) -> Obj:
        """consumableResourceProperties as AWS answers them (each resource by its ARN)."""
        names = self._consumable_names()
        return {
            "consumableResourceList": [
                {
                    "consumableResource": self.arns.arn(KIND, names.get(name, name)),
                    "quantity": units,
                }
                for name, units in sorted(needs.items())
            ]
        }


def _name_filter(filters: Any, name: str) -> set[str]:
    """The values of the filter called `name` (AWS takes at most one of each)."""
    found: set[str] = set()
    for entry in filters or []:
        if entry.get("name") == name:
            found |= {str(v) for v in entry.get("values") or []}
    return found


def _matches(value: str, patterns: set[str]) -> bool:
    """No pattern, an equal one, or a prefix ending in "*" (case-insensitive)."""
    if not patterns:
        return True
    value = value.lower()
    return any(
        value.startswith(p[:-1].lower()) if p.endswith("*") else value == p.lower()
        for p in patterns
    )
