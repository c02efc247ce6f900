"""The API server's storage: typed resources, objects, versions, selectors, patches, watches.

Everything here is synchronous and in memory; server.py puts HTTP in front of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..containers import Obj
from . import schema as crd_schema

# How many changes a watch can resume from; older resourceVersions get 410 Gone.
HISTORY = 200_000


# The emulator serves plain HTTP, so no certificate signs anything; the ConfigMap that a real
# cluster puts into every namespace exists all the same, for programs that look for it.
EMULATOR_CA = "# kubatch emulator: plain HTTP on 127.0.0.1, no certificate authority\n"


class ApiError(Exception):
    """A Kubernetes Status failure."""

    def __init__(self, code: int, reason: str, message: str, causes: list[str] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes or []

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.causes:
            causes = []
            for cause in self.causes:
                field, _, message = cause.partition(": ")
                causes.append(
                    {"reason": "FieldValueInvalid", "field": field, "message": message}
                    if message
                    else {"message": cause}
                )
            body["details"] = {"causes": causes}
        return body


def _content(obj: Obj) -> Obj:
    """What counts for metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _validated(
    rtype: ResourceType, obj: Obj, schema: Obj, value: Obj, strict: bool, old: Obj | None = None
) -> Obj:
    """`value` as stored under `schema`; 422 Invalid naming every broken rule otherwise."""
    admitted, errors = crd_schema.admit(schema, value, strict, old)
    if errors:
        name = obj.get("metadata", {}).get("name", "")
        message = f'{rtype.kind}.{rtype.group} "{name}" is invalid: ' + "; ".join(errors)
        raise ApiError(422, "Invalid", message, errors)
    return admitted


def event_line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind} "{name}" not found')


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(kw_only=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: Obj | None = None
    columns: tuple[Obj, ...] = ()
    scale: Obj | None = None
    """The CRD's scale subresource: specReplicasPath, statusReplicasPath, labelSelectorPath."""
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )  # fmt: skip

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()


# -- selectors ---------------------------------------------------------------------------

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


# -- patches -----------------------------------------------------------------------------


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

    def _admit(self, rtype: ResourceType, obj: Obj, strict: bool, old: Obj | None = None) -> Obj:
        if rtype.schema is None:
            return obj
        if old is not None and _content(old) == _content(obj):
            # Ratcheting, as API servers do: what did not change is not validated again.
            return self._admit_status(rtype, obj, strict)
        return _validated(rtype, obj, rtype.schema, obj, strict, old)

    def _admit_status(self, rtype: ResourceType, obj: Obj, strict: bool) -> Obj:
        assert rtype.schema is not None
        status_schema = rtype.schema.get("properties", {}).get("status")
        if status_schema is None or "status" not in obj:
            return obj
        wrapper = {"type": "object", "properties": {"status": status_schema}}
        admitted = _validated(rtype, obj, wrapper, {"status": obj["status"]}, strict)
        return {**obj, "status": admitted["status"]}

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
        obj = self._admit(rtype, obj, strict)
        if rtype.kind == "Pod":
            self._admit_service_account(obj)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_text()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        self._defaults(rtype, obj)
        if self.dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self.objects[rtype.key][key] = obj
        self._emit(rtype, "ADDED", obj)
        if rtype.kind == "Namespace":
            self._populate_namespace(meta["name"])
        return obj

    def _admit_service_account(self, pod: Obj) -> None:
        """The ServiceAccount admission plugin: a pod runs as an account that exists (the
        namespace's `default` unless it names one), and says so in its spec."""
        spec = pod.setdefault("spec", {})
        meta = pod["metadata"]
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        namespace = meta["namespace"]
        if (namespace, account) not in self.objects[("", "v1", "serviceaccounts")]:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{meta.get("name") or meta.get("generateName", "")}" is forbidden: error '
                f"looking up service account {namespace}/{account}: "
                f'serviceaccount "{account}" not found',
            )
        spec["serviceAccountName"] = spec["serviceAccount"] = account

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

    def _defaults(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind == "Secret":
            _secret_string_data(obj)
        elif rtype.kind == "Pod":
            # As a real API server's pod strategy: Pending, with the pod's QoS class.
            obj.setdefault("status", {"phase": "Pending", "qosClass": qos_class(obj["spec"])})
            obj["spec"].setdefault("terminationGracePeriodSeconds", 30)
            if obj["spec"].get("schedulingGates"):
                # What a real API server's pod strategy does: a gated pod says why it waits.
                obj["status"]["conditions"] = [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "SchedulingGated",
                        "message": "Scheduling is blocked due to non-empty scheduling gates",
                        "lastTransitionTime": now_text(),
                    }
                ]
        elif rtype.kind == "Namespace":
            # The NamespaceDefaultLabelName admission of a real API server.
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj.setdefault("status", {"phase": "Active"})
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})

    def _store_update(self, rtype: ResourceType, old: Obj, new: Obj) -> Obj:
        if rtype.kind == "Secret":
            _secret_string_data(new)
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
        if _content(old) != _content(new):
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
        new = self._admit(rtype, new, strict, old)
        if rtype.kind == "Pod" and subresource is None:
            _pod_update(old, new)
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


MUTABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def qos_class(spec: Obj) -> str:
    """Guaranteed (every container limits CPU and memory, requests equal to limits),
    Burstable (some request or limit), or BestEffort."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    guaranteed, some = True, False
    for container in containers:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        for kind in ("cpu", "memory"):
            some = some or kind in requests or kind in limits
            if kind not in limits or str(requests.get(kind)) != str(limits[kind]):
                guaranteed = False
    if guaranteed and containers:
        return "Guaranteed"
    return "Burstable" if some else "BestEffort"


def _invalid_pod(old: Obj, field: str, detail: str) -> ApiError:
    name = old["metadata"]["name"]
    return ApiError(422, "Invalid", f'Pod "{name}" is invalid: {field}: {detail}', [field])


def _pod_update(old: Obj, new: Obj) -> None:
    """What a pod's update may change, as a real API server checks it: its scheduling gates
    can be removed, never added; activeDeadlineSeconds can be set or lowered, never raised or
    unset; images can change, tolerations be added; nothing else of its spec."""
    before_spec, after_spec = old.get("spec") or {}, new.get("spec") or {}
    before = {g.get("name") for g in before_spec.get("schedulingGates") or []}
    after = after_spec.get("schedulingGates") or []
    for i, gate in enumerate(after):
        if gate.get("name") not in before:
            rule = f"only deletion is allowed, but found new scheduling gate '{gate.get('name')}'"
            raise _invalid_pod(old, f"spec.schedulingGates[{i}].name", f"Forbidden: {rule}")
    was, deadline = (
        before_spec.get("activeDeadlineSeconds"),
        after_spec.get("activeDeadlineSeconds"),
    )
    field = "spec.activeDeadlineSeconds"
    if deadline is None and was is not None:
        rule = 'Invalid value: "null": must not update from a positive integer to nil value'
        raise _invalid_pod(old, field, rule)
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        rule = f"Invalid value: {deadline}: must be between 1 and 2147483647, inclusive"
        raise _invalid_pod(old, field, rule)
    if deadline is not None and was is not None and deadline > was:
        raise _invalid_pod(
            old, field, f"Invalid value: {deadline}: must be less than or equal to previous value"
        )
    if _immutable_part(before_spec) != _immutable_part(after_spec):
        rule = f"Forbidden: pod updates may not change fields other than {MUTABLE_POD_FIELDS}"
        raise _invalid_pod(old, "spec", rule)


def _immutable_part(spec: Obj) -> Obj:
    """A pod's spec without what an update may change (images, the deadline, tolerations,
    scheduling gates; nodeName is the binding's)."""
    kept = {
        k: v
        for k, v in spec.items()
        if k not in ("activeDeadlineSeconds", "tolerations", "schedulingGates", "nodeName")
    }
    for key in ("containers", "initContainers"):
        if key in kept:
            kept[key] = [{k: v for k, v in c.items() if k != "image"} for c in kept[key] or []]
    return kept


def _secret_string_data(secret: Obj) -> None:
    """As a real API server stores a Secret: stringData is write-only, merged into data
    (base64) over any equal key, and the type defaults to Opaque."""
    strings = secret.pop("stringData", None) or {}
    if strings:
        data = secret.setdefault("data", {})
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    secret.setdefault("type", "Opaque")
