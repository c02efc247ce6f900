"""What a step asks the outside world to do (effects), and what came of it (outcomes).

The engine returns effects; the controller's writer carries them out and reports each one's
outcome into the engine's inbox, which the next step reads. Nothing here does I/O: an
outcome is a plain record of the API server's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ...api.common import Obj
from ...autoscaling.types import ResizeRequest, ResizeResult
from ...keys import split_cluster


@dataclass(frozen=True, kw_only=True)
class CreateObject:
    api_version: str
    plural: str
    namespace: str | None
    body: Obj
    intent: str | None = None
    """The pod intent this create serves (its namespace/name), for the outcome."""


@dataclass(frozen=True, kw_only=True)
class DeleteObject:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    grace_seconds: int | None = None
    intent: str | None = None
    """The stop intent this delete serves (the pod's namespace/name), for the outcome."""


@dataclass(frozen=True, kw_only=True)
class PatchObject:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    patch: Obj
    intent: str | None = None
    """The pod release or stop this patch serves (the pod's namespace/name), for the
    outcome."""


@dataclass(frozen=True, kw_only=True)
class WriteStatus:
    api_version: str
    plural: str
    namespace: str | None
    name: str
    status: Obj
    previous: Obj | None = None
    """What the server holds, as far as known: the patch removes what is gone from it."""


@dataclass(frozen=True, kw_only=True)
class PostEvent:
    namespace: str
    involved: Obj
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class KeepLog:
    """Read a pod's container log (at most `limit` bytes: its tail past that) and keep it
    in `body`, a ConfigMap without its data."""

    namespace: str
    pod: str
    container: str
    limit: int
    body: Obj = field(hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{split_cluster(self.namespace)[1]}/{self.pod}"  # as its ConfigMap is named


@dataclass(frozen=True)
class ResizePool:
    """Ask the environment's provider for a pool of the planned size."""

    request: ResizeRequest


Effect = CreateObject | DeleteObject | PatchObject | WriteStatus | PostEvent | ResizePool | KeepLog
"""Objects first: the writer carries out creates, deletes, patches, resizes and kept logs
before status writes, so that a status never names a pod that was not asked for."""


@dataclass(frozen=True)
class Failure:
    """The API server's refusal (or its silence: code 0)."""

    code: int
    reason: str
    message: str

    @property
    def exists(self) -> bool:
        """A create found the object already there: the same object, made before."""
        return self.code == 409 and self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.code == 404

    @property
    def transient(self) -> bool:
        """Worth sending again: no answer, throttled, a server error; or a refusal that
        lifts by itself on a real cluster (a new namespace's default ServiceAccount not made
        yet, a quota not yet freed)."""
        if self.code in (0, 429, 500, 502, 503, 504):
            return True
        lifts = ("error looking up service account", "exceeded quota", "is being terminated")
        return self.code == 403 and any(text in self.message for text in lifts)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    effect: Effect
    failure: Failure | None = None
    resized: ResizeResult | None = None
    """A provider's answer to a ResizePool."""
    version: int = -1
    """The resourceVersion the server answered a write with (-1 when unknown)."""

    @property
    def ok(self) -> bool:
        return self.failure is None


def event_reference(obj: Obj, default_api_version: str) -> Mapping[str, str]:
    """An object reference for an Event's involvedObject."""
    meta = obj["metadata"]
    ref = {
        "apiVersion": obj.get("apiVersion", default_api_version),
        "kind": obj.get("kind", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


MAX_EVENT_MESSAGE = 1024


def event(
    obj: Obj, kind: Literal["Normal", "Warning"], reason: str, message: str, api_version: str
) -> PostEvent:
    """An Event about `obj` (in its namespace, or default for cluster-scoped objects)."""
    return PostEvent(
        namespace=obj["metadata"].get("namespace") or "default",
        involved=dict(event_reference(obj, api_version)),
        type=kind,
        reason=reason,
        message=message[:MAX_EVENT_MESSAGE],
    )
