"""Label and field selectors, in the syntax and with the meaning the real API server gives
them (list and watch filter by both)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..containers import Obj
from .errors import ApiError

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.-]*)|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str
    """exists, !exists, =, !=, in, notin"""
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[_Requirement, ...] = ()

    def __call__(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def label_selector(text: str | None) -> LabelSelector:
    """Kubernetes label selector syntax: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a)."""
    requirements = []
    for part in _split_selector(text or ""):
        match = _REQUIREMENT.match(part)
        if not match:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        key, op, value, setop = match["key"], match["op"], match["value"], match["setop"]
        if match["neg"]:
            requirements.append(_Requirement(key, "!exists"))
        elif op in ("=", "=="):
            requirements.append(_Requirement(key, "=", frozenset({value})))
        elif op == "!=":
            requirements.append(_Requirement(key, "!=", frozenset({value})))
        elif setop:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(_Requirement(key, setop, values))
        else:
            requirements.append(_Requirement(key, "exists"))
    return LabelSelector(tuple(requirements))


def _lookup(obj: Obj, dotted: str) -> str:
    node: Any = obj
    for step in dotted.split("."):
        node = node.get(step) if isinstance(node, dict) else None
    return "" if node is None else str(node)


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[tuple[str, bool, str], ...] = ()
    """(dotted path, equal?, value)"""

    def __call__(self, obj: Obj) -> bool:
        return all(
            (_lookup(obj, path) == value) == equal for path, equal, value in self.requirements
        )


def field_selector(text: str | None) -> FieldSelector:
    requirements = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        equal = "!=" not in part
        path, _, value = part.replace("!=", "=").replace("==", "=").partition("=")
        requirements.append((path.strip(), equal, value.strip()))
    return FieldSelector(tuple(requirements))
