"""Carries out a step's writes: objects first (pods, revisions, nodes), then statuses and
events, so that a status never names a pod that was not created. Status writes are
coalesced per object and sent as minimal merge patches."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ..core.patches import merge_diff
from ..core.world import (
    CreateObject,
    DeleteObject,
    PatchObject,
    PostEvent,
    ResizePool,
    World,
    Write,
    WriteStatus,
)
from .client import ApiError, Client

log = logging.getLogger(__name__)

Resizer = Callable[[ResizePool], Awaitable[None]]
# Events are useful but never worth delaying a job for: beyond this many waiting, drop.
MAX_PENDING_EVENTS = 2000


class Writer:
    def __init__(
        self, client: Client, world: World, resize: Resizer, concurrency: int = 16
    ) -> None:
        self.client = client
        self.world = world
        self.resize = resize
        self.limit = asyncio.Semaphore(concurrency)
        self.events: asyncio.Queue[PostEvent] = asyncio.Queue()
        self.instance = os.environ.get("HOSTNAME") or socket.gethostname()
        self.dropped_events = 0

    async def apply(self, writes: Iterable[Write]) -> None:
        first: list[Awaitable[None]] = []
        statuses: dict[tuple[str, str | None, str], WriteStatus] = {}
        baselines: dict[tuple[str, str | None, str], Any] = {}
        for write in writes:
            if isinstance(write, CreateObject):
                first.append(self._bounded(self._create(write)))
            elif isinstance(write, DeleteObject):
                first.append(self._bounded(self._delete(write)))
            elif isinstance(write, PatchObject):
                first.append(self._bounded(self._patch(write)))
            elif isinstance(write, ResizePool):
                first.append(self._bounded(self.resize(write)))
            elif isinstance(write, WriteStatus):
                key = (write.plural, write.namespace, write.name)
                baselines.setdefault(key, write.previous)
                statuses[key] = write
            elif isinstance(write, PostEvent):
                if self.events.qsize() < MAX_PENDING_EVENTS:
                    self.events.put_nowait(write)
                else:
                    self.dropped_events += 1
        await asyncio.gather(*first)
        await asyncio.gather(
            *(self._bounded(self._status(w, baselines[k])) for k, w in statuses.items())
        )

    async def _bounded(self, work: Awaitable[None]) -> None:
        async with self.limit:
            try:
                await work
            except Exception:  # one write failing must never stop the others
                log.exception("write failed")

    async def _create(self, write: CreateObject) -> None:
        try:
            await self.client.create(write.api_version, write.plural, write.body, write.namespace)
        except ApiError as e:
            if e.conflict:
                return  # created before (a restart, or a repeated step): the same object
            log.warning(
                "could not create %s %s: %s", write.plural, write.body["metadata"].get("name"), e
            )
            if write.job is not None and write.attempt is not None:
                index, attempt = write.attempt
                self.world.pod_create_failed(
                    write.job, index, attempt, write.body["metadata"]["name"], e.message
                )

    async def _delete(self, write: DeleteObject) -> None:
        try:
            await self.client.delete(
                write.api_version, write.plural, write.name, write.namespace, write.grace_seconds
            )
        except ApiError as e:
            if not e.not_found:
                log.warning("could not delete %s %s: %s", write.plural, write.name, e)

    async def _patch(self, write: PatchObject) -> None:
        try:
            await self.client.patch(
                write.api_version, write.plural, write.name, write.patch, write.namespace
            )
        except ApiError as e:
            if not e.not_found:
                log.warning("could not patch %s %s: %s", write.plural, write.name, e)

    async def _status(self, write: WriteStatus, baseline: Any) -> None:
        patch = merge_diff(baseline or {}, write.status)
        if not patch:
            return
        try:
            await self.client.patch(
                write.api_version,
                write.plural,
                write.name,
                {"status": patch},
                write.namespace,
                "status",
            )
        except ApiError as e:
            if e.not_found:
                return
            log.warning("could not write the status of %s %s: %s", write.plural, write.name, e)
            self.world.forget_status(write.plural, write.namespace, write.name)

    async def post_events(self) -> None:
        """Runs for the operator's life: events go out as the write budget allows."""
        while True:
            event = await self.events.get()
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
