"""Which Kubernetes API verbs the code uses, read from the code itself (its AST).

A call counts when its resource is spelled out: client calls such as
`client.create("v1", "pods", ...)`, the engine's effects (`CreateObject("v1", "pods", ...)`,
`DeleteObject(...)`, `book.want("batchjobs", ...)` for status patches), kopf
watches (`kopf.on.event(group, version, plural)`) and the controller's own
(`self._informer(api_version, plural, ...)`). Names are resolved against the module's
own globals (API = "kubatch.io/v1alpha1" and the like).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).parents[2] / "operator" / "kubatch"
CLIENT_VERBS = {
    "create": "create",
    "patch": "patch",
    "delete": "delete",
    "get": "get",
    "list": "list",
    "listing": "list",
    "watch": "watch",
    "informer": "watch",
}
UNKNOWN = "?"


@dataclass(frozen=True, order=True)
class Use:
    group: str
    resource: str
    verb: str
    where: str


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _value(node: ast.AST, module: Any) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        found = getattr(module, node.id, None)
        return found if isinstance(found, str) else None
    if isinstance(node, ast.JoinedStr):
        parts = [
            _value(v.value if isinstance(v, ast.FormattedValue) else v, module) for v in node.values
        ]
        known = [p for p in parts if p is not None]
        return "".join(known) if len(known) == len(parts) else None
    return None


PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/(?:namespaces/\{\}/)?"
    r"(?P<plural>[a-z]+)(?:/(?:\{\}|[a-z0-9][a-z0-9.-]*)(?:/(?P<sub>[a-z]+))?)?$"
)


def _path_use(node: ast.AST, verb: str, where: str) -> Use | None:
    """A read by path (`client.text(f"/api/v1/namespaces/{ns}/pods/{name}/log")`, or of one
    object named outright: `/api/v1/namespaces/kube-system`): its resource, from the path's
    fixed parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        template = node.value
    elif isinstance(node, ast.JoinedStr):
        template = "".join(
            str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values
        )
    else:
        return None
    found = PATH.match(template)
    if found is None:
        return None
    resource = found["plural"] + (f"/{found['sub']}" if found["sub"] else "")
    return Use(found["group"] or "", resource, verb, where)


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _on_client(func: ast.AST) -> bool:
    """`client.verb(...)` or `self.client.verb(...)`: a call on the Kubernetes client."""
    if not isinstance(func, ast.Attribute):
        return False
    target = func.value
    return (isinstance(target, ast.Name) and target.id == "client") or (
        isinstance(target, ast.Attribute) and target.attr == "client"
    )


def _read_by_path(
    call: ast.Call, name: str, paths: Mapping[str, ast.AST], where: str
) -> Use | None:
    """`client.text(path)` or `client.request("GET", path)`: a read by path."""
    args = call.args
    if not _on_client(call.func):
        return None
    if name == "text" and args:
        target: ast.AST = args[0]
    elif (
        name == "request"
        and len(args) >= 2
        and isinstance(args[0], ast.Constant)
        and args[0].value == "GET"
    ):
        target = args[1]
    else:
        return None
    return _path_use(
        paths.get(target.id, target) if isinstance(target, ast.Name) else target, "get", where
    )


def uses(files: Iterable[Path]) -> set[Use]:
    found: set[Use] = set()
    for path in files:
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = importlib.import_module(".".join(relative.parts))
        where = str(path.relative_to(PACKAGE.parent))
        tree = ast.parse(path.read_text())
        # Paths named before their use (`path = f"/api/v1/..."`), by their names.
        paths = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            args = node.args
            read = _read_by_path(node, name, paths, where)
            if read is not None:
                found.add(read)
            elif name in CLIENT_VERBS and len(args) >= 2 and _on_client(func):
                plural = _value(args[1], module)
                if plural is None:
                    continue  # generic plumbing (the writer): its callers are counted instead
                api = _value(args[0], module)
                group = UNKNOWN if api is None else _group(api)
                verb = CLIENT_VERBS[name]
                sub = _keyword(node, "subresource")
                if sub is None and name == "patch" and len(args) >= 6:
                    sub = args[5]
                resource = plural if sub is None else f"{plural}/{_value(sub, module)}"
                found.add(Use(group, resource, verb, where))
                if name == "informer":
                    found.add(Use(group, resource, "list", where))
            elif name == "create_subresource" and len(args) >= 4 and _on_client(func):
                api, kind, part = (_value(args[i], module) for i in (0, 1, 3))
                if api is not None and kind is not None and part is not None:
                    found.add(Use(_group(api), f"{kind}/{part}", "create", where))
            elif name in ("CreateObject", "DeleteObject", "PatchObject"):
                # keyword-only records: api_version=, plural=
                api_node, kind_node = _keyword(node, "api_version"), _keyword(node, "plural")
                if api_node is None or kind_node is None:
                    continue
                api, kind = _value(api_node, module), _value(kind_node, module)
                if api is not None and kind is not None:
                    verb = {"CreateObject": "create", "DeleteObject": "delete"}.get(name, "patch")
                    found.add(Use(_group(api), kind, verb, where))
            elif name == "want" and len(args) >= 3:
                kind = _value(args[0], module)
                if kind is not None:
                    found.add(Use("kubatch.io", f"{kind}/status", "patch", where))
            elif name == "event" and isinstance(func, ast.Attribute) and len(args) >= 3:
                watched_group, _, watched = (_value(a, module) for a in args[:3])
                if watched_group is not None and watched is not None:
                    for verb in ("get", "list", "watch"):
                        found.add(Use(watched_group, watched, verb, where))
        found |= _watched(module, where)
    return found


def _watched(module: Any, where: str) -> set[Use]:
    """The controller's table of watches: each kind is listed, then watched."""
    found = set()
    for watched in getattr(module, "WATCHED", ()):
        group = watched.group_version[0]
        found |= {Use(group, watched.plural, verb, where) for verb in ("list", "watch")}
    return found


def operator_uses() -> set[Use]:
    """The operator process: the controller, the engine it runs, the autoscaling backends."""
    files = [
        *(PACKAGE / "controller").glob("*.py"),
        *(PACKAGE / "core").rglob("*.py"),
        *(PACKAGE / "autoscaling").glob("*.py"),
    ]
    return uses(files)


def kubelet_uses() -> set[Use]:
    return uses([PACKAGE / "sim" / "kubelet.py"])
