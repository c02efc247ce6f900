"""RegisterJobDefinition's request -> a JobDefinition spec, and a revision in
DescribeJobDefinitions' shape."""

from __future__ import annotations

from collections.abc import Mapping

from ...api.common import Obj
from ..errors import ClientError
from ..names import (
    Arns,
)
from .common import drop_none, expect, string_map
from .consumables import consumables_detail, consumables_spec
from .containers import container_detail, container_spec

UNSUPPORTED_REGISTER = ("ecsProperties",)


def definition_spec(request: Obj, registration: str, arns: Arns) -> Obj:
    """RegisterJobDefinition's request -> a JobDefinition spec; `registration` (a token new at
    each call) makes it a new revision, as every RegisterJobDefinition is in AWS."""
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
        "platformCapabilities": request.get("platformCapabilities") or None,
        "consumableResourceProperties": consumables_spec(
            request.get("consumableResourceProperties"), "consumableResourceProperties", arns
        ),
        "registration": registration,
    }
    if kind == "container":
        if request.get("nodeProperties") is not None:
            raise ClientError("type container takes containerProperties, not nodeProperties")
        eks = expect(request.get("eksProperties"), dict, "eksProperties", "an object")
        if eks is not None:
            if request.get("containerProperties") is not None:
                raise ClientError("give containerProperties or eksProperties, not both")
            spec["eksProperties"] = eks  # the model checks it, field by field
        else:
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
    name: str,
    revision: int,
    spec: Obj,
    active: bool,
    tags: Mapping[str, str],
    arns: Arns,
    names: dict[str, str] | None = None,
) -> Obj:
    """One revision of a JobDefinition in DescribeJobDefinitions' shape (`names`: consumable
    resources' object names -> AWS names)."""
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
            "retryStrategy": retry_detail(spec.get("retryStrategy")),
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
            "propagateTags": spec.get("propagateTags"),
            "platformCapabilities": spec.get("platformCapabilities") or ["EC2"],
            "eksProperties": spec.get("eksProperties"),
            "containerOrchestrationType": "EKS" if spec.get("eksProperties") else "ECS",
            "consumableResourceProperties": consumables_detail(
                spec.get("consumableResourceProperties"), arns, names
            ),
        }
    )


def retry_detail(strategy: Obj | None) -> Obj | None:
    """A retryStrategy as AWS answers it: its actions in capitals, whatever case they were
    given in (AWS reads them case-insensitively)."""
    if not strategy:
        return strategy
    rules = [
        {**rule, "action": str(rule.get("action", "")).upper()}
        for rule in strategy.get("evaluateOnExit") or []
    ]
    return {**strategy, "evaluateOnExit": rules} if rules else dict(strategy)
