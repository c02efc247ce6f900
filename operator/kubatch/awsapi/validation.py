"""Invalid requests answered in AWS's words (pure): "1 validation error detected: Value 'ON'
at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED,
DISABLED]", each broken rule naming the field, the value and the rule, as AWS's own
validation says them. The enums come from botocore's model of the request; every other rule
from Kubatch's models (the same rules the API server enforces on the objects)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from botocore.model import Shape

from ..api import Problem

MISSING = "required field is missing"


def _constraint(rule: str) -> str:
    if rule == MISSING:
        return "Member must not be null"
    if rule.startswith("Input should be "):
        return "Member must be " + rule.removeprefix("Input should be ")
    if rule.startswith("must "):
        return "Member " + rule
    return rule


def message(problems: Iterable[Problem]) -> str:
    """The problems of a request, as AWS says them."""
    parts = []
    for problem in problems:
        path = problem.path.removeprefix("spec.").removeprefix("spec")
        if problem.value is None:
            where = f"Value null at '{path}'" if problem.rule == MISSING else f"Value at '{path}'"
        else:
            where = f"Value '{problem.value}' at '{path}'"
        parts.append(f"{where} failed to satisfy constraint: {_constraint(problem.rule)}")
    count = len(parts)
    return f"{count} validation error{'' if count == 1 else 's'} detected: " + "; ".join(parts)


CASE_INSENSITIVE = frozenset({"RetryAction"})
"""Enums AWS reads in any case (evaluateOnExit's action)."""


def enum_problems(value: Any, shape: Shape | None, path: str = "") -> Iterator[Problem]:
    """Values outside their enum in a request, as botocore's model declares them (botocore's
    own validation leaves enums to the service)."""
    if shape is None or value is None:
        return
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            yield from enum_problems(value.get(name), member, f"{path}.{name}" if path else name)
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from enum_problems(item, shape.member, f"{path}[{i}]")
    elif (
        shape.type_name == "string"
        and shape.enum
        and isinstance(value, str)
        and value not in shape.enum
        and not (shape.name in CASE_INSENSITIVE and value.upper() in shape.enum)
    ):
        allowed = ", ".join(shape.enum)
        yield Problem(path, value, f"Member must satisfy enum value set: [{allowed}]")
