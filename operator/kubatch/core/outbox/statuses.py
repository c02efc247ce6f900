"""Statuses: what each object's status should say, and a book that writes it until the API
server holds it.

`StatusBook` keeps, per object, the status the engine wants and the one the server is known
to hold (from the object as read, or from a write that succeeded). Whenever they differ and
no write is on its way, `due()` sends the difference; a failed write is sent again after a
back-off. So a lost or refused write is repaired, and a status someone else changed is put
back. Once the two agree, the entry keeps that one status as canonical JSON, deflated
against a dictionary of the words statuses are made of (zlib's preset dictionary), instead
of a tree of dicts and lists: a queued job's status takes about 60 bytes that way, against
1 KiB as a tree and 0.3 KiB as text; it is read back only when the status changes or is
asked for.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ...api import API_VERSION
from ...api.common import Condition, ConditionStatus, JobStatus, Obj
from ...api.times import parse_time
from .effects import Failure, WriteStatus

StatusKey = tuple[str, str]
"""(plural, "namespace/name")"""

MAX_BACKOFF_SECONDS = 60.0


def status_key(plural: str, namespace: str | None, name: str) -> StatusKey:
    return (plural, f"{namespace or ''}/{name}")


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True, kw_only=True)
class _Entry:
    api_version: str
    namespace: str | None
    name: str
    desired: Obj | None = None
    confirmed: Obj | None = None
    """What the server holds, as far as known."""
    version: int = -1
    """The resourceVersion `confirmed` was read at (or written with)."""
    sent: Obj | None = None
    """The status of the write on its way, if one is."""
    retry_at: datetime | None = None
    failures: int = 0
    settled: bytes | None = None
    """When the server holds what is wanted and nothing is on its way: that status, packed
    (`desired` and `confirmed` are then None)."""

    def unsettle(self) -> None:
        if self.settled is not None:
            self.desired = self.confirmed = _unpack(self.settled)
            self.settled = None

    def settle(self) -> None:
        """Keep the status as text once the server holds what is wanted."""
        if self.sent is None and self.desired is not None and self.desired == self.confirmed:
            self.settled = _pack(self.desired)
            self.desired = self.confirmed = None


_WORDS = (
    b'"SUCCEEDED","FAILED","RUNNING","STARTING","PENDING","SUBMITTED","reason":"'
    b'"exitCode":"podName":"nodeName":"computeEnvironment":"startedAt":"stoppedAt":'
    b'{"attemptCount":0,"attempts":[],"conditions":[],"createdAt":"2026-01-01T00:00:00Z",'
    b'"jobDefinitionRevision":1,"observedGeneration":1,"positionInQueue":1,'
    b'"runnableAt":"2026-01-01T00:00:00Z","status":"RUNNABLE",'
    b'"statusReason":"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"}'
)
"""zlib's preset dictionary: what a job's status is made of, the likeliest last (closest)."""
_WINDOW = -10
"""A raw deflate stream with a 1 KiB window: it covers the dictionary, and a small window
costs little to set up for each status."""


def _pack(status: Obj) -> bytes:
    text = json.dumps(status, sort_keys=True, separators=(",", ":")).encode()
    packer = zlib.compressobj(6, zlib.DEFLATED, _WINDOW, 1, zlib.Z_DEFAULT_STRATEGY, _WORDS)
    return packer.compress(text) + packer.flush()


def _unpack(packed: bytes) -> Obj:
    unpacker = zlib.decompressobj(_WINDOW, _WORDS)
    found: Obj = json.loads(unpacker.decompress(packed) + unpacker.flush())
    return found


class StatusBook:
    def __init__(self) -> None:
        self.entries: dict[StatusKey, _Entry] = {}
        self.pending: set[StatusKey] = set()
        """Entries whose desired status may differ from what the server holds."""

    def _entry(self, plural: str, obj: Obj) -> tuple[StatusKey, _Entry]:
        meta = obj["metadata"]
        key = status_key(plural, meta.get("namespace"), meta["name"])
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry(
                api_version=obj.get("apiVersion", API_VERSION),
                namespace=meta.get("namespace"),
                name=meta["name"],
            )
        return key, entry

    def observed(self, plural: str, obj: Obj, version: int) -> None:
        """The object as read from the API (a list or a watch event)."""
        key, entry = self._entry(plural, obj)
        if entry.sent is not None or version <= entry.version:
            return  # a write is on its way, or this is older than what is known
        status = obj.get("status") or {}
        entry.version = version
        if entry.settled is not None and _pack(status) == entry.settled:
            return
        entry.unsettle()
        entry.confirmed = status
        if entry.desired is not None and entry.desired != entry.confirmed:
            self.pending.add(key)
        entry.settle()

    def want(self, plural: str, obj: Obj, status: Obj) -> None:
        key, entry = self._entry(plural, obj)
        if entry.settled is not None:
            if _pack(status) == entry.settled:
                return
            entry.unsettle()
        entry.desired = status
        if status != entry.confirmed or entry.sent is not None:
            self.pending.add(key)
        else:
            entry.settle()

    def current(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """The status last wanted (or, failing that, the one the server holds)."""
        entry = self.entries.get(status_key(plural, namespace, name))
        if entry is None:
            return None
        if entry.settled is not None:
            return _unpack(entry.settled)
        return entry.desired if entry.desired is not None else entry.confirmed

    def forget(self, plural: str, namespace: str | None, name: str) -> None:
        key = status_key(plural, namespace, name)
        self.entries.pop(key, None)
        self.pending.discard(key)

    def due(self, now: datetime) -> list[WriteStatus]:
        writes: list[WriteStatus] = []
        for key in sorted(self.pending):
            entry = self.entries.get(key)
            if entry is None or entry.desired is None:
                self.pending.discard(key)
                continue
            if entry.sent is not None or (entry.retry_at is not None and now < entry.retry_at):
                continue
            if entry.desired == entry.confirmed:
                self.pending.discard(key)
                entry.settle()
                continue
            entry.sent = entry.desired
            writes.append(
                WriteStatus(
                    api_version=entry.api_version,
                    plural=key[0],
                    namespace=entry.namespace,
                    name=entry.name,
                    status=entry.desired,
                    previous=entry.confirmed,
                )
            )
        return writes

    def outcome(
        self, write: WriteStatus, failure: Failure | None, version: int, now: datetime
    ) -> None:
        key = status_key(write.plural, write.namespace, write.name)
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.sent = None
        if failure is None:
            entry.confirmed = write.status
            entry.version = max(entry.version, version)
            entry.failures = 0
            entry.retry_at = None
            if entry.desired != entry.confirmed:
                self.pending.add(key)
            else:
                self.pending.discard(key)
                entry.confirmed = entry.desired  # one copy, whichever the write carried
                entry.settle()
            return
        if failure.gone:
            self.forget(write.plural, write.namespace, write.name)
            return
        entry.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (entry.failures - 1))
        entry.retry_at = now + timedelta(seconds=delay)
        self.pending.add(key)

    def next_retry(self) -> datetime | None:
        times = [
            e.retry_at
            for k in self.pending
            if (e := self.entries.get(k)) is not None and e.retry_at is not None
        ]
        return min(times, default=None)


# -- the documents ---------------------------------------------------------------------------


def condition(
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
    previous: Iterable[Obj] = (),
) -> Obj:
    """A metav1.Condition; its lastTransitionTime stays while its status does."""
    status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    since = now
    for old in previous:
        if (
            old.get("type") == kind
            and old.get("status") == status.value
            and old.get("lastTransitionTime")
        ):
            since = parse_time(old["lastTransitionTime"]) or now
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message[:32768],
        last_transition_time=since,
        observed_generation=generation,
    ).wire()


def validity(
    obj: Obj, plural: str, valid: bool, reason: str | None, now: datetime, book: StatusBook
) -> Obj:
    """The part of a status every validated kind shares: status, observedGeneration, the
    Valid condition and, when invalid, the reason."""
    meta = obj["metadata"]
    generation = meta.get("generation")
    kind = obj.get("kind") or plural
    before = book.current(plural, meta.get("namespace"), meta["name"]) or obj.get("status") or {}
    found = condition(
        "Valid",
        valid,
        "Validated" if valid else "Invalid",
        reason or f"the {kind} is valid",
        generation,
        now,
        before.get("conditions") or [],
    )
    status: Obj = {
        "status": "VALID" if valid else "INVALID",
        "observedGeneration": generation,
        "conditions": [found],
    }
    if reason:
        status["statusReason"] = reason
    return status


def queue_counts(counts: Counter[JobStatus] | None) -> Obj:
    return {s.value: (counts or Counter())[s] for s in JobStatus}


def shares_status(
    usage: Mapping[str, float], running: Mapping[str, int], weights: Mapping[str, float]
) -> list[Obj]:
    return [
        {
            "shareIdentifier": share,
            "weightFactor": weights[share],
            "usage": round(value, 1),
            "runningvCpus": round(running.get(share, 0) / 1000, 3),
        }
        for share, value in sorted(usage.items())
    ]
