"""Carries out a step's effects and reports each one's outcome into the engine's inbox.

Objects first (pods, revisions, BatchJobs, node pools), then statuses and events, so that a
status never names a pod that was not asked for. Statuses go as minimal merge patches
against what the server is known to hold. The writer decides nothing: what failed is in the
outcome, and the engine sends it again if it still wants it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from ..autoscaling.types import ResizeResult
from ..core import (
    CreateObject,
    DeleteObject,
    Effect,
    Failure,
    KeepLog,
    Outcome,
    PatchObject,
    PostEvent,
    ResizePool,
    WriteStatus,
    kept_body,
    merge_diff,
    tail_within,
)
from ..kube.client import Client
from ..kube.errors import ApiError
from .clusters import body_out

log = logging.getLogger(__name__)

Resizer = Callable[[ResizePool], Awaitable[ResizeResult | None]]
Route = Callable[[str], "tuple[Client, str] | None"]
"""Where a write to a namespace goes: a worker cluster's client and its namespace there, or
None for the operator's own cluster (controller/clusters.py)."""
Report = Callable[[Outcome], None]
# Events are useful but never worth delaying a job for: beyond this many waiting, drop.
MAX_PENDING_EVENTS = 2000


def failure_of(error: ApiError) -> Failure:
    return Failure(error.status, error.reason, error.message)


def version_of(body: dict[str, object]) -> int:
    metadata = body.get("metadata")
    text = metadata.get("resourceVersion", "") if isinstance(metadata, dict) else ""
    return int(text) if isinstance(text, str) and text.isdigit() else -1


class Writer:
    def __init__(
        self,
        client: Client,
        report: Report,
        resize: Resizer,
        concurrency: int = 16,
        may_write: Callable[[], bool] = lambda: True,
        route: Route = lambda namespace: None,
        origin: str = "",
    ) -> None:
        self.client = client
        self.route = route
        self.origin = origin
        """This cluster's identity, on what it creates in worker clusters (clusters.body_out)."""
        self.report = report
        self.resize = resize
        self.may_write = may_write
        """Checked before every write: a leader whose lease may have lapsed writes nothing."""
        self.limit = asyncio.Semaphore(concurrency)
        self.events: asyncio.Queue[PostEvent] = asyncio.Queue()
        self.instance = os.environ.get("HOSTNAME") or socket.gethostname()
        self.dropped_events = 0

    async def apply(self, effects: Iterable[Effect]) -> None:
        first: list[Effect] = []
        statuses: list[WriteStatus] = []
        for effect in effects:
            if isinstance(effect, WriteStatus):
                statuses.append(effect)
            elif isinstance(effect, PostEvent):
                if self.events.qsize() < MAX_PENDING_EVENTS:
                    self.events.put_nowait(effect)
                else:
                    self.dropped_events += 1
            else:
                first.append(effect)
        await asyncio.gather(*(self._bounded(e) for e in first))
        await asyncio.gather(*(self._bounded(e) for e in statuses))

    async def _bounded(self, effect: Effect) -> None:
        async with self.limit:
            if not self.may_write():
                self.report(
                    Outcome(effect=effect, failure=Failure(0, "NotLeading", "not sure to lead"))
                )
                return
            try:
                self.report(await self._carry_out(effect))
            except ApiError as e:
                self.report(Outcome(effect=effect, failure=failure_of(e)))
            except Exception as e:  # one write failing must never stop the others
                log.exception("write failed")
                self.report(Outcome(effect=effect, failure=Failure(0, type(e).__name__, str(e))))

    def _where(self, namespace: str | None) -> tuple[Client, str | None, bool]:
        """(client, namespace there, whether in a worker cluster)."""
        routed = self.route(namespace) if namespace else None
        if routed is None:
            return self.client, namespace, False
        return routed[0], routed[1], True

    async def _carry_out(self, effect: Effect) -> Outcome:
        client = self.client
        if isinstance(effect, CreateObject):
            client, namespace, remote = self._where(effect.namespace)
            body = body_out(effect.body, self.origin) if remote else effect.body
            try:
                created = await client.create(effect.api_version, effect.plural, body, namespace)
            except ApiError as e:
                if not e.conflict:
                    name = effect.body["metadata"].get("name")
                    log.warning("could not create %s %s: %s", effect.plural, name, e)
                raise
            return Outcome(effect=effect, version=version_of(created))
        if isinstance(effect, DeleteObject):
            client, namespace, _ = self._where(effect.namespace)
            await client.delete(
                effect.api_version, effect.plural, effect.name, namespace, effect.grace_seconds
            )
            return Outcome(effect=effect)
        if isinstance(effect, PatchObject):
            client, namespace, _ = self._where(effect.namespace)
            await client.patch(
                effect.api_version, effect.plural, effect.name, effect.patch, namespace
            )
            return Outcome(effect=effect)
        if isinstance(effect, WriteStatus):
            patch = merge_diff(effect.previous or {}, effect.status)
            if not patch:
                return Outcome(effect=effect)
            written = await client.patch(
                effect.api_version,
                effect.plural,
                effect.name,
                {"status": patch},
                effect.namespace,
                "status",
            )
            return Outcome(effect=effect, version=version_of(written))
        if isinstance(effect, KeepLog):
            return await self._keep_log(effect)
        if isinstance(effect, ResizePool):
            try:
                result = await self.resize(effect)
            except ApiError:
                raise
            except Exception as e:  # a provider's own failure is the environment's news
                log.exception("provider %s failed", effect.request.provider)
                result = ResizeResult(error=f"{type(e).__name__}: {e}")
            return Outcome(effect=effect, resized=result)
        raise TypeError(f"not an effect the writer carries out: {effect!r}")

    async def _keep_log(self, effect: KeepLog) -> Outcome:
        """Read an ended attempt's log (the whole of it up to the limit, its tail past it) and
        keep it in a ConfigMap. A log the kubelet no longer serves (its pod gone) is an
        outcome like any other: the engine asks no more."""
        client, namespace, _ = self._where(effect.namespace)  # the pod's cluster
        path = f"/api/v1/namespaces/{namespace}/pods/{effect.pod}/log"
        params = {"container": effect.container, "timestamps": "true"}
        head = await client.text(path, {**params, "limitBytes": str(effect.limit)})
        text, dropped = head, 0
        if len(head.encode()) >= effect.limit:
            tail = await client.text(path, {**params, "tailLines": str(head.count("\n"))})
            text, dropped = tail_within(tail, effect.limit)
        body = kept_body(effect, text, dropped)  # beside its job, in this cluster
        created = await self.client.create("v1", "configmaps", body, body["metadata"]["namespace"])
        return Outcome(effect=effect, version=version_of(created))

    async def spare_budget(self) -> None:
        """Events are best-effort: they go out only while the write budget is at least half
        full, so that pods and statuses never wait behind them (under a sustained load at
        a low KUBATCH_WRITE_QPS, events wait, and past MAX_PENDING_EVENTS are dropped)."""
        bucket = self.client.bucket
        while bucket.level() < bucket.capacity / 2:
            await asyncio.sleep(1 / bucket.qps)

    async def post_events(self) -> None:
        """Runs for the operator's life: events go out as the write budget allows."""
        while True:
            event = await self.events.get()
            await self.spare_budget()
            if not self.may_write():
                continue
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "generateName": f"{event.involved['name']}.",
                    "namespace": event.namespace,
                },
                "involvedObject": event.involved,
                "reason": event.reason,
                "message": event.message,
                "type": event.type,
                "source": {"component": "kubatch"},
                "reportingComponent": "kubatch",
                "reportingInstance": self.instance,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            try:
                await self.client.create("v1", "events", body, event.namespace)
            except ApiError as e:
                log.debug("could not post an event: %s", e)
