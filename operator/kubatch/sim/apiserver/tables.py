"""Objects as tables (Accept: ...;as=Table), which kubectl asks for and prints: the columns
of a CRD's additionalPrinterColumns, or kubectl's own for pods and nodes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..containers import Obj
from .resources import ResourceType


def age(timestamp: str, now: datetime | None = None) -> str:
    """A duration the way kubectl shows ages: 45s, 3m12s, 5h, 2d."""
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


def _cell(obj: Obj, column: Obj) -> Any:
    node: Any = obj
    for step in column["jsonPath"].strip(".").split("."):
        node = node.get(step) if isinstance(node, dict) else None
    if column.get("type") == "date" and isinstance(node, str):
        return age(node)
    return node


def table(rtype: ResourceType, body: Obj, resource_version: int) -> Obj:
    """`body` (one object or a list) as a Table, with the columns kubectl shows."""
    items = body.get("items", [body]) if "items" in body else [body]
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}
    ]
    builtin = BUILTIN_COLUMNS.get(rtype.kind)
    if builtin is not None:
        columns += [
            {"name": n, "type": t, "format": "", "description": "", "priority": p}
            for n, t, p, _ in builtin
        ]
        rows = [
            {
                "cells": [o["metadata"]["name"], *[cell(o) for _, _, _, cell in builtin]],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for o in items
        ]
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": str(resource_version)},
            "columnDefinitions": columns,
            "rows": rows,
        }
    columns += [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": "",
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in rtype.columns
    ]
    if not rtype.columns:
        columns.append(
            {"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}
        )

    rows = []
    for obj in items:
        found = rtype.columns or ({"jsonPath": ".metadata.creationTimestamp", "type": "date"},)
        rows.append(
            {
                "cells": [obj["metadata"]["name"], *[_cell(obj, c) for c in found]],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": columns,
        "rows": rows,
    }


def _age(obj: Obj) -> str:
    return str(obj["metadata"].get("creationTimestamp", ""))


def _pod_status(pod: Obj) -> str:
    """What kubectl shows as a pod's STATUS."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for kind in ("waiting", "terminated"):
            reason = (state.get(kind) or {}).get("reason")
            if reason:
                return str(reason)
    return str(status.get("reason") or status.get("phase", "Pending"))


def _pod_ready(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return f"{sum(bool(c.get('ready')) for c in statuses)}/{len(containers)}"


def _pod_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(c.get("restartCount", 0)) for c in statuses)


def _node_status(node: Obj) -> str:
    conditions = {
        c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []
    }
    ready = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready", ""), "Unknown")
    return ready + (",SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else "")


def _node_roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.removeprefix(prefix) for k in labels if k.startswith(prefix))
    return ",".join(roles) or "<none>"


Cell = Callable[[Obj], Any]
BUILTIN_COLUMNS: dict[str, list[tuple[str, str, int, Cell]]] = {
    "Pod": [
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "integer", 0, _pod_restarts),
        ("Age", "date", 0, _age),
        ("Node", "string", 1, lambda p: (p.get("spec") or {}).get("nodeName") or "<none>"),
    ],
    "Node": [
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "date", 0, _age),
        (
            "Version",
            "string",
            0,
            lambda n: ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
        ),
    ],
}
"""kubectl's columns for the built-in kinds it shows most (the server prints them)."""
