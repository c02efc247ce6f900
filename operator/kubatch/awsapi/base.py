"""The AWS Batch API's shared parts: the cluster-scoped kinds an ARN names, paging, and the
lookups every family of operations makes."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from ..api import (
    API_VERSION,
    COMPUTEENVIRONMENTS,
    CONSUMABLERESOURCES,
    JOBQUEUES,
    SCHEDULINGPOLICIES,
    InvalidManifest,
    parse,
)
from ..api.common import Obj
from ..api.jobdefinition import JobDefinitionSpec
from ..core import Revision
from ..keys import (
    ANNOTATION_AWS_FIELDS,
    ANNOTATION_AWS_NAME,
    ANNOTATION_AWS_TAGS,
    LABEL_DEFINITION,
)
from ..kube.cache import Cache, KubatchCaches
from ..kube.client import Client
from ..kube.errors import ApiError
from . import shapes, validation
from .auth import AccessKey, Signed
from .errors import ClientError, NotFound
from .names import Arns, check_name, object_name

log = logging.getLogger("kubatch.awsapi")


@dataclass(frozen=True, kw_only=True)
class ClusterKind:
    """A cluster-scoped kind the API manages: its plural, its Kind, its name in messages,
    and whether a delete waits for state DISABLED (as AWS asks)."""

    plural: str
    kind: str
    title: str
    disable_first: bool = True


# By the kind an ARN names. Tagging them is managing them (admin keys only).
CLUSTER = {
    "compute-environment": ClusterKind(
        plural=COMPUTEENVIRONMENTS, kind="ComputeEnvironment", title="compute environment"
    ),
    "job-queue": ClusterKind(plural=JOBQUEUES, kind="JobQueue", title="job queue"),
    "scheduling-policy": ClusterKind(
        plural=SCHEDULINGPOLICIES,
        kind="SchedulingPolicy",
        title="scheduling policy",
        disable_first=False,
    ),
    "consumable-resource": ClusterKind(
        plural=CONSUMABLERESOURCES,
        kind="ConsumableResource",
        title="consumable resource",
        disable_first=False,
    ),
}
REVISION_WAIT_SECONDS = 15.0
REGION: ContextVar[str] = ContextVar("region")
"""The region the request being served was signed for."""


def page(
    items: list[Any], request: Obj, default: int = 100, most: int = 1000
) -> tuple[list[Any], str | None]:
    """A page of `items` and the nextToken of the next one (opaque to callers)."""
    size = request.get("maxResults")
    size = default if size is None else size
    if not isinstance(size, int) or not 1 <= size <= most:
        raise ClientError(f"maxResults must be between 1 and {most}")
    start = 0
    token = request.get("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ClientError("nextToken is not a token this endpoint returned") from None
    end = start + size
    following = (
        base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
        if end < len(items)
        else None
    )
    return items[start:end], following


class Operations:
    """What every family of operations shares: the client, the ARNs, the caches, and the
    lookups of a request's objects within the caller's namespace. `BatchApi` (server.py)
    derives from every family and sets what is declared here."""

    client: Client
    regions: dict[str, Arns]
    """The ARNs of each region the endpoint serves (every one sees the same cluster)."""
    caches: KubatchCaches
    keys: Callable[[str], Awaitable[dict[str, AccessKey]]]

    @property
    def arns(self) -> Arns:
        """The ARNs of the region the request being served was signed for."""
        return self.regions[REGION.get(next(iter(self.regions)))]

    # -- lookups -----------------------------------------------------------------------------

    def _node(self, job_id: Any, caller: Signed, field: str) -> tuple[Obj, int | None]:
        """The BatchJob of a multi-node job's node ("<uid>#<index>"), and the index; or
        (the job, None) for any other jobId."""
        text = self.arns.parse("job", job_id, field) if isinstance(job_id, str) else job_id
        uid, mark, node = str(text).partition("#")
        if not mark:
            return self._job(job_id, caller, field)[0], None
        obj, _ = self._job(uid, caller, field)
        if not node.isdigit() or int(node) not in shapes.node_status(obj):
            raise ClientError(f"Job {text} not found: {uid} has no node {node}")
        return obj, int(node)

    def _job(self, job_id: Any, caller: Signed, field: str = "jobId") -> tuple[Obj, int | None]:
        """The BatchJob of a jobId ("<uid>" or "<uid>:<index>") in the caller's namespace."""
        if not isinstance(job_id, str) or not job_id:
            raise ClientError(f"{field} is required")
        job_id = self.arns.parse("job", job_id, field)
        uid, _, index = job_id.partition(":")
        obj = self.caches.jobs.by_uid.get(uid)
        if obj is None or obj["metadata"]["namespace"] != caller.key.namespace:
            raise NotFound(f"Job {job_id} not found")
        if index:
            size = ((obj.get("spec") or {}).get("arrayProperties") or {}).get("size")
            if size is None or not index.isdigit() or int(index) >= size:
                raise NotFound(f"Job {job_id} not found: {uid} has no child {index}")
            return obj, int(index)
        return obj, None

    def _dependency(self, caller: Signed) -> Callable[[str], str]:
        def reference(job_id: str) -> str:
            obj, index = self._job(job_id, caller, "dependsOn.jobId")
            name = str(obj["metadata"]["name"])
            return name if index is None else f"{name}:{index}"

        return reference

    def _dependency_id(self, namespace: str) -> Callable[[str], str]:
        def job_id(reference: str) -> str:
            name, _, index = reference.partition(":")
            obj = self.caches.jobs.get(namespace, name)
            uid = obj["metadata"]["uid"] if obj else name
            return f"{uid}:{index}" if index else str(uid)

        return job_id

    def _revisions(self, namespace: str, name: str) -> dict[int, Obj]:
        return {
            int(r.get("revision", 0)): r
            for r in self.caches.revisions.values()
            if r["metadata"].get("namespace") == namespace
            and (r["metadata"].get("labels") or {}).get(LABEL_DEFINITION) == name
        }

    def _revision(self, namespace: str, name: str, number: int | None) -> Revision | None:
        found = self._revisions(namespace, name).get(number or 0)
        if found is None:
            return None
        return Revision(number or 0, JobDefinitionSpec.model_validate(found.get("data") or {}))

    def _cluster(self, kind: str, value: Any, field: str) -> tuple[str, Obj]:
        """(AWS name, object) of an environment, queue or policy named by name or ARN."""
        name = self.arns.parse(kind, value, field)
        check_name(field, name)
        obj = self.caches.of(CLUSTER[kind].plural).get(None, object_name(name))
        if obj is None:
            raise ClientError(f"{CLUSTER[kind].title.capitalize()} {name} does not exist")
        return name, obj

    async def _create_cluster(
        self, kind: str, name: str, spec: Obj, tags: Any, kept: Obj | None = None
    ) -> None:
        what = CLUSTER[kind]
        annotations = {ANNOTATION_AWS_NAME: name}
        if tags:
            annotations[ANNOTATION_AWS_TAGS] = json.dumps(shapes.string_map(tags, "tags"))
        if kept:
            annotations[ANNOTATION_AWS_FIELDS] = json.dumps(kept, sort_keys=True)
        manifest = {
            "apiVersion": API_VERSION,
            "kind": what.kind,
            "metadata": {"name": object_name(name), "annotations": annotations},
            "spec": spec,
        }
        self._check(manifest)
        await self._write(
            self.client.create(API_VERSION, what.plural, manifest), self.caches.of(what.plural)
        )

    async def _patch_cluster(self, kind: str, obj: Obj, patch: Obj) -> Obj:
        plural = CLUSTER[kind].plural
        merged = {**obj, "spec": _merge(obj.get("spec") or {}, patch.get("spec") or {})}
        self._check(merged)
        return await self._write(
            self.client.patch(API_VERSION, plural, obj["metadata"]["name"], patch),
            self.caches.of(plural),
        )

    async def _delete_cluster(self, kind: str, name: str, obj: Obj) -> Obj:
        what = CLUSTER[kind]
        if what.disable_first and (obj.get("spec") or {}).get("state") != "DISABLED":
            raise ClientError(
                f"Cannot delete {what.title} {name}: its state must be DISABLED first"
            )
        try:
            await self.client.delete(API_VERSION, what.plural, obj["metadata"]["name"])
        except ApiError as e:
            if not e.not_found:
                raise
        return {}

    if TYPE_CHECKING:

        def _detail(
            self,
            obj: Obj,
            index: int | None,
            full: bool = True,
            kids: shapes.Children | None = None,
            node: int | None = None,
        ) -> Obj: ...

    def _consumable_names(self) -> dict[str, str]:
        """Consumable resources' object names -> their AWS names."""
        return {o["metadata"]["name"]: shapes.aws_name(o) for o in self.caches.consumables.values()}

    def _check(self, manifest: Obj) -> None:
        """Refuse what the API server would refuse, with the field and the rule."""
        body = dict(manifest)
        body["metadata"] = {**body["metadata"], "name": body["metadata"].get("name") or "x"}
        try:
            parse(body)
        except InvalidManifest as e:
            raise ClientError(validation.message(e.problems)) from None

    async def _write(self, call: Awaitable[Obj], cache: Cache) -> Obj:
        try:
            written = await call
        except ApiError as e:
            refused(e)
        cache.put(written)
        return written


def refused(e: ApiError) -> NoReturn:
    """A write the API server refused, in AWS's terms: the caller's fault (ClientException)
    when it is, the server's error otherwise."""
    if e.conflict:
        raise ClientError(
            "Object already exists"
            if e.reason == "AlreadyExists"
            else "the object changed meanwhile; send the request again"
        ) from None
    if e.status in (400, 422) or e.not_found:
        raise ClientError(e.message) from None
    raise e


def _merge(base: Obj, patch: Obj) -> Obj:
    """A JSON merge patch (RFC 7386) applied to `base`."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
