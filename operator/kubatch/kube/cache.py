"""Objects of one resource kept in memory from a list and a watch (an informer with a
"synced" signal and indexes by uid and by namespace/name), so that the servers beside the
operator (the AWS Batch API, the web console) answer without a request to the API server
each, and can tell their clients when something changed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence

from ..api import (
    API_VERSION,
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    CONSUMABLERESOURCES,
    JOBDEFINITIONS,
    JOBQUEUES,
    SCHEDULEDJOBS,
    SCHEDULINGPOLICIES,
)
from ..api.common import Obj
from ..keys import LABEL_DEFINITION
from .client import Client


def _version(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


class Cache:
    def __init__(
        self, client: Client, api_version: str, plural: str, label_selector: str | None = None
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.plural = plural
        self.label_selector = label_selector
        self.by_uid: dict[str, Obj] = {}
        self.by_key: dict[tuple[str, str], Obj] = {}
        self.synced = asyncio.Event()
        self.listeners: list[Callable[[str], None]] = []
        """Called with the plural after every change seen by the list or the watch."""

    def values(self) -> list[Obj]:
        return list(self.by_uid.values())

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self.by_key.get((namespace or "", name))

    def put(self, obj: Obj) -> None:
        """Keep `obj` unless a newer version of it is already held (our own writes land here
        at once, and the watch's echo of them later)."""
        meta = obj["metadata"]
        held = self.by_uid.get(meta["uid"])
        if held is not None and _version(held) > _version(obj):
            return
        self.by_uid[meta["uid"]] = obj
        self.by_key[(meta.get("namespace") or "", meta["name"])] = obj

    def remove(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.by_uid.pop(meta["uid"], None)
        key = (meta.get("namespace") or "", meta["name"])
        if (self.by_key.get(key) or {}).get("metadata", {}).get("uid") == meta["uid"]:
            del self.by_key[key]

    def _replace(self, items: Sequence[Obj]) -> None:
        self.by_uid.clear()
        self.by_key.clear()
        for item in items:
            self.put(item)
        self.synced.set()
        self._tell()

    def _changed(self, kind: str, obj: Obj) -> None:
        if kind == "DELETED":
            self.remove(obj)
        else:
            self.put(obj)
        self._tell()

    def _tell(self) -> None:
        for listener in self.listeners:
            listener(self.plural)

    async def run(self) -> None:
        """List, then watch; each new list (after a watch expired or failed) replaces all."""
        await self.client.informer(
            self.api_version,
            self.plural,
            self._changed,
            label_selector=self.label_selector,
            listed=self._replace,
        )


class Caches:
    """Several caches started and stopped together."""

    def __init__(self, caches: Iterable[Cache]) -> None:
        self.all = tuple(caches)
        self._tasks: list[asyncio.Task[None]] = []

    def of(self, plural: str) -> Cache:
        """The cache of a resource, by its plural."""
        return next(c for c in self.all if c.plural == plural)

    def listen(self, listener: Callable[[str], None]) -> None:
        for cache in self.all:
            cache.listeners.append(listener)

    async def start(self, timeout: float = 60.0) -> None:
        self._tasks = [asyncio.create_task(c.run()) for c in self.all]
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in self.all)), timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class KubatchCaches(Caches):
    """Kubatch's resources and the definitions' revisions (ControllerRevisions); with
    `scheduled`, ScheduledJobs too."""

    def __init__(self, client: Client, scheduled: bool = False) -> None:
        self.jobs = Cache(client, API_VERSION, BATCHJOBS)
        self.definitions = Cache(client, API_VERSION, JOBDEFINITIONS)
        self.revisions = Cache(client, "apps/v1", "controllerrevisions", LABEL_DEFINITION)
        self.environments = Cache(client, API_VERSION, COMPUTEENVIRONMENTS)
        self.queues = Cache(client, API_VERSION, JOBQUEUES)
        self.policies = Cache(client, API_VERSION, SCHEDULINGPOLICIES)
        self.scheduled = Cache(client, API_VERSION, SCHEDULEDJOBS)
        self.consumables = Cache(client, API_VERSION, CONSUMABLERESOURCES)
        super().__init__(
            (
                self.jobs,
                self.definitions,
                self.revisions,
                self.environments,
                self.queues,
                self.policies,
                self.consumables,
                *((self.scheduled,) if scheduled else ()),
            )
        )
