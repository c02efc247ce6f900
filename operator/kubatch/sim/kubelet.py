"""A simulated kubelet for the simulated nodes (label kubatch.io/simulated=true).

It does what a kubelet does, as kwok would: makes new nodes Ready after a delay and keeps
their heartbeats fresh (the node's Lease, and its Ready condition), so that a real control
plane's node lifecycle controller lifts their `not-ready` taint and keeps them Ready; binds
pods to them when no scheduler does (--bind); runs the pods bound to them as a real kubelet
reports them (ContainerCreating with conditions and addresses; Running; the container's end,
then the phase; a quick container terminated while the phase is still Pending; an image that
cannot be pulled: ErrImagePull and ImagePullBackOff in turn), ending as the job's annotations
say (see kubatch.sim.containers); stops a pod past its activeDeadlineSeconds (it stays, Failed
with DeadlineExceeded) and finishes the deletion of pods on its nodes, both with SIGTERM as
PID 1 takes it (ignored without a trap: SIGKILL after the grace period, 137); and serves the
containers' logs on the kubelet's HTTPS endpoint (/containerLogs), which each node's status
names, so that `kubectl logs` works through a real API server too.

`python -m kubatch.sim.kubelet [--bind] [--ready-delay SECONDS]` (uses KUBECONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ..keys import LABEL_HOSTNAME, LABEL_SIMULATED, SIM_PREFIX, SIM_READY_DELAY
from ..kube.client import Client
from ..kube.errors import ApiError
from ..serving import credentials
from .containers import LogRequestError, Obj, outcome, served_log, sigterm_exit_code
from .containers import duration as run_time

log = logging.getLogger("kubatch.sim.kubelet")

LEASE_SECONDS = 10.0
"""How often a node's Lease is renewed, as a real kubelet does (a quarter of its 40 s)."""
STATUS_REPORT_SECONDS = 300.0
"""How often a Ready node's status is reported when nothing changed, as a real kubelet's
nodeStatusReportFrequency (5 min). Each report is an update of the node, and the node
lifecycle controller judges a node's taints on its updates only: a `not-ready` taint it
failed to lift (its request refused while the API server restarted: it does not try
again) is lifted at the next report."""
ADDRESS = "127.0.0.1"
RETRY_SECONDS = 1.0
PHASE_LAG = 0.05
PULL_BACKOFF = 1.0


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _images(pod: Obj) -> list[Obj]:
    """The fields a kubelet reports for each container's image (every container of a pod runs
    the same life here: the instructions are the pod's)."""
    found = []
    for i, container in enumerate(pod.get("spec", {}).get("containers") or [{}]):
        image = container.get("image", "")
        found.append(
            {
                "name": container.get("name", "main"),
                "image": image,
                "imageID": f"sim://{image}",
                "containerID": f"sim://{pod['metadata'].get('uid', '')}-{i}",
            }
        )
    return found


class Kubelet:
    def __init__(
        self,
        client: Client,
        bind: bool,
        ready_delay: float,
        leases: bool = True,
        default_duration: float = 0.0,
        serving: tuple[Path, Path] | None = None,
        lease_seconds: float = LEASE_SECONDS,
        phase_lag: float = PHASE_LAG,
        pull_backoff: float = PULL_BACKOFF,
        status_report_seconds: float = STATUS_REPORT_SECONDS,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.status_report_seconds = status_report_seconds
        self.phase_lag = phase_lag
        """Seconds between a container's end and its pod's phase (a real kubelet: about 1)."""
        self.pull_backoff = pull_backoff
        self.running: set[str] = set()
        """Pods whose container has started."""
        self.addresses: dict[str, int] = {}
        self.deadlines: dict[str, asyncio.Task[None]] = {}
        self.readying: set[str] = set()
        """Nodes whose Ready status is on its way."""
        self.serving = serving
        """The HTTPS pair the log endpoint serves with; None serves no logs."""
        self.port = 0
        """The log endpoint's port, once it listens (nodes' status names it)."""
        self.pods: dict[str, Obj] = {}
        """The latest version of every pod bound to one of our nodes, for its logs."""
        self.default_duration = default_duration
        self.client = client
        self.bind = bind
        self.ready_delay = ready_delay
        self.leases = leases
        self.nodes: dict[str, Obj] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.started: set[str] = set()
        self.binding: set[str] = set()
        self.awaiting: dict[str, dict[str, Obj]] = {}
        """Pods (to bind, or bound) per node name the kubelet has not seen yet."""
        self.terminating: set[str] = set()
        self.background: set[asyncio.Task[None]] = set()

    def _spawn(self, key: str, work: Any) -> None:
        task = asyncio.create_task(work)
        if key:
            self.tasks[key] = task
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        task.add_done_callback(lambda done: self._failed(key, done))

    def _failed(self, key: str, task: asyncio.Task[None]) -> None:
        """A pod's work that died unexpectedly is logged and forgotten, so that the next
        listing of the pod starts it again (as a kubelet's sync loop would)."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("work on pod %s failed", key or "?", exc_info=task.exception())
        self.started.discard(key)
        self.terminating.discard(key)

    async def run(self) -> None:
        selector = f"{LABEL_SIMULATED}=true"
        runner = await self._serve_logs() if self.serving else None
        try:
            await asyncio.gather(
                self.client.informer("v1", "nodes", self.on_node, label_selector=selector),
                self.client.informer("v1", "pods", self.on_pod),
                self._renew_leases(),
                self._report_statuses(),
            )
        finally:
            if runner is not None:
                await runner.cleanup()

    async def _serve_logs(self) -> web.AppRunner:
        """The kubelet's log endpoint, as an API server reaches it for `kubectl logs`."""
        assert self.serving is not None
        certificate, key = self.serving
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate), str(key))
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_log)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, ADDRESS, 0, ssl_context=context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        log.info("serving container logs on https://%s:%d", ADDRESS, self.port)
        return runner

    async def _container_log(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['namespace']}/{request.match_info['pod']}"
        pod = self.pods.get(key)
        if pod is None:
            return web.Response(status=404, text=f"pod {key} is not on this kubelet's nodes")
        try:
            text = served_log(pod, request.query)
        except LogRequestError as e:
            return web.Response(status=400, text=str(e))
        return web.Response(text=text, content_type="text/plain")

    # -- nodes -------------------------------------------------------------------------

    def on_node(self, kind: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if kind == "DELETED":
            self.nodes.pop(name, None)
            return
        first = name not in self.nodes
        self.nodes[name] = node
        for pod in self.awaiting.pop(name, {}).values():
            self.on_pod("MODIFIED", pod)
        conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") != "True" and name not in self.readying:
            # A new node is Ready after its delay; one the node lifecycle controller marked
            # Unknown (its heartbeats missed, e.g. while the API server restarted) is reported
            # Ready again at once, as a kubelet's next status report does, or its not-ready
            # taint would keep every pod off it.
            delay = (node["metadata"].get("annotations") or {}).get(
                SIM_READY_DELAY, self.ready_delay
            )
            self.readying.add(name)
            self._spawn("", self._make_ready(name, float(delay) if first else 0.0))

    async def _make_ready(self, name: str, delay: float) -> None:
        try:
            await self._report_ready(name, delay)
        finally:
            self.readying.discard(name)

    async def _report_ready(self, name: str, delay: float, since: str | None = None) -> None:
        """Report the node Ready: `since` when it already was (a periodic report: only its
        heartbeat moves), or now."""
        await asyncio.sleep(delay)
        status: Obj = {
            # Only the loopback address: an API server that reached a node by its Hostname
            # address would look the name up in DNS.
            "addresses": [{"type": "InternalIP", "address": ADDRESS}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "the simulated kubelet is posting ready status",
                    "lastHeartbeatTime": now_text(),
                    "lastTransitionTime": since or now_text(),
                }
            ],
        }
        if self.port:
            status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.port}}
        await self._until_done(
            lambda: self.client.patch("v1", "nodes", name, {"status": status}, subresource="status")
        )

    async def _until_done(self, request: Callable[[], Awaitable[Obj]]) -> None:
        """Send a request until the API server has it, as a kubelet keeps syncing what it
        reports: transient failures (no answer, a restarting server) are tried again; an
        object that is gone is nothing more to report on."""
        while True:
            try:
                await request()
                return
            except ApiError as e:
                if not e.transient:
                    if not e.not_found:
                        log.warning("request refused: %s", e)
                    return
            await asyncio.sleep(RETRY_SECONDS)

    async def _report_statuses(self) -> None:
        """Every status_report_seconds, the status of each node reported Ready again, as a
        real kubelet reports an unchanged status (see STATUS_REPORT_SECONDS)."""
        while True:
            await asyncio.sleep(self.status_report_seconds)
            for name, node in list(self.nodes.items()):
                ready = _ready_since(node)
                if ready is not None and name not in self.readying:
                    await self._report_ready(name, 0.0, since=ready)

    async def _renew_leases(self) -> None:
        while self.leases:
            for name in list(self.nodes):
                lease = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": 40,
                        "renewTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    },
                }
                try:
                    await self.client.patch(
                        "coordination.k8s.io/v1",
                        "leases",
                        name,
                        {"spec": lease["spec"]},
                        "kube-node-lease",
                    )
                except ApiError as e:
                    if e.not_found:
                        with contextlib.suppress(ApiError):
                            await self.client.create(
                                "coordination.k8s.io/v1", "leases", lease, "kube-node-lease"
                            )
            await asyncio.sleep(self.lease_seconds)

    # -- pods --------------------------------------------------------------------------

    def on_pod(self, kind: str, pod: Obj) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if kind == "DELETED":
            task = self.tasks.pop(key, None)
            if task is not None:
                task.cancel()
            self.started.discard(key)
            self.terminating.discard(key)
            self.running.discard(key)
            self.addresses.pop(key, None)
            deadline = self.deadlines.pop(key, None)
            if deadline is not None:
                deadline.cancel()
            self.pods.pop(key, None)
            for waiting in self.awaiting.values():
                waiting.pop(key, None)
            return
        node = pod.get("spec", {}).get("nodeName")
        if not node:
            wanted = (pod.get("spec", {}).get("nodeSelector") or {}).get(LABEL_HOSTNAME)
            if not self.bind or not wanted or pod["spec"].get("schedulingGates"):
                return  # a gated pod is bound once its gates are removed, as a scheduler does
            if wanted not in self.nodes:
                self.awaiting.setdefault(wanted, {})[key] = pod
            elif key not in self.binding:
                self.binding.add(key)
                self._spawn("", self._bind(pod, wanted))
            return
        if node not in self.nodes:
            # Its node may be ours and not seen yet (nodes and pods come on separate watches,
            # in any order after a restart): it runs once the node is seen.
            self.awaiting.setdefault(node, {})[key] = pod
            return
        self.pods[key] = pod
        if meta.get("deletionTimestamp"):
            if key not in self.terminating:
                self.terminating.add(key)
                for running in (self.tasks.pop(key, None), self.deadlines.pop(key, None)):
                    if running is not None and not running.done():
                        running.cancel()
                self._spawn(key, self._terminate(pod))
            return
        phase = pod.get("status", {}).get("phase", "Pending")
        if phase not in ("Pending", "Running"):
            return
        if key not in self.started:
            self.started.add(key)
            self._spawn(key, self._run(pod))
        deadline = pod.get("spec", {}).get("activeDeadlineSeconds")
        if deadline is not None and key not in self.deadlines:
            task = asyncio.create_task(self._deadline(pod, int(deadline)))
            self.deadlines[key] = task
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            await self.client.create_subresource(
                "v1", "pods", meta["name"], "binding", body, meta["namespace"]
            )
        except ApiError as e:
            log.debug("binding %s failed: %s", meta["name"], e)
        finally:
            self.binding.discard(f"{meta['namespace']}/{meta['name']}")

    async def _status(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        await self._until_done(
            lambda: self.client.patch(
                "v1", "pods", meta["name"], {"status": status}, meta["namespace"], "status"
            )
        )

    def _containers(self, pod: Obj, state: Obj, ready: bool = False) -> list[Obj]:
        return [
            {**image, "ready": ready, "started": ready, "restartCount": 0, "state": state}
            for image in _images(pod)
        ]

    async def _run(self, pod: Obj) -> None:
        """A container's life as a real kubelet reports it: ContainerCreating (the pod's start
        time, addresses and conditions with it); Running (unless it ends at once: a quick
        container is reported terminated while the phase is still Pending); its end, with
        the phase a moment later."""
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        labels = meta.get("labels") or {}
        duration = run_time(annotations, labels, self.default_duration)
        status = pod.get("status") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        if status.get("phase") == "Running" and status.get("startTime"):
            # Picked up after a restart of the simulator: run out the remaining time.
            started = status["startTime"]
            begun = datetime.fromisoformat(started.replace("Z", "+00:00"))
            duration = max(0.0, duration - (datetime.now(UTC) - begun).total_seconds())
            self.running.add(key)
        else:
            creating = {"waiting": {"reason": "ContainerCreating"}}
            await self._status(
                pod,
                {
                    "startTime": status.get("startTime") or now_text(),
                    "hostIP": ADDRESS,
                    "podIP": self._pod_ip(key),
                    "podIPs": [{"ip": self._pod_ip(key)}],
                    "conditions": _conditions(initialized=True, ready=False),
                    "containerStatuses": self._containers(pod, creating),
                },
            )
            pull_error = annotations.get(SIM_PREFIX + "image-pull-error")
            if pull_error:
                await self._pull_failing(pod, pull_error)
                return
            await asyncio.sleep(float(annotations.get(SIM_PREFIX + "start-delay", "0")))
            start_error = annotations.get(SIM_PREFIX + "start-error")
            if start_error:
                # runc could not exec the command: terminated, never started.
                message = f"failed to create containerd task: {start_error}"
                await self._finish(pod, 128, "StartError", None, message=message)
                return
            started = now_text()
            self.running.add(key)
            if duration > 0:
                await self._status(
                    pod,
                    {
                        "phase": "Running",
                        "conditions": _conditions(initialized=True, ready=True),
                        "containerStatuses": self._containers(
                            pod, {"running": {"startedAt": started}}, True
                        ),
                    },
                )
        await asyncio.sleep(duration)
        code, reason = outcome(annotations, labels)
        await self._finish(pod, code, reason, started)

    async def _pull_failing(self, pod: Obj, message: str) -> None:
        """An image that cannot be pulled: ErrImagePull and ImagePullBackOff in turn, the pod
        Pending for ever (until it is deleted)."""
        image = _images(pod)[0]["image"]
        backoff = self.pull_backoff
        while True:
            waiting = {"waiting": {"reason": "ErrImagePull", "message": message}}
            await self._status(pod, {"containerStatuses": self._containers(pod, waiting)})
            await asyncio.sleep(backoff)
            back_off = f'Back-off pulling image "{image}"'
            waiting = {"waiting": {"reason": "ImagePullBackOff", "message": back_off}}
            await self._status(pod, {"containerStatuses": self._containers(pod, waiting)})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _finish(
        self,
        pod: Obj,
        code: int,
        reason: str,
        started: str | None,
        pod_reason: tuple[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """The container ended: reported at once, the pod's phase a moment later (with the
        pod's own reason when the kubelet stopped it)."""
        terminated: Obj = {"exitCode": code, "reason": reason, "finishedAt": now_text()}
        terminated["startedAt"] = started or ZERO_TIME
        if message is not None:
            terminated["message"] = message
        containers = self._containers(pod, {"terminated": terminated})
        if pod_reason is None:
            # A container that ended by itself: the kubelet reports it before the phase (a
            # pod the kubelet stops itself gets both in one status).
            await self._status(
                pod,
                {
                    "conditions": _conditions(initialized=True, ready=False),
                    "containerStatuses": containers,
                },
            )
            await asyncio.sleep(self.phase_lag)
        phase = "Succeeded" if code == 0 and pod_reason is None else "Failed"
        final: Obj = {
            "phase": phase,
            "conditions": _conditions(initialized=True, ready=False, ended=phase),
            "containerStatuses": containers,
            # Its sandbox is gone, and its address with it, as a real kubelet reports.
            "podIP": None,
            "podIPs": None,
        }
        if pod_reason is not None:
            final["reason"], final["message"] = pod_reason
        await self._status(pod, final)

    async def _stop(self, pod: Obj, grace: float, pod_reason: tuple[str, str] | None) -> None:
        """SIGTERM to the container: one that traps it exits with its code; PID 1 without a
        handler (a shell, sleep) ignores it and SIGKILL ends it after the grace period."""
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        annotations = meta.get("annotations") or {}
        started = (pod.get("status") or {}).get("startTime")
        if key not in self.running:
            await self._finish(pod, 137, "ContainerStatusUnknown", None, pod_reason)
            return
        trapped = sigterm_exit_code(annotations)
        if trapped is None:
            await asyncio.sleep(grace)
            code, reason = 137, "Error"
        else:
            code, reason = trapped, "Completed" if trapped == 0 else "Error"
        await self._finish(pod, code, reason, started, pod_reason)

    async def _deadline(self, pod: Obj, seconds: int) -> None:
        """activeDeadlineSeconds: the kubelet stops a pod that ran past it (its grace period
        applies), and the pod stays, Failed with the reason DeadlineExceeded."""
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        begun = (pod.get("status") or {}).get("startTime")
        since = datetime.fromisoformat(begun.replace("Z", "+00:00")) if begun else datetime.now(UTC)
        left = seconds - (datetime.now(UTC) - since).total_seconds()
        await asyncio.sleep(max(0.0, left))
        task = self.tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()
        grace = float(pod.get("spec", {}).get("terminationGracePeriodSeconds", 30))
        current = self.pods.get(key, pod)
        await self._stop(current, grace, (DEADLINE_EXCEEDED, DEADLINE_MESSAGE))

    async def _terminate(self, pod: Obj) -> None:
        """The pod is being deleted: SIGTERM, SIGKILL after the grace period; then gone."""
        meta = pod["metadata"]
        phase = pod.get("status", {}).get("phase", "Pending")
        if phase in ("Running", "Pending"):
            await self._stop(pod, float(meta.get("deletionGracePeriodSeconds", 30)), None)
        await self._until_done(
            lambda: self.client.delete("v1", "pods", meta["name"], meta["namespace"], 0)
        )

    def _pod_ip(self, key: str) -> str:
        """A made-up address per pod (the simulated nodes have no network)."""
        number = self.addresses.setdefault(key, len(self.addresses) + 2)
        return f"10.245.{number // 250 % 250}.{number % 250 + 2}"


ZERO_TIME = "1970-01-01T00:00:00Z"
"""The start time a container reports when it never started."""
DEADLINE_EXCEEDED = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def _ready_since(node: Obj) -> str | None:
    """When the node became Ready, if its Ready condition is True."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return str(condition.get("lastTransitionTime") or now_text())
    return None


def _conditions(initialized: bool, ready: bool, ended: str | None = None) -> list[Obj]:
    """A pod's conditions as a kubelet writes them (PodScheduled is the scheduler's)."""
    readiness: Obj = {"status": "True"}
    if ended is not None:
        readiness = {
            "status": "False",
            "reason": "PodCompleted" if ended == "Succeeded" else "PodFailed",
        }
    elif not ready:
        readiness = {
            "status": "False",
            "reason": "ContainersNotReady",
            "message": "containers with unready status: [main]",
        }
    found = [
        {"type": "Initialized", "status": "True" if initialized else "False"},
        {"type": "Ready", **readiness},
        {"type": "ContainersReady", **readiness},
        {"type": "PodScheduled", "status": "True"},
    ]
    stamp = now_text()
    return [{**c, "lastProbeTime": None, "lastTransitionTime": stamp} for c in found]


async def amain(args: argparse.Namespace) -> None:
    # A kubeconfig, or in a cluster (the chart's simulatedNodes) the pod's ServiceAccount.
    client = Client(credentials(args.kubeconfig), qps=args.qps, burst=int(args.qps * 2))
    from .certificates import self_signed

    folder = tempfile.TemporaryDirectory(prefix="kubatch-kubelet-")
    serving = self_signed(Path(folder.name), "kubelet")
    kubelet = Kubelet(
        client,
        args.bind,
        args.ready_delay,
        not args.no_leases,
        args.default_duration,
        serving,
        args.lease_seconds,
        args.phase_lag,
        status_report_seconds=args.status_report_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(kubelet.run())
    print("kubatch simulated kubelet running", flush=True)
    await stop.wait()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    await client.close()
    folder.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kubatch-kubelet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--bind", action="store_true", help="bind pods (when no scheduler does)")
    parser.add_argument(
        "--ready-delay", type=float, default=0.5, help="seconds before a new node is Ready"
    )
    parser.add_argument("--no-leases", action="store_true", help="do not renew node leases")
    parser.add_argument(
        "--lease-seconds", type=float, default=LEASE_SECONDS, help="how often leases are renewed"
    )
    parser.add_argument(
        "--default-duration",
        type=float,
        default=0.0,
        help="seconds a container runs when its job does not say",
    )
    parser.add_argument(
        "--phase-lag",
        type=float,
        default=PHASE_LAG,
        help="seconds between a container's end and its pod's phase",
    )
    parser.add_argument(
        "--status-report-seconds",
        type=float,
        default=STATUS_REPORT_SECONDS,
        help="how often a Ready node's unchanged status is reported",
    )
    parser.add_argument("--qps", type=float, default=1000.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
