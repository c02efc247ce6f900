"""The three patch formats a PATCH request may carry: JSON merge patch (RFC 7386), strategic
merge patch (as far as Kubatch's clients use it) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from ..containers import Obj
from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge as far as Kubatch needs it: a merge patch in which lists of objects
    with a "name" (containers, env, volumes...) merge item by item."""
    if isinstance(patch, dict):
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value)
        return result
    if (
        isinstance(patch, list)
        and isinstance(target, list)
        and patch
        and all(isinstance(x, dict) and "name" in x for x in [*patch, *target])
    ):
        merged = {x["name"]: x for x in target}
        for item in patch:
            merged[item["name"]] = strategic_merge_patch(merged.get(item["name"]), item)
        return list(merged.values())
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(target: Obj, operations: list[Obj]) -> Obj:
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(target)

    def walk(path: list[str]) -> tuple[Any, str]:
        node: Any = doc
        for step in path[:-1]:
            node = node[int(step)] if isinstance(node, list) else node[step]
        return node, path[-1]

    for op in operations:
        kind, path = op.get("op"), _pointer(op.get("path", ""))
        try:
            if kind in ("copy", "move"):
                src_parent, src_key = walk(_pointer(op["from"]))
                value = copy.deepcopy(
                    src_parent[int(src_key)]
                    if isinstance(src_parent, list)
                    else src_parent[src_key]
                )
                if kind == "move":
                    if isinstance(src_parent, list):
                        src_parent.pop(int(src_key))
                    else:
                        del src_parent[src_key]
                op = {"op": "add", "path": op["path"], "value": value}
                kind = "add"
            parent, key = walk(path)
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if key == "-" else int(key), op["value"])
                else:
                    parent[key] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(key))
                else:
                    del parent[key]
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(key)] = op["value"]
                else:
                    if key not in parent:
                        raise KeyError(key)
                    parent[key] = op["value"]
            elif kind == "test":
                current = parent[int(key)] if isinstance(parent, list) else parent[key]
                if current != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
            else:
                raise ApiError(400, "BadRequest", f"unknown JSON patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", f"JSON patch {kind} {op.get('path')} failed: {e}") from e
    return doc
