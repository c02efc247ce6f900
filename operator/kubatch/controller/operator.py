"""The operator: watches feed the engine, one loop steps it, the writer writes. Every kind
is listed once and watched from there by one informer (watches.py says which and why); kopf
is the process's runtime (login, start-up, clean-up, signals).

Start it with `python -m kubatch.controller` (or `kubatch operator`). Everything the handlers
do is cheap and synchronous (hand an object to the engine and wake the loop); the loop is
the only place where decisions are made, so there is a single writer of every status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from .. import metrics
from ..api import COMPUTEENVIRONMENTS
from ..autoscaling import NodePoolProvider, ResizeResult, load_providers
from ..config import OperatorConfig
from ..core import Engine, EngineConfig, IntentTimes, ResizePool, listed_key
from ..kube.client import SERVICE_ACCOUNT, Client, Credentials
from .clusters import WorkerClusters, cluster_identity, request_out, stop_tasks
from .leader import LeaderElector
from .watches import BY_PLURAL, WATCHED, Watched
from .writer import Writer

log = logging.getLogger("kubatch")

DEBOUNCE_SECONDS = 0.02
IDLE_STEP_SECONDS = 1.0
RESCHEDULE_SECONDS = 5.0
STARTUP_FAILED = 71
"""The exit code of a process whose start-up failed (70: leadership lost)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(self, config: OperatorConfig | None = None) -> None:
        self.config = config or OperatorConfig()
        self.engine: Engine | None = None
        self.client: Client | None = None
        self.writer: Writer | None = None
        self.providers: dict[str, NodePoolProvider] = {}
        self.clusters: WorkerClusters | None = None
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.elector: LeaderElector | None = None
        self._api_seen = {"requests": 0, "errors": 0, "retries": 0}
        self._calls_seen: Counter[tuple[str, str]] = Counter()
        self._dropped_seen = 0
        self.liveness: str | None = None
        """Where /healthz is served (`--liveness`), e.g. http://0.0.0.0:8080/healthz."""
        self.health: Any = None

    async def serve_health(self, url: str) -> None:
        """/healthz (the chart's liveness and readiness probes), served on this event loop
        from the start: a replica waiting for leadership is healthy and ready (a standby),
        or a rolling update could never replace the leader. It says which it is."""
        from urllib.parse import urlsplit

        from aiohttp import web

        where = urlsplit(url)

        async def healthz(request: web.Request) -> web.Response:
            leading = self.elector is None or self.elector.may_write()
            role = "leader" if leading and self.engine is not None else "standby"
            return web.json_response({"status": "ok", "role": role})

        app = web.Application()
        app.router.add_get(where.path or "/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, where.hostname or "0.0.0.0", where.port or 8080).start()
        self.health = runner

    async def start(self, credentials: Credentials) -> None:
        self.client = Client(credentials, self.config.write_qps, self.config.write_burst)
        if self.liveness:
            await self.serve_health(self.liveness)
        if self.config.metrics_port:
            metrics.serve(self.config.metrics_port, self.config.metrics_address)
        if self.config.leader_election:
            identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
            self.elector = LeaderElector(
                self.client,
                self.config.namespace,
                identity,
                lease_seconds=self.config.lease_seconds,
            )
            log.info("waiting for leadership as %s", identity)
            await self.elector.acquire()
            metrics.LEADER.set(1)
            self.tasks.append(asyncio.create_task(self._keep_leading()))
        self.providers = load_providers()
        origin = await cluster_identity(self.client)
        self.engine = Engine(
            EngineConfig(
                default_provider=self.config.default_provider,
                providers=frozenset(self.providers),
                provider_tolerations={n: p.tolerations for n, p in self.providers.items()},
                provider_checks={n: p.check for n, p in self.providers.items()},
                scale_in_after=self.config.scale_in_after,
                gang_reservation=self.config.gang_reservation,
                kept_log_bytes=self.config.kept_log_bytes,
                intents=IntentTimes(
                    resync=timedelta(seconds=self.config.resync_seconds),
                    create_deadline=timedelta(seconds=self.config.pod_create_deadline_seconds),
                    schedule_deadline=timedelta(seconds=self.config.pod_schedule_deadline_seconds),
                ),
                origin=origin,
            )
        )
        may_write = self.elector.may_write if self.elector is not None else (lambda: True)
        config = self.config
        self.clusters = WorkerClusters(
            self.client,
            config.namespace,
            self.engine,
            self.wake,
            qps=config.write_qps,
            burst=config.write_burst,
            probe_seconds=config.cluster_probe_seconds,
            lost_after_seconds=config.cluster_lost_after_seconds,
        )
        self.writer = Writer(
            self.client,
            self.engine.report,
            self._resize,
            may_write=may_write,
            route=self.clusters.route,
            origin=origin,
        )
        await self._initial_sync()
        self.tasks += [
            asyncio.create_task(self._loop()),
            asyncio.create_task(self.writer.post_events()),
        ]

    async def _keep_leading(self) -> None:
        assert self.elector is not None
        await self.elector.keep()
        metrics.LEADER.set(0)
        # Another instance may lead now: stop at once rather than write beside it. The
        # Deployment starts this one again, as a follower.
        log.error("leadership lost: exiting")
        os._exit(70)

    async def stop(self) -> None:
        await stop_tasks(self.tasks)
        if self.clusters is not None:
            await self.clusters.stop()
        if self.client is not None:
            await self.client.close()
        if self.health is not None:
            await self.health.cleanup()

    async def _resize(self, effect: ResizePool) -> ResizeResult | None:
        provider = self.providers.get(effect.request.provider)
        if provider is None or self.client is None or self.clusters is None:
            return None
        remote = self.clusters.client_for_environment(effect.request.environment)
        if remote is not None:  # a worker cluster's pool, named as it names its nodes
            return await provider.resize(request_out(effect.request), remote)
        return await provider.resize(effect.request, self.client)

    async def _initial_sync(self) -> None:
        """Rebuild the state from the API before deciding anything: the objects, the
        revisions, the nodes and every pod (Kubatch's are adopted, never started again;
        everyone's hold capacity)."""
        assert self.client is not None
        assert self.engine is not None
        world, client, now = self.engine, self.client, utcnow()
        versions: dict[str, str] = {}
        for watched in WATCHED:
            items, versions[watched.plural] = await client.listing(
                watched.api_version, watched.plural, label_selector=watched.label_selector
            )
            for obj in items:
                watched.upsert(world, obj, now)
            del items
        # Worker clusters' nodes and pods before any decision, as the operator's own.
        assert self.clusters is not None
        unlisted = await self.clusters.start()
        world.start(now, unlisted)
        # Each kind is watched from its list's version: listed once (see _informer).
        self.tasks += [asyncio.create_task(self._informer(w, versions[w.plural])) for w in WATCHED]
        store = world.store
        log.info(
            "state rebuilt: %d jobs, %d nodes, %d pods, %d queues, %d environments",
            len(store.jobs),
            len(store.nodes),
            len(store.pods),
            len(store.queues),
            len(store.envs),
        )
        self.wake.set()

    async def _informer(self, watched: Watched, since: str) -> None:
        """Watch one kind from a list's version for ever. A new list (after the watch
        expired or failed) is fed whole, and what it lacks was deleted meanwhile."""
        assert self.client is not None

        def listed(items: Sequence[Mapping[str, Any]]) -> None:
            for item in items:
                self.feed(plural, {"type": None, "object": item})
            assert self.engine is not None
            self.engine.unlisted(plural, {listed_key(i) for i in items}, utcnow())
            self.wake.set()

        plural = watched.plural
        await self.client.informer(
            watched.api_version,
            plural,
            lambda kind, obj: self.feed(plural, {"type": kind, "object": obj}),
            label_selector=watched.label_selector,
            listed=listed,
            since=since,
        )

    def feed(self, kind: str, event: Mapping[str, Any]) -> None:
        """A watch event: hand the object to the engine and wake the loop."""
        if self.engine is None:
            return
        obj = dict(event["object"])
        deleted = event.get("type") == "DELETED"
        meta = obj.get("metadata", {})
        now = utcnow()
        watched = BY_PLURAL[kind]
        apply = watched.delete if deleted else watched.upsert
        try:
            apply(self.engine, obj, now)
            if kind == COMPUTEENVIRONMENTS and self.clusters is not None and self.engine.started:
                self.clusters.sync()  # the worker clusters environments name
        except Exception:  # an object that cannot be handled must not stop the others
            log.exception("could not handle %s %s", kind, meta.get("name"))
        self.wake.set()

    async def _loop(self) -> None:
        assert self.engine is not None
        assert self.writer is not None
        world, writer = self.engine, self.writer
        last_schedule = utcnow()
        next_pass = 0.0
        while True:
            wake_at = world.next_wake()
            timeout = IDLE_STEP_SECONDS
            if wake_at is not None:
                timeout = max(0.0, min(timeout, (wake_at - utcnow()).total_seconds()))
            if world.dispatch_needed:
                timeout = max(0.0, min(timeout, next_pass - time.perf_counter()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            now = utcnow()
            if (now - last_schedule).total_seconds() >= RESCHEDULE_SECONDS:
                world.request_dispatch()  # scale-in cool-downs and lost updates
                last_schedule = now
            began = time.perf_counter()
            try:
                # A scheduling pass at most every twice its own cost: under a large backlog
                # scheduling never takes more than a third of the operator's time.
                writes = world.step(now, dispatch=began >= next_pass)
            except Exception:
                log.exception("a step failed")
                continue
            took = time.perf_counter() - began
            if world.dispatched:
                next_pass = began + 2 * took
            metrics.observe_step(took)
            self._record_metrics()
            if writes:
                await writer.apply(writes)
                self.wake.set()  # their outcomes are news, and may make more work possible

    def _record_metrics(self) -> None:
        assert self.engine is not None
        metrics.record(self.engine.take_telemetry())
        if self.client is not None:
            stats = self.client.stats
            keys = ("requests", "errors", "retries")
            calls = self.client.calls - self._calls_seen
            requests, errors, retries = (stats[k] - self._api_seen[k] for k in keys)
            metrics.record_api(requests, errors, retries, calls)
            self._api_seen = dict(stats)
            self._calls_seen = Counter(self.client.calls)
        if self.writer is not None:
            metrics.EVENTS_DROPPED.inc(self.writer.dropped_events - self._dropped_seen)
            self._dropped_seen = self.writer.dropped_events


CONTROLLER = Controller()


def connection(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo | None:
    """In a pod: its ServiceAccount, at the address the kubelet gives it
    (KUBERNETES_SERVICE_HOST and _PORT, as client-go's in-cluster config does; kopf's own
    login names kubernetes.default.svc, which only a cluster with DNS resolves). Elsewhere:
    the kubeconfig."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT / "token").exists():
        found = Credentials.in_cluster()
        return kopf.ConnectionInfo(server=found.server, token=found.token, ca_path=found.ca_path)
    return kopf.login_with_kubeconfig(settings=settings)


def credentials_from_kopf(settings: kopf.OperatorSettings) -> Credentials:
    info = connection(settings)
    if info is None:
        raise kopf.LoginError("no cluster credentials: set KUBECONFIG or run inside a cluster")
    return Credentials.from_kopf(info)


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    return connection(settings)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING
    settings.batching.batch_window = 0.01
    settings.watching.server_timeout = 300
    # kopf logs every handled event at INFO: one line per pod change is noise, not news.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.client_timeout = 330
    try:
        await CONTROLLER.start(credentials_from_kopf(settings))
    except Exception:
        # kopf would run start-up again a minute later, into the ports and the lease this
        # attempt already holds (it never got further: "Address already in use" for ever, no
        # job moving). Exit instead, as a crash: the Deployment starts a fresh process.
        log.exception("start-up failed (the API server may be restarting): exiting")
        os._exit(STARTUP_FAILED)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    await CONTROLLER.stop()
