"""Logs kept beyond their pods. AWS keeps a job's log in CloudWatch after its instance is gone;
on a cluster a pod's log goes with the pod, and the pod goes with its node: the pod garbage
collector deletes a removed node's pods 40 s after, and an environment scaling in removes
nodes. So when an attempt's container has ended, the engine asks for its log to be kept in a
ConfigMap named after the pod, labelled as the pod is and owned by the job (it goes when the
job goes). The whole log is kept up to a limit, its tail past it.

Readers (`kubatch logs`, the console, GetLogEvents) read the pod's log while the pod exists and
the kept one after: `kept_log` reads it back. Level-triggered like every effect here: a keep
is asked again until its ConfigMap exists (created, or seen by the watch of kept logs)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from ...api.common import Obj
from ...keys import (
    ANNOTATION_DEFAULT_CONTAINER,
    KEPT_LOG_CONTAINER,
    KEPT_LOG_DATA,
    KEPT_LOG_DROPPED,
    KEPT_LOG_ENDED,
    KEPT_LOG_NODE,
    LABEL_JOB_NAME,
    LABEL_JOB_UID,
    LABEL_KEPT_LOG,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    split_cluster,
)
from ..jobs.attempts import CONTAINER_NAME, essential_container
from ..jobs.pods import owned_by
from .effects import Failure, KeepLog

RETRY = timedelta(seconds=5)
"""How long a keep that failed for a passing reason waits before it is asked again."""
IN_FLIGHT = timedelta(seconds=60)
"""How long a keep may take (reading the log, then creating its ConfigMap) before it is asked
again."""


def _ended_container(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """How the attempt's container ended, if it ran (so it has a log): a container that never
    started (an image never pulled, a command never found) has none to keep."""
    essential = essential_container(pod)
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") != essential:
            continue
        terminated = (container.get("state") or {}).get("terminated") or {}
        started = terminated.get("startedAt")
        ran = bool(started) and not str(started).startswith("1970-01-01")
        return terminated if ran else None
    return None


def _owners(meta: Mapping[str, Any]) -> list[Any]:
    """The pod's owner (its job): a worker cluster's pods have none there, their labels say it."""
    owners = list(meta.get("ownerReferences") or [])
    labels = meta.get("labels") or {}
    if not owners and labels.get(LABEL_JOB_NAME) and labels.get(LABEL_JOB_UID):
        owners = [owned_by(labels[LABEL_JOB_NAME], labels[LABEL_JOB_UID])]
    return owners


def keep_request(pod: Mapping[str, Any], limit: int) -> KeepLog | None:
    """What keeping an ended attempt's log asks for; None when there is nothing to keep
    (the pod has not ended, or its container never ran)."""
    if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
        return None
    ended = _ended_container(pod)
    if ended is None:
        return None
    meta = pod["metadata"]
    labels = {**(meta.get("labels") or {}), LABEL_MANAGED_BY: MANAGED_BY}
    labels[LABEL_KEPT_LOG] = meta["name"]
    body: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": meta["name"],
            "namespace": split_cluster(meta["namespace"])[1],  # beside its job
            "labels": labels,
            "ownerReferences": _owners(meta),
        },
        # How the attempt ended, as its pod said: what is left of it once the pod is gone.
        "data": {
            KEPT_LOG_ENDED: json.dumps(dict(ended), sort_keys=True),
            KEPT_LOG_NODE: str((pod.get("spec") or {}).get("nodeName") or ""),
        },
    }
    return KeepLog(
        namespace=meta["namespace"],
        pod=meta["name"],
        container=essential_container(pod),
        limit=limit,
        body=body,
    )


def kept_body(effect: KeepLog, text: str, dropped: int) -> Obj:
    """The ConfigMap that keeps `text` (the log with the runtime's timestamps; `dropped`
    bytes before it were not kept), gzipped."""
    body = dict(effect.body)
    packed = gzip.compress(text.encode(), mtime=0)
    body["binaryData"] = {KEPT_LOG_DATA: base64.b64encode(packed).decode()}
    body["data"] = {
        **(body.get("data") or {}),
        KEPT_LOG_CONTAINER: effect.container,
        KEPT_LOG_DROPPED: str(dropped),
    }
    return body


def kept_pod(configmap: Mapping[str, Any]) -> dict[str, Any]:
    """What a kept log says of its pod (its name, labels, node and how its container ended),
    in a pod's shape: readers that read an attempt from its pod read it the same way."""
    meta = configmap["metadata"]
    data = configmap.get("data") or {}
    labels = dict(meta.get("labels") or {})
    ended = json.loads(data[KEPT_LOG_ENDED]) if data.get(KEPT_LOG_ENDED) else {}
    container = str(data.get(KEPT_LOG_CONTAINER) or CONTAINER_NAME)
    return {
        "metadata": {
            "name": labels.get(LABEL_KEPT_LOG, meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": {ANNOTATION_DEFAULT_CONTAINER: container},
        },
        "spec": {"nodeName": data.get(KEPT_LOG_NODE) or None},
        "status": {
            "phase": "Succeeded" if ended.get("exitCode") == 0 else "Failed",
            "containerStatuses": [{"name": container, "state": {"terminated": ended}}],
        },
    }


def tail_within(text: str, limit: int) -> tuple[str, int]:
    """The whole lines at the end of `text` that fit in `limit` bytes, and how many bytes
    before them were left out."""
    data = text.encode()
    if len(data) <= limit:
        return text, 0
    cut = len(data) - limit
    kept = data[cut:]
    if data[cut - 1 : cut] != b"\n":  # a line cut in two: not kept
        newline = kept.find(b"\n")
        kept = kept[newline + 1 :] if newline >= 0 else b""
    return kept.decode(errors="replace"), len(data) - len(kept)


def kept_log(configmap: Mapping[str, Any]) -> str:
    """The log a ConfigMap keeps, with the runtime's timestamps (as `timestamps=true` reads a
    pod's), after a line saying how much was left out, if any."""
    binary = configmap.get("binaryData") or {}
    data = configmap.get("data") or {}
    packed = binary.get(KEPT_LOG_DATA)
    text = gzip.decompress(base64.b64decode(packed)).decode(errors="replace") if packed else ""
    dropped = int(str(data.get(KEPT_LOG_DROPPED) or "0") or 0)
    if dropped and text:
        stamp = text.split(" ", 1)[0]
        text = f"{stamp} [kubatch: the first {dropped} bytes of this log were not kept]\n" + text
    return text


def serve_kept_log(text: str, timestamps: bool = True, tail: int | None = None) -> str:
    """A kept log as a pod's would be served: without the timestamps unless asked, its last
    `tail` lines when asked."""
    lines = text.splitlines()
    if tail is not None:
        lines = lines[-tail:] if tail else []
    if not timestamps:
        lines = [line.split(" ", 1)[1] if " " in line else "" for line in lines]
    return "".join(f"{line}\n" for line in lines)


class LogKeeper:
    """Which ended attempts' logs are kept, asked for, or being kept. `limit` 0 keeps none."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: set[str] = set()
        """Pods ("namespace/name") whose log a ConfigMap keeps."""
        self.wanted: dict[str, KeepLog] = {}
        self.again: dict[str, datetime] = {}
        """When a wanted keep is asked (again): now, after a failure, or once one in flight
        has taken too long."""

    def seen(self, configmap: Mapping[str, Any], present: bool = True) -> None:
        """A kept log's ConfigMap, as the watch saw it."""
        meta = configmap["metadata"]
        key = f"{meta.get('namespace')}/{(meta.get('labels') or {}).get(LABEL_KEPT_LOG)}"
        if present:
            self.kept.add(key)
            self.wanted.pop(key, None)
            self.again.pop(key, None)
        else:
            self.kept.discard(key)

    def unlisted(self, listed: set[str]) -> None:
        """A new list of kept logs (by "namespace/name" of their ConfigMaps, named as their
        pods): what it lacks is no longer kept."""
        self.kept &= listed

    def ended(self, pod: Mapping[str, Any], now: datetime) -> None:
        """An attempt's pod, seen (Kubatch's only): keep its log once it has ended."""
        if not self.limit:
            return
        meta = pod["metadata"]
        key = f"{split_cluster(meta.get('namespace') or '')[1]}/{meta['name']}"
        if key in self.kept or key in self.wanted:
            return
        request = keep_request(pod, self.limit)
        if request is not None:
            self.wanted[key] = request
            self.again[key] = now

    def due(self, now: datetime) -> Iterator[KeepLog]:
        for key, when in list(self.again.items()):
            if when <= now:
                self.again[key] = now + IN_FLIGHT
                yield self.wanted[key]

    def outcome(self, effect: KeepLog, failure: Failure | None, now: datetime) -> None:
        key = effect.key
        if key not in self.wanted:
            return
        if failure is None or failure.exists:
            self.kept.add(key)
        elif failure.transient:
            self.again[key] = now + RETRY
            return
        # Kept, or never to be (the pod went first, its container never logged): asked no more.
        self.wanted.pop(key, None)
        self.again.pop(key, None)

    def next_wake(self) -> datetime | None:
        return min(self.again.values(), default=None)
