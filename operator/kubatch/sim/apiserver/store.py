"""The API server's storage: objects by resource type, resource versions, create / update /
patch / delete with finalizers, graceful pod deletion, owner-reference garbage collection and
namespace lifecycle, and the history that watches resume from.

Everything here is synchronous and in memory; server.py puts HTTP in front of it, admission.py
says what a real server checks and defaults on the way in.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..containers import Obj
from . import admission
from .errors import ApiError, not_found
from .patches import json_patch, merge_patch, strategic_merge_patch
from .resources import ResourceType, now_text
from .selectors import FieldSelector, LabelSelector, field_selector, label_selector

# How many changes a watch can resume from; older resourceVersions get 410 Gone.
HISTORY = 200_000


# The emulator serves plain HTTP, so no certificate signs anything; the ConfigMap that a real
# cluster puts into every namespace exists all the same, for programs that look for it.
EMULATOR_CA = "# kubatch emulator: plain HTTP on 127.0.0.1, no certificate authority\n"


def event_line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


# -- watches -----------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class Watcher:
    type_key: tuple[str, str, str]
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    """Watch events, each already serialized as one JSON line."""

    def wants(self, type_key: tuple[str, str, str], obj: Obj) -> bool:
        meta = obj["metadata"]
        return (
            type_key == self.type_key
            and (self.namespace is None or meta.get("namespace") == self.namespace)
            and self.labels(meta.get("labels") or {})
            and self.fields(obj)
        )


@dataclass(kw_only=True)
class Change:
    rv: int
    type_key: tuple[str, str, str]
    kind: str
    obj: Obj


class Store:
    def __init__(self) -> None:
        self.types: dict[tuple[str, str, str], ResourceType] = {}
        self.objects: dict[tuple[str, str, str], dict[tuple[str, str], Obj]] = {}
        self.rv = 0
        self.history: deque[Change] = deque(maxlen=HISTORY)
        self.watchers: set[Watcher] = set()
        self.on_removed: list[Callable[[ResourceType, Obj], None]] = []
        self.dependents: dict[str, set[tuple[tuple[str, str, str], str, str]]] = {}
        """Owner uid -> the objects whose ownerReferences name it (for garbage collection)."""
        self.dry_run = False
        """Set around one request with dryRun=All: validate and answer, but store nothing."""

    # -- types ---------------------------------------------------------------------------

    def register(self, rtype: ResourceType) -> None:
        self.types[rtype.key] = rtype
        self.objects.setdefault(rtype.key, {})

    def unregister(self, key: tuple[str, str, str]) -> None:
        self.types.pop(key, None)
        self.objects.pop(key, None)

    def find(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.types.get((group, version, plural))
        if rtype is None:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({plural})"
            )
        return rtype

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self.types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    # -- reads ---------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.objects[rtype.key].get((namespace or "", name))
        if obj is None:
            raise not_found(f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural, name)
        return obj

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: str | None = None,
        fields: str | None = None,
    ) -> list[Obj]:
        match_labels, match_fields = label_selector(labels), field_selector(fields)
        return [
            obj
            for (ns, _), obj in sorted(self.objects[rtype.key].items())
            if (namespace is None or ns == namespace)
            and match_labels(obj["metadata"].get("labels") or {})
            and match_fields(obj)
        ]

    # -- writes --------------------------------------------------------------------------

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _index_owners(self, rtype: ResourceType, obj: Obj, present: bool) -> None:
        meta = obj["metadata"]
        ref = (rtype.key, meta.get("namespace") or "", meta["name"])
        for owner in meta.get("ownerReferences") or []:
            uid = owner.get("uid")
            if not uid:
                continue
            if present:
                self.dependents.setdefault(uid, set()).add(ref)
            else:
                self.dependents.get(uid, set()).discard(ref)

    def _emit(self, rtype: ResourceType, kind: str, obj: Obj) -> None:
        self._index_owners(rtype, obj, kind != "DELETED")
        change = Change(
            rv=int(obj["metadata"]["resourceVersion"]), type_key=rtype.key, kind=kind, obj=obj
        )
        self.history.append(change)
        line: bytes | None = None
        for watcher in list(self.watchers):
            if watcher.wants(rtype.key, obj):
                if line is None:  # serialized once, whatever the number of watchers
                    line = event_line(kind, obj)
                watcher.queue.put_nowait(line)

    def _check_namespace(self, rtype: ResourceType, namespace: str | None) -> None:
        if not rtype.namespaced:
            return
        if not namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object is required")
        ns = self.objects[("", "v1", "namespaces")].get(("", namespace))
        if ns is None:
            raise not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"namespace {namespace} is being terminated: cannot create objects",
            )

    def create(
        self, rtype: ResourceType, namespace: str | None, body: Obj, strict: bool = False
    ) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        if rtype.namespaced:
            namespace = namespace or meta.get("namespace")
            if meta.get("namespace") not in (None, namespace):
                raise ApiError(
                    400, "BadRequest", "the namespace of the object does not match the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        self._check_namespace(rtype, namespace)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = prefix + uuid.uuid4().hex[:5]
        key = (namespace or "", meta["name"])
        if key in self.objects[rtype.key]:
            raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{meta["name"]}" already exists')
        if "status" in rtype.subresources and rtype.kind not in ("Node",):
            obj.pop("status", None)
        obj = admission.admit(rtype, obj, strict)
        if rtype.kind == "Pod":
            admission.service_account(obj, self._service_account_exists)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_text()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        admission.defaults(rtype, obj)
        if self.dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self.objects[rtype.key][key] = obj
        self._emit(rtype, "ADDED", obj)
        if rtype.kind == "Namespace":
            self._populate_namespace(meta["name"])
        return obj

    def _service_account_exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.objects[("", "v1", "serviceaccounts")]

    def _populate_namespace(self, name: str) -> None:
        """What a real cluster's controller-manager adds to every new namespace."""
        self.create(
            self.types[("", "v1", "serviceaccounts")], name, {"metadata": {"name": "default"}}
        )
        self.create(
            self.types[("", "v1", "configmaps")],
            name,
            {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": EMULATOR_CA}},
        )

    def _store_update(self, rtype: ResourceType, old: Obj, new: Obj) -> Obj:
        if rtype.kind == "Secret":
            admission.secret_string_data(new)
        meta = new["metadata"]
        old_meta = old["metadata"]
        for frozen in ("uid", "creationTimestamp", "namespace", "name"):
            if frozen in old_meta:
                meta[frozen] = old_meta[frozen]
        meta.setdefault("generation", old_meta.get("generation", 1))
        if old_meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = old_meta["deletionTimestamp"]
            if "deletionGracePeriodSeconds" in old_meta:
                meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
            if set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or []):
                raise ApiError(
                    422, "Invalid", "no new finalizers can be added if the object is being deleted"
                )
        if admission.content(old) != admission.content(new):
            meta["generation"] = old_meta.get("generation", 1) + 1
        else:
            meta["generation"] = old_meta.get("generation", 1)
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        if self.dry_run:
            return new
        meta["resourceVersion"] = self._bump()
        key = (meta.get("namespace") or "", meta["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rtype.kind != "Pod":
            return self._remove(rtype, key, new)
        self.objects[rtype.key][key] = new
        self._emit(rtype, "MODIFIED", new)
        return new

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        subresource: str | None = None,
        strict: bool = False,
    ) -> Obj:
        """PUT: the whole object (or its status), with optimistic concurrency."""
        old = self.get(rtype, namespace, name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        return self._replace(rtype, old, copy.deepcopy(body), subresource, strict)

    def _replace(
        self, rtype: ResourceType, old: Obj, new: Obj, subresource: str | None, strict: bool
    ) -> Obj:
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        # Stored objects are never changed in place (watch history refers to them): the new
        # version gets its own metadata; everything else may share what did not change.
        new["metadata"] = dict(new.get("metadata") or {})
        if subresource == "status":
            status = new.get("status")
            new = {**old, "metadata": dict(old["metadata"])}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif "status" in rtype.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new = admission.admit(rtype, new, strict, old)
        if rtype.kind == "Pod" and subresource is None:
            admission.pod_update(old, new)
        return self._store_update(rtype, old, new)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
        strict: bool = False,
    ) -> Obj:
        old = self.get(rtype, namespace, name)
        if "json-patch" in content_type:
            if not isinstance(patch, list):
                raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
            new = json_patch(old, patch)
        elif "strategic-merge-patch" in content_type:
            if rtype.schema is not None:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources",
                )
            new = strategic_merge_patch(old, patch)
        elif "merge-patch" in content_type:
            new = merge_patch(old, patch)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        rv = (
            (patch.get("metadata") or {}).get("resourceVersion")
            if isinstance(patch, dict)
            else None
        )
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'the object "{name}" has been modified')
        new["metadata"] = {
            **(new.get("metadata") or {}),
            "resourceVersion": old["metadata"]["resourceVersion"],
        }
        return self._replace(rtype, old, new, subresource, strict)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        grace_seconds: int | None = None,
    ) -> Obj:
        obj = self.get(rtype, namespace, name)
        if self.dry_run:
            return obj
        key = (namespace or "", name)
        meta = obj["metadata"]
        if rtype.kind == "Pod":
            grace = grace_seconds
            if grace is None:
                grace = int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30))
            bound = bool(obj.get("spec", {}).get("nodeName"))
            finished = obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
            if grace > 0 and bound and not finished:
                if meta.get("deletionTimestamp"):
                    current = int(meta.get("deletionGracePeriodSeconds", grace))
                    if grace >= current:
                        return obj
                updated = copy.deepcopy(obj)
                updated["metadata"]["deletionTimestamp"] = (
                    meta.get("deletionTimestamp") or now_text()
                )
                updated["metadata"]["deletionGracePeriodSeconds"] = grace
                updated["metadata"]["resourceVersion"] = self._bump()
                self.objects[rtype.key][key] = updated
                self._emit(rtype, "MODIFIED", updated)
                return updated
            if meta.get("finalizers"):
                return self._mark_deleting(rtype, key, obj)
            return self._remove(rtype, key, obj)
        if rtype.kind == "Namespace":
            return self._delete_namespace(obj)
        if meta.get("finalizers"):
            return self._mark_deleting(rtype, key, obj)
        return self._remove(rtype, key, obj)

    def _mark_deleting(self, rtype: ResourceType, key: tuple[str, str], obj: Obj) -> Obj:
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        updated = copy.deepcopy(obj)
        updated["metadata"]["deletionTimestamp"] = now_text()
        updated["metadata"]["resourceVersion"] = self._bump()
        self.objects[rtype.key][key] = updated
        self._emit(rtype, "MODIFIED", updated)
        return updated

    def _remove(self, rtype: ResourceType, key: tuple[str, str], obj: Obj) -> Obj:
        removed = copy.deepcopy(obj)
        removed["metadata"]["resourceVersion"] = self._bump()
        removed["metadata"].setdefault("deletionTimestamp", now_text())
        self.objects[rtype.key].pop(key, None)
        self._emit(rtype, "DELETED", removed)
        self._collect_dependents(removed["metadata"]["uid"])
        for hook in self.on_removed:
            hook(rtype, removed)
        ns = removed["metadata"].get("namespace")
        if ns:
            self._finish_namespace(ns)
        return removed

    def _collect_dependents(self, uid: str) -> None:
        """Background garbage collection of objects owned by a removed one."""
        for type_key, namespace, name in sorted(self.dependents.pop(uid, set())):
            rtype = self.types.get(type_key)
            if rtype is None:
                continue
            with contextlib.suppress(ApiError):
                self.delete(rtype, namespace or None, name)

    def _namespaced_objects(self, namespace: str) -> Iterator[tuple[ResourceType, Obj]]:
        for rtype in list(self.types.values()):
            if rtype.namespaced:
                for (ns, _), obj in list(self.objects.get(rtype.key, {}).items()):
                    if ns == namespace:
                        yield rtype, obj

    def _delete_namespace(self, ns_obj: Obj) -> Obj:
        name = ns_obj["metadata"]["name"]
        rtype = self.types[("", "v1", "namespaces")]
        marked = self._mark_deleting(rtype, ("", name), ns_obj)
        if marked is not ns_obj:
            marked = copy.deepcopy(marked)
            marked["status"] = {"phase": "Terminating"}
            self.objects[rtype.key][("", name)] = marked
        for child_type, obj in list(self._namespaced_objects(name)):
            meta = obj["metadata"]
            with contextlib.suppress(ApiError):
                self.delete(child_type, name, meta["name"])
        self._finish_namespace(name)
        return marked

    def _finish_namespace(self, name: str) -> None:
        rtype = self.types.get(("", "v1", "namespaces"))
        if rtype is None:
            return
        ns_obj = self.objects[rtype.key].get(("", name))
        if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp"):
            return
        if next(self._namespaced_objects(name), None) is None:
            self._remove(rtype, ("", name), ns_obj)

    # -- watches -------------------------------------------------------------------------

    def changes_since(self, rv: int, watcher: Watcher) -> list[tuple[str, Obj]]:
        """Changes after `rv` that the watcher wants; raises 410 Gone when they are no longer
        all known."""
        if rv < self.rv and self.history and self.history[0].rv > rv + 1:
            raise ApiError(
                410, "Expired", f"too old resource version: {rv} ({self.history[0].rv - 1})"
            )
        return [
            (c.kind, c.obj) for c in self.history if c.rv > rv and watcher.wants(c.type_key, c.obj)
        ]

    def current(self, watcher: Watcher) -> Iterable[tuple[str, Obj]]:
        for (_ns, _), obj in sorted(self.objects.get(watcher.type_key, {}).items()):
            if watcher.wants(watcher.type_key, obj):
                yield "ADDED", obj
