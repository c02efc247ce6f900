"""consumableResourceProperties as AWS writes them (each resource by name or ARN) <-> as
Kubatch's specs hold them (each by its object name)."""

from __future__ import annotations

from typing import Any

from ...api.common import Obj
from ..names import Arns, check_name, object_name
from .common import expect

KIND = "consumable-resource"


def consumables_spec(value: Any, field: str, arns: Arns) -> Obj | None:
    """A request's consumableResourceProperties -> a spec's."""
    properties = expect(value, dict, field, "an object")
    if not properties:
        return None
    entries = expect(
        properties.get("consumableResourceList"),
        list,
        f"{field}.consumableResourceList",
        "a list",
    )
    found = []
    for i, entry in enumerate(entries or []):
        where = f"{field}.consumableResourceList[{i}].consumableResource"
        name = check_name(where, arns.parse(KIND, entry.get("consumableResource"), where))
        found.append({"consumableResource": object_name(name), "quantity": entry.get("quantity")})
    return {"consumableResourceList": found}


def consumables_detail(
    spec: Obj | None, arns: Arns, names: dict[str, str] | None = None
) -> Obj | None:
    """A spec's consumableResourceProperties as AWS answers them (each resource by its ARN;
    `names` maps object names to AWS names where they differ)."""
    if not spec:
        return None
    return {
        "consumableResourceList": [
            {
                "consumableResource": arns.arn(
                    KIND, (names or {}).get(e["consumableResource"], e["consumableResource"])
                ),
                "quantity": e["quantity"],
            }
            for e in spec.get("consumableResourceList") or []
        ]
    }
