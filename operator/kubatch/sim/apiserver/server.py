"""HTTP in front of the store: the Kubernetes REST API as clients (kubectl, the kubernetes
client, kopf) use it. `python -m kubatch.sim.apiserver --port 0 --kubeconfig FILE`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ..containers import Obj, served_log
from . import protobuf
from .store import (
    ApiError,
    ResourceType,
    Store,
    Watcher,
    event_line,
    field_selector,
    label_selector,
    now_text,
)

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-kubatch-sim",
    "platform": "linux/amd64",
}
BOOKMARK_SECONDS = 10.0

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def builtin_types() -> list[ResourceType]:
    def t(
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool,
        *subs: str,
        short: tuple[str, ...] = (),
    ) -> ResourceType:
        return ResourceType(
            group=group,
            version=version,
            plural=plural,
            kind=kind,
            namespaced=namespaced,
            subresources=frozenset(subs),
            short_names=short,
        )

    return [
        t("", "v1", "namespaces", "Namespace", False, "status", "finalize", short=("ns",)),
        t("", "v1", "pods", "Pod", True, "status", "binding", "log", short=("po",)),
        t("", "v1", "nodes", "Node", False, "status", short=("no",)),
        t("", "v1", "events", "Event", True, short=("ev",)),
        t("", "v1", "configmaps", "ConfigMap", True, short=("cm",)),
        t("", "v1", "secrets", "Secret", True),
        t("", "v1", "serviceaccounts", "ServiceAccount", True, short=("sa",)),
        t("", "v1", "services", "Service", True, "status", short=("svc",)),
        t("apps", "v1", "controllerrevisions", "ControllerRevision", True),
        t("coordination.k8s.io", "v1", "leases", "Lease", True),
        t("events.k8s.io", "v1", "events", "Event", True, short=("ev",)),
        t(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            "status",
            short=("crd", "crds"),
        ),
    ]


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


def _operations(rtype: ResourceType) -> Obj:
    """OpenAPI v3 paths of a resource: kubectl looks for PATCH with fieldValidation there to
    know that the server validates fields itself."""
    gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    parameter = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}

    def operation(action: str) -> Obj:
        return {
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [parameter],
            "responses": {"200": {"description": "OK"}},
        }

    base = f"/api/{rtype.version}" if not rtype.group else f"/apis/{rtype.group}/{rtype.version}"
    scope = "/namespaces/{namespace}" if rtype.namespaced else ""
    return {
        f"{base}{scope}/{rtype.plural}": {"get": operation("list"), "post": operation("post")},
        f"{base}{scope}/{rtype.plural}/{{name}}": {
            "get": operation("get"),
            "put": operation("put"),
            "patch": operation("patch"),
            "delete": operation("delete"),
        },
    }


class ApiServer:
    def __init__(self) -> None:
        self.store = Store()
        for rtype in builtin_types():
            self.store.register(rtype)
        self.store.on_removed.append(self._on_removed)
        self.requests = 0
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(
                self.store.types[("", "v1", "namespaces")], None, {"metadata": {"name": name}}
            )
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # -- CRDs ----------------------------------------------------------------------------

    def _register_crd(self, crd: Obj) -> Obj:
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            self.store.register(
                ResourceType(
                    group=spec["group"],
                    version=version["name"],
                    plural=names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    subresources=frozenset(version.get("subresources") or {}),
                    short_names=tuple(names.get("shortNames") or ()),
                    categories=tuple(names.get("categories") or ()),
                    schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                    columns=tuple(version.get("additionalPrinterColumns") or ()),
                    scale=(version.get("subresources") or {}).get("scale"),
                )
            )
        established = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "reason": r,
                    "message": m,
                    "lastTransitionTime": now_text(),
                }
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }
        rtype = self.store.types[("apiextensions.k8s.io", "v1", "customresourcedefinitions")]
        return self.store.update(
            rtype, None, crd["metadata"]["name"], {**crd, "status": established}, "status"
        )

    def _on_removed(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind == "CustomResourceDefinition":
            spec = obj["spec"]
            for version in spec["versions"]:
                self.store.unregister((spec["group"], version["name"], spec["names"]["plural"]))

    # -- discovery -----------------------------------------------------------------------

    def _resources(self, group: str, version: str) -> list[Obj]:
        found = []
        for rtype in self.store.types.values():
            if (rtype.group, rtype.version) != (group, version):
                continue
            entry: Obj = {
                "name": rtype.plural,
                "singularName": rtype.singular,
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(_ALL_VERBS),
            }
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            found.append(entry)
            for sub in sorted(rtype.subresources):
                verbs = (
                    ["create"]
                    if sub == "binding"
                    else ["get"]
                    if sub == "log"
                    else ["get", "patch", "update"]
                )
                found.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": verbs,
                    }
                )
        return found

    def _groups(self) -> list[Obj]:
        versions: dict[str, list[str]] = {}
        for rtype in self.store.types.values():
            if rtype.group and rtype.version not in versions.setdefault(rtype.group, []):
                versions[rtype.group].append(rtype.version)
        return [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]},
            }
            for group, vs in sorted(versions.items())
        ]

    def _discovery(self, parts: list[str]) -> Obj | None:
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            }
        if parts == ["api", "v1"]:
            return {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": self._resources("", "v1"),
            }
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": self._groups()}
        if len(parts) == 2 and parts[0] == "apis":
            for group in self._groups():
                if group["name"] == parts[1]:
                    return {"kind": "APIGroup", "apiVersion": "v1", **group}
            raise ApiError(404, "NotFound", f"group {parts[1]} not found")
        if len(parts) == 3 and parts[0] == "apis":
            resources = self._resources(parts[1], parts[2])
            if not resources:
                raise ApiError(404, "NotFound", f"{parts[1]}/{parts[2]} not found")
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{parts[1]}/{parts[2]}",
                "resources": resources,
            }
        if parts == ["version"]:
            return VERSION_INFO
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        return None

    def _openapi(self, rest: list[str]) -> Obj:
        """OpenAPI v3 documents, as kubectl reads them (it refuses to apply without)."""
        versions = sorted({(t.group, t.version) for t in self.store.types.values()})
        if not rest:
            paths = {}
            for group, version in versions:
                key = f"api/{version}" if not group else f"apis/{group}/{version}"
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={self.store.rv}"}
            return {"paths": paths}
        group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2])
        schemas: Obj = {}
        operations: Obj = {}
        for rtype in self.store.types.values():
            if (rtype.group, rtype.version) != (group, version):
                continue
            operations.update(_operations(rtype))
            schema = (
                dict(rtype.schema)
                if rtype.schema
                else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            schema["x-kubernetes-group-version-kind"] = [
                {"group": group, "version": version, "kind": rtype.kind}
            ]
            prefix = f"{group}.{version}" if group else f"io.k8s.api.core.{version}"
            schemas[f"{prefix}.{rtype.kind}"] = schema
        if not schemas:
            raise ApiError(404, "NotFound", "no such group version")
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": operations,
            "components": {"schemas": schemas},
        }

    # -- requests ------------------------------------------------------------------------

    def _route(self, parts: list[str]) -> tuple[ResourceType, str | None, str | None, str | None]:
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        namespace = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and (group, version, rest[2]) in self.store.types
        ):
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rtype = self.store.find(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rtype.subresources:
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource ({rtype.plural}/{sub})",
            )
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rtype, namespace, name, sub

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        parts = [p for p in request.path.split("/") if p]
        try:
            if not parts or parts[0] in ("healthz", "readyz", "livez"):
                return web.Response(text="ok")
            if request.method == "GET":
                found = self._discovery(parts)
                if found is not None:
                    return web.json_response(found)
            if parts[0] not in ("api", "apis") or len(parts) < (2 if parts[0] == "api" else 3):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            rtype, namespace, name, sub = self._route(parts)
            dry_run = request.query.getall("dryRun", [])
            if any(value != "All" for value in dry_run):
                raise ApiError(
                    400, "BadRequest", f"unsupported dryRun value(s) {dry_run}: only All"
                )
            if request.method in _WRITES:
                # Read the body now: the dispatch below then runs without suspending, so the
                # store's dry-run flag cannot leak into another request in between.
                await request.read()
            self.store.dry_run = bool(dry_run) and request.method in _WRITES
            try:
                return await self._dispatch(request, rtype, namespace, name, sub)
            finally:
                self.store.dry_run = False
        except ApiError as e:
            return web.json_response(e.status(), status=e.code)

    async def _body(self, request: web.Request) -> Any:
        if "protobuf" in request.content_type:
            try:
                return protobuf.read_object(await request.read())
            except protobuf.ProtobufError as e:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format ({e}) - accepted media "
                    "types include: application/json, application/yaml",
                ) from e
        text = await request.text()
        if not text:
            return {}
        try:
            if "yaml" in request.content_type:
                return yaml.safe_load(text)
            return json.loads(text)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"cannot decode the body: {e}") from e

    async def _dispatch(
        self,
        request: web.Request,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        sub: str | None,
    ) -> web.StreamResponse:
        q = request.query
        strict = q.get("fieldValidation") == "Strict"
        method = request.method
        store = self.store
        if name is None:
            if method == "GET":
                if _flag(q.get("watch")):
                    return await self._watch(request, rtype, namespace)
                items = store.list_objects(
                    rtype, namespace, q.get("labelSelector"), q.get("fieldSelector")
                )
                return self._respond(
                    request,
                    rtype,
                    {
                        "kind": f"{rtype.kind}List",
                        "apiVersion": rtype.api_version,
                        "metadata": {"resourceVersion": str(store.rv)},
                        "items": items,
                    },
                )
            if method == "POST":
                body = await self._body(request)
                obj = store.create(rtype, namespace, body, strict)
                if rtype.kind == "CustomResourceDefinition" and not store.dry_run:
                    obj = self._register_crd(obj)
                return web.json_response(obj, status=201)
            if method == "DELETE":
                items = store.list_objects(
                    rtype, namespace, q.get("labelSelector"), q.get("fieldSelector")
                )
                for item in items:
                    with contextlib.suppress(ApiError):
                        store.delete(rtype, namespace, item["metadata"]["name"])
                return web.json_response(
                    {
                        "kind": f"{rtype.kind}List",
                        "apiVersion": rtype.api_version,
                        "metadata": {},
                        "items": items,
                    }
                )
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if sub == "log":
            pod = store.get(rtype, namespace, name)
            return web.Response(text=served_log(pod, request.query), content_type="text/plain")
        if sub == "binding":
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "bindings are created")
            body = await self._body(request)
            pod = store.get(rtype, namespace, name)
            if pod.get("spec", {}).get("nodeName"):
                raise ApiError(
                    409,
                    "Conflict",
                    f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
                )
            if pod.get("spec", {}).get("schedulingGates"):
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} has '
                    "non-empty .spec.schedulingGates",
                )
            node = (body.get("target") or {}).get("name")
            patched = store.patch(
                rtype, namespace, name, {"spec": {"nodeName": node}}, "merge-patch"
            )
            conditions = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_text()}
            ]
            store.patch(
                rtype,
                namespace,
                name,
                {"status": {"conditions": conditions}},
                "merge-patch",
                "status",
            )
            return web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Success",
                    "code": 201,
                    "metadata": {},
                    "details": {"name": patched["metadata"]["name"]},
                },
                status=201,
            )
        if sub == "scale":
            return await self._scale(request, rtype, namespace, name)
        if method == "GET":
            return self._respond(request, rtype, store.get(rtype, namespace, name))
        if method in ("PUT", "PATCH"):
            body = await self._body(request)
            if method == "PUT":
                obj = store.update(rtype, namespace, name, body, sub, strict)
            else:
                obj = store.patch(rtype, namespace, name, body, request.content_type, sub, strict)
            if rtype.kind == "CustomResourceDefinition" and sub is None and not store.dry_run:
                obj = self._register_crd(obj)
            return web.json_response(obj)
        if method == "DELETE":
            body = await self._body(request)
            grace = q.get(
                "gracePeriodSeconds",
                body.get("gracePeriodSeconds") if isinstance(body, dict) else None,
            )
            obj = store.delete(rtype, namespace, name, None if grace is None else int(grace))
            return web.json_response(obj)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")

    async def _scale(
        self, request: web.Request, rtype: ResourceType, namespace: str | None, name: str
    ) -> web.Response:
        """The scale subresource of a custom resource, as autoscaling/v1 Scale."""
        paths = rtype.scale or {}
        spec_path = paths.get("specReplicasPath", ".spec.replicas").strip(".").split(".")
        status_path = paths.get("statusReplicasPath", ".status.replicas").strip(".").split(".")
        if request.method in ("PATCH", "PUT"):
            body = await self._body(request)
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(422, "Invalid", "spec.replicas must be a whole number, zero or more")
            patch: Obj = {}
            node = patch
            for step in spec_path[:-1]:
                node = node.setdefault(step, {})
            node[spec_path[-1]] = replicas
            self.store.patch(rtype, namespace, name, patch, "merge-patch")
        elif request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not allowed on scale")
        obj = self.store.get(rtype, namespace, name)

        def read(path: list[str]) -> Any:
            value: Any = obj
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            return value

        meta = obj["metadata"]
        return web.json_response(
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {
                    k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta
                },
                "spec": {"replicas": read(spec_path) or 0},
                "status": {"replicas": read(status_path) or 0},
            }
        )

    def _respond(self, request: web.Request, rtype: ResourceType, body: Obj) -> web.Response:
        if "as=Table" in request.headers.get("Accept", ""):
            return web.json_response(self._table(rtype, body))
        return web.json_response(body)

    def _table(self, rtype: ResourceType, body: Obj) -> Obj:
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
                "metadata": {"resourceVersion": str(self.store.rv)},
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
            "metadata": {"resourceVersion": str(self.store.rv)},
            "columnDefinitions": columns,
            "rows": rows,
        }

    async def _watch(
        self, request: web.Request, rtype: ResourceType, namespace: str | None
    ) -> web.StreamResponse:
        q = request.query
        watcher = Watcher(
            type_key=rtype.key,
            namespace=namespace,
            labels=label_selector(q.get("labelSelector")),
            fields=field_selector(q.get("fieldSelector")),
        )
        rv_text = q.get("resourceVersion", "")
        timeout = float(q.get("timeoutSeconds", 1800))
        table = "as=Table" in request.headers.get("Accept", "")

        def line(event: bytes) -> bytes:
            """An event as the client asked for it: the object, or a Table of one row."""
            if not table:
                return event
            found = json.loads(event)
            if found.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                found["object"] = self._table(rtype, found["object"])
            return json.dumps(found).encode() + b"\n"

        bookmarks = _flag(q.get("allowWatchBookmarks"))
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        initial: Iterable[tuple[str, Obj]]
        try:
            initial = (
                list(self.store.changes_since(int(rv_text), watcher))
                if rv_text not in ("", "0")
                else list(self.store.current(watcher))
            )
        except ApiError as e:
            await response.prepare(request)
            await response.write(
                json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n"
            )
            return response
        self.store.watchers.add(watcher)
        try:
            await response.prepare(request)
            for kind, obj in initial:
                await response.write(line(event_line(kind, obj)))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), min(left, BOOKMARK_SECONDS))
                except TimeoutError:
                    if bookmarks:
                        mark = {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": rtype.kind,
                                "apiVersion": rtype.api_version,
                                "metadata": {"resourceVersion": str(self.store.rv)},
                            },
                        }
                        await response.write(json.dumps(mark).encode() + b"\n")
                    continue
                if event is None:
                    break
                await response.write(line(event))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.watchers.discard(watcher)
        return response

    async def close_watches(self) -> None:
        for watcher in list(self.store.watchers):
            watcher.queue.put_nowait(None)


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


def kubeconfig(server: str, namespace: str = "default") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubatch-sim", "cluster": {"server": server}}],
        "users": [{"name": "kubatch-sim", "user": {"token": "kubatch-sim"}}],
        "contexts": [
            {
                "name": "kubatch-sim",
                "context": {
                    "cluster": "kubatch-sim",
                    "user": "kubatch-sim",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "kubatch-sim",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def serve(port: int, kubeconfig_path: Path | None) -> None:
    server = ApiServer()
    runner = web.AppRunner(server.app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    address = f"http://127.0.0.1:{port}"
    if kubeconfig_path is not None:
        tmp = kubeconfig_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(kubeconfig(address)))
        os.replace(tmp, kubeconfig_path)
    print(f"kubatch API server listening on {address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close_watches()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubatch-apiserver", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server here")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port, args.kubeconfig))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _flag(value: str | None) -> bool:
    """A boolean query parameter as the real API server reads it (Go's strconv.ParseBool):
    the kubernetes client 36 sends watch=True, others send true or 1."""
    return value in ("1", "t", "T", "true", "TRUE", "True")
