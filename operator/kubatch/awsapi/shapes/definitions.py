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
from .containers import container_detail, container_spec

UNSUPPORTED_REGISTER = ("eksProperties", "ecsProperties", "consumableResourceProperties")


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
