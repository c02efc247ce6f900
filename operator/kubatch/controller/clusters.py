"""Worker clusters: ComputeEnvironments whose nodes are in another cluster (spec.cluster).

The operator keeps every job and status in its own cluster. For each worker cluster that an
environment names, it reads the kubeconfig from the named Secret (in its own namespace),
lists and watches that cluster's nodes and pods, and creates, stops and reads the logs of
the attempts' pods there. The engine sees one store: a worker cluster's nodes and namespaces
are named `<cluster>:<name>` (keys.in_cluster); this module translates at the boundary, both
ways, and nothing else knows a worker cluster from the operator's own.

Each worker cluster is asked every `cluster_probe_seconds` whether it answers and takes its
credentials (a list of one node): a cluster that does not makes its environments INVALID
with the reason (nothing new is placed there) and its running attempts are kept; past
`cluster_lost_after_seconds` they are judged lost (their pods gone, as when a node goes), and
retried as their retry strategy allows. A refused credential reads the Secret again (it may
have been rotated)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..api.common import Obj
from ..autoscaling import ResizeRequest
from ..core import Engine, listed_key
from ..keys import LABEL_HOSTNAME, LABEL_ORIGIN, in_cluster, split_cluster
from ..kube.client import Client, Credentials
from ..kube.errors import ApiError

log = logging.getLogger(__name__)

UNREACHABLE = "ClusterUnreachable"
PROBES_TO_FAIL = 2
"""Probes in a row that must fail before a cluster that answered is judged not to."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the boundary: a worker cluster's objects as the engine names them, and back --------------


def _qualified(values: Mapping[str, Any] | None, cluster: str) -> dict[str, Any] | None:
    if values is None:
        return None
    found = dict(values)
    if LABEL_HOSTNAME in found:
        found[LABEL_HOSTNAME] = in_cluster(cluster, str(found[LABEL_HOSTNAME]))
    return found


def node_in(obj: Obj, cluster: str) -> Obj:
    """A worker cluster's node as the engine names it: `<cluster>:<name>`, its hostname label
    too (pods are pinned by it)."""
    node = dict(obj)
    meta = dict(node["metadata"])
    meta["name"] = in_cluster(cluster, meta["name"])
    meta["labels"] = _qualified(meta.get("labels"), cluster)
    node["metadata"] = meta
    return node


def pod_in(obj: Obj, cluster: str) -> Obj:
    """A worker cluster's pod as the engine names it: its namespace, node and the hostname it
    is pinned to, each `<cluster>:<name>`."""
    pod = dict(obj)
    meta = dict(pod["metadata"])
    meta["namespace"] = in_cluster(cluster, meta.get("namespace") or "")
    pod["metadata"] = meta
    spec = dict(pod.get("spec") or {})
    if spec.get("nodeName"):
        spec["nodeName"] = in_cluster(cluster, spec["nodeName"])
    if spec.get("nodeSelector"):
        spec["nodeSelector"] = _qualified(spec["nodeSelector"], cluster)
    pod["spec"] = spec
    return pod


def _named(plural: str, obj: Obj, cluster: str) -> Obj:
    return node_in(obj, cluster) if plural == "nodes" else pod_in(obj, cluster)


def body_out(body: Obj, origin: str) -> Obj:
    """An object the engine wants created in a worker cluster, as that cluster names it. Its
    owner (the job) is not there: it would be collected at once; Kubatch deletes it instead,
    and says whose it is (`origin`, this cluster's identity: keys.LABEL_ORIGIN)."""
    out = copy.deepcopy(body)
    meta = out["metadata"]
    meta["namespace"] = split_cluster(meta.get("namespace") or "")[1]
    meta.pop("ownerReferences", None)
    if origin:
        meta["labels"] = {**(meta.get("labels") or {}), LABEL_ORIGIN: origin}
    spec = out.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    if LABEL_HOSTNAME in selector:
        selector[LABEL_HOSTNAME] = split_cluster(selector[LABEL_HOSTNAME])[1]
    return out


def request_out(request: ResizeRequest) -> ResizeRequest:
    """A resize of a worker cluster's pool, with its nodes named as that cluster names them."""
    plan = dataclasses.replace(
        request.plan, remove=tuple(split_cluster(n)[1] for n in request.plan.remove)
    )
    nodes = tuple((split_cluster(n)[1], shape) for n, shape in request.nodes)
    return dataclasses.replace(request, plan=plan, nodes=nodes)


async def stop_tasks(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until each has ended (however it ends)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def cluster_identity(client: Client) -> str:
    """This cluster's identity, as clusters are commonly told apart: the UID of its
    kube-system namespace ("" when it may not be read: pods are then made without an origin,
    and none is swept). An API server that does not answer fails the start-up (it is tried
    again), rather than leave the operator without one for its life."""
    try:
        found = await client.request("GET", "/api/v1/namespaces/kube-system")
    except ApiError as e:
        if e.transient:
            raise
        log.warning("this cluster's identity (kube-system's uid) cannot be read: %s", e)
        return ""
    return str((found.get("metadata") or {}).get("uid") or "")


# -- one worker cluster ------------------------------------------------------------------------


def describe(error: Exception) -> str:
    if isinstance(error, ApiError):
        if error.status == 401:
            return "its API server refused the kubeconfig's credentials (401 Unauthorized)"
        if error.status == 403:
            return (
                f"the kubeconfig's user may not list nodes there (403 Forbidden): {error.message}"
            )
        if error.status == 0:
            return f"its API server does not answer: {error.message}"
        return f"its API server answered {error.status} {error.reason}: {error.message}"
    if isinstance(error, ValueError):  # what is wrong with the Secret or its kubeconfig
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclasses.dataclass(kw_only=True)
class WorkerCluster:
    name: str
    secret: str
    key: str
    client: Client | None = None
    problem: str | None = "not connected yet"
    down_since: float | None = None
    lost: bool = False
    listed: bool = False
    """Its nodes and pods have been listed once (at start, or since)."""
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)


class WorkerClusters:
    def __init__(
        self,
        local: Client,
        namespace: str,
        engine: Engine,
        wake: asyncio.Event,
        *,
        qps: float,
        burst: int,
        probe_seconds: float,
        lost_after_seconds: float,
    ) -> None:
        self.client = local
        self.namespace = namespace
        self.engine = engine
        self.wake = wake
        self.qps, self.burst = qps, burst
        self.probe_seconds = probe_seconds
        self.lost_after = lost_after_seconds
        self.clusters: dict[str, WorkerCluster] = {}
        self.unlisted_at_start: set[str] = set()

    # -- which clusters --------------------------------------------------------------------

    def wanted(self) -> dict[str, tuple[str, str]]:
        """Every cluster the environments name: name -> (Secret, key)."""
        found: dict[str, tuple[str, str]] = {}
        for _, env in sorted(self.engine.store.envs.items()):
            ref = env.model.spec.cluster if env.model is not None else None
            if ref is not None:  # of two that disagree, the other is INVALID (the registry)
                found.setdefault(ref.name, (ref.kubeconfig_secret.name, ref.kubeconfig_secret.key))
        return found

    async def start(self) -> frozenset[str]:
        """At start, before any decision: connect to every worker cluster and list its nodes
        and pods into the engine. Returns the clusters that could not be listed."""
        for name, (secret, key) in self.wanted().items():
            cluster = WorkerCluster(name=name, secret=secret, key=key)
            self.clusters[name] = cluster
            await self._list_at_start(cluster)
        return frozenset(self.unlisted_at_start)

    def sync(self) -> None:
        """After environments changed: follow the clusters they name."""
        wanted = self.wanted()
        for name in [n for n in self.clusters if n not in wanted]:
            self._forget(self.clusters.pop(name))
        for name, (secret, key) in wanted.items():
            cluster = self.clusters.get(name)
            if cluster is not None and (cluster.secret, cluster.key) != (secret, key):
                self._forget(self.clusters.pop(name))
                cluster = None
            if cluster is None:
                cluster = WorkerCluster(name=name, secret=secret, key=key)
                self.clusters[name] = cluster
                cluster.listed = True  # created after start: nothing of it to reconcile
                cluster.tasks.append(asyncio.create_task(self._run(cluster, since=None)))

    def _forget(self, cluster: WorkerCluster) -> None:
        """No environment names it any more (their work done: finalizers hold them until
        then): its nodes and pods leave the store, and it is no longer asked."""
        for task in cluster.tasks:
            task.cancel()
        now = utcnow()
        self.engine.unlisted("pods", set(), now, cluster=cluster.name)
        self.engine.unlisted("nodes", set(), now, cluster=cluster.name)
        with contextlib.suppress(KeyError):
            metrics.WORKER_CLUSTER_UP.remove(cluster.name)
        if cluster.client is not None:
            asyncio.get_running_loop().create_task(cluster.client.close())

    async def stop(self) -> None:
        for cluster in self.clusters.values():
            await stop_tasks(cluster.tasks)
            if cluster.client is not None:
                await cluster.client.close()

    def client_of(self, name: str) -> Client:
        """The client of a worker cluster, for a write there (ApiError when it has none)."""
        cluster = self.clusters.get(name)
        if cluster is None or cluster.client is None:
            raise ApiError(0, UNREACHABLE, f"worker cluster {name} is not connected")
        return cluster.client

    def client_for_environment(self, environment: str) -> Client | None:
        env = self.engine.store.envs.get(environment)
        if env is None or not env.cluster:
            return None
        return self.client_of(env.cluster)

    def route(self, namespace: str) -> tuple[Client, str] | None:
        """Where a write to `namespace` (as the engine names it) goes: a worker cluster's
        client and the namespace there, or None for the operator's own cluster."""
        cluster, name = split_cluster(namespace)
        return (self.client_of(cluster), name) if cluster else None

    # -- connecting ------------------------------------------------------------------------

    async def _credentials(self, cluster: WorkerCluster) -> Credentials:
        path = f"/api/v1/namespaces/{self.namespace}/secrets/{cluster.secret}"
        try:
            secret = await self.client.request("GET", path)
        except ApiError as e:
            where = f"Secret {self.namespace}/{cluster.secret}"
            if e.status == 404:
                raise ValueError(f"kubeconfigSecret: {where} does not exist") from e
            raise ValueError(f"kubeconfigSecret: {where} could not be read: {e}") from e
        data = (secret.get("data") or {}).get(cluster.key)
        if not data:
            raise ValueError(
                f"kubeconfigSecret: Secret {self.namespace}/{cluster.secret} has no key "
                f"{cluster.key!r}"
            )
        try:
            return Credentials.from_kubeconfig_text(base64.b64decode(data).decode())
        except ValueError as e:
            raise ValueError(f"kubeconfigSecret {cluster.secret}/{cluster.key}: {e}") from e

    async def _connect(self, cluster: WorkerCluster) -> Client:
        credentials = await self._credentials(cluster)
        if cluster.client is not None:
            await cluster.client.close()
        cluster.client = Client(credentials, self.qps, self.burst, timeout=10.0, retries=1)
        return cluster.client

    async def _list_at_start(self, cluster: WorkerCluster) -> None:
        versions: dict[str, str] = {}
        try:
            client = await self._connect(cluster)
            for plural in ("nodes", "pods"):
                items, versions[plural] = await client.listing("v1", plural)
                for item in items:
                    self._feed(cluster, plural, "ADDED", item)
            cluster.listed = True
            self._health(cluster, None)
        except (ApiError, ValueError, OSError) as e:
            log.warning("worker cluster %s could not be listed at start: %s", cluster.name, e)
            self.unlisted_at_start.add(cluster.name)
            self._health(cluster, describe(e))
            versions = {}
        cluster.tasks.append(asyncio.create_task(self._run(cluster, since=versions or None)))

    async def _run(self, cluster: WorkerCluster, since: Mapping[str, str] | None) -> None:
        """Watch its nodes and pods (listing again whenever a watch is lost), and probe it."""
        while cluster.client is None:
            try:
                await self._connect(cluster)
            except (ApiError, ValueError, OSError) as e:
                self._health(cluster, describe(e))
                await asyncio.sleep(self.probe_seconds)
        self._watches(cluster, cluster.client, since or {})
        await self._probe(cluster)

    def _watches(self, cluster: WorkerCluster, client: Client, since: Mapping[str, str]) -> None:
        """Its nodes and pods watched with `client`, from the versions in `since` (a list
        first where there is none)."""
        for plural in ("nodes", "pods"):
            watch = self._watch(cluster, client, plural, since.get(plural))
            cluster.tasks.append(asyncio.create_task(watch))

    async def _watch(
        self, cluster: WorkerCluster, client: Client, plural: str, since: str | None
    ) -> None:
        def listed(items: Sequence[Obj]) -> None:
            named = [_named(plural, item, cluster.name) for item in items]
            for obj in named:
                self._give(cluster, plural, None, obj)
            keys = {listed_key(obj) for obj in named}
            self.engine.unlisted(plural, keys, utcnow(), cluster=cluster.name)
            if plural == "pods":
                cluster.lost = False
                if not cluster.listed:
                    cluster.listed = True
                    self.engine.reconcile_cluster(cluster.name, utcnow())
            self.wake.set()

        await client.informer(
            "v1",
            plural,
            lambda kind, obj: self._feed(cluster, plural, kind, obj),
            listed=listed,
            since=since or "",
        )

    def _feed(self, cluster: WorkerCluster, plural: str, kind: str | None, obj: Obj) -> None:
        """A watch event of the worker cluster: its object, named as the engine names it."""
        self._give(cluster, plural, kind, _named(plural, obj, cluster.name))

    def _give(self, cluster: WorkerCluster, plural: str, kind: str | None, obj: Obj) -> None:
        """A node or pod, already named as the engine names it, to the engine."""
        now = utcnow()
        try:
            if plural == "nodes" and kind == "DELETED":
                self.engine.delete_node(obj["metadata"]["name"])
            elif plural == "nodes":
                self.engine.upsert_node(obj, now)
            else:
                self.engine.observe_pod(obj, now, deleted=kind == "DELETED")
        except Exception:  # one object that cannot be handled must not stop the others
            log.exception("could not handle %s of worker cluster %s", plural, cluster.name)
        self.wake.set()

    async def _probe(self, cluster: WorkerCluster) -> None:
        """Ask every probe_seconds; a cluster that answered is judged silent (or refusing)
        only after PROBES_TO_FAIL probes in a row fail: an API server starting up refuses
        for a moment while its authorizer fills its caches (403), and one lost request is
        no outage."""
        failed = 0
        while True:
            try:
                client = cluster.client
                assert client is not None
                await client.request("GET", "/api/v1/nodes", params={"limit": "1"})
                failed = 0
                self._health(cluster, None)
            except ApiError as e:
                failed += 1
                if failed >= PROBES_TO_FAIL or cluster.problem is not None:
                    self._health(cluster, describe(e))
                if e.status in (401, 403):
                    with contextlib.suppress(ApiError, ValueError, OSError):
                        await self._reconnect(cluster)  # the Secret may have been rotated
            await asyncio.sleep(self.probe_seconds)

    async def _reconnect(self, cluster: WorkerCluster) -> None:
        """New credentials: new watches with them (a list first: nothing is missed)."""
        for task in cluster.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        cluster.tasks = [t for t in cluster.tasks if t is asyncio.current_task()]
        self._watches(cluster, await self._connect(cluster), {})

    def _health(self, cluster: WorkerCluster, problem: str | None) -> None:
        now = time.monotonic()
        if problem is None:
            cluster.down_since = None
        elif cluster.down_since is None:
            cluster.down_since = now
        metrics.WORKER_CLUSTER_UP.labels(cluster.name).set(0 if problem else 1)
        if problem != cluster.problem:
            if problem is None:
                log.info("worker cluster %s answers", cluster.name)
            else:
                log.warning("worker cluster %s: %s", cluster.name, problem)
            cluster.problem = problem
            self.engine.cluster_health(cluster.name, problem, utcnow())
        down = cluster.down_since
        lost = down is not None and now - down >= self.lost_after
        if problem is not None and lost and not cluster.lost:
            self._lose(cluster)
        self.wake.set()

    def _lose(self, cluster: WorkerCluster) -> None:
        """Judged lost: its pods are gone (their attempts retried as a lost host's), its nodes
        too. Should it answer again, its pods are listed and the ones of ended attempts
        stopped."""
        log.warning(
            "worker cluster %s has not answered for %.0fs: its attempts are judged lost",
            cluster.name,
            self.lost_after,
        )
        cluster.lost = True
        now = utcnow()
        self.engine.unlisted("pods", set(), now, cluster=cluster.name)
        self.engine.unlisted("nodes", set(), now, cluster=cluster.name)
        if not cluster.listed:  # never listed since start: its attempts are judged unseen
            cluster.listed = True
            self.engine.reconcile_cluster(cluster.name, now, lost=True)
