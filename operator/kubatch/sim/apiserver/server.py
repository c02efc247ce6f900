"""HTTP in front of the store: the Kubernetes REST API as clients (kubectl, the kubernetes
client, kopf) use it: routing, the verbs on collections, objects and their subresources
(status, binding, log, scale), dry runs, watches with bookmarks. Discovery and tables have
modules of their own; command.py runs it as a process."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

import yaml
from aiohttp import web

from ..containers import LogRequestError, Obj, served_log
from . import protobuf
from .discovery import Discovery
from .errors import ApiError
from .podgc import PodGarbageCollector
from .resources import ResourceType, builtin_types, established, from_crd, now_text, served_by
from .selectors import field_selector, label_selector
from .store import Store, Watcher, event_line
from .tables import table

BOOKMARK_SECONDS = 10.0

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiServer:
    def __init__(self) -> None:
        self.store = Store()
        for rtype in builtin_types():
            self.store.register(rtype)
        self.store.on_removed.append(self._on_removed)
        self.discovery = Discovery(self.store)
        self.pod_gc = PodGarbageCollector(self.store)
        self.requests = 0
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(
                self.store.types[("", "v1", "namespaces")], None, {"metadata": {"name": name}}
            )
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # -- CRDs ----------------------------------------------------------------------------

    def _register_crd(self, crd: Obj) -> Obj:
        for rtype in from_crd(crd):
            self.store.register(rtype)
        rtype = self.store.types[("apiextensions.k8s.io", "v1", "customresourcedefinitions")]
        return self.store.update(
            rtype, None, crd["metadata"]["name"], {**crd, "status": established(crd)}, "status"
        )

    def _on_removed(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind == "CustomResourceDefinition":
            for key in served_by(obj):
                self.store.unregister(key)

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
                found = self.discovery.document(parts)
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
            try:
                text = served_log(pod, request.query)
            except LogRequestError as e:
                raise ApiError(400, "BadRequest", str(e)) from None
            return web.Response(text=text, content_type="text/plain")
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
            return web.json_response(table(rtype, body, self.store.rv))
        return web.json_response(body)

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
        as_table = "as=Table" in request.headers.get("Accept", "")

        def line(event: bytes) -> bytes:
            """An event as the client asked for it: the object, or a Table of one row."""
            if not as_table:
                return event
            found = json.loads(event)
            if found.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                found["object"] = table(rtype, found["object"], self.store.rv)
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


def _flag(value: str | None) -> bool:
    """A boolean query parameter as the real API server reads it (Go's strconv.ParseBool):
    the kubernetes client 36 sends watch=True, others send true or 1."""
    return value in ("1", "t", "T", "true", "TRUE", "True")
