"""N single jobs through the operator and a simulated cluster, with pods that finish at once,
on the embedded API server (default) or on a real control plane (`--real`: kube-apiserver,
etcd, kube-controller-manager and kube-scheduler from KUBEBUILDER_ASSETS; the real scheduler
binds the pods). Prints one JSON object.

In one run: (1) the server's raw pod-create rate from a plain client, one request at a time
and 16 at once, and (real tier) the built-in Job controller's rate for N single-pod Jobs at
its default client QPS; (2) N jobs submitted while their environment is DISABLED, so that
they wait RUNNABLE (the operator's memory per queued job is measured here); (3) the
environment enabled: jobs per second from then to every pod created (quoted as a ratio of
the one-client raw rate) and to every job SUCCEEDED, the operator's API calls per job by
verb and resource (from its metrics) and its CPU seconds per job; (4) the operator started
again at the Job controller's client QPS, N more jobs (at most 500): submit -> pod created
per second, as a ratio of the Job controller's rate.

Usage: python -m bench.operator_throughput [N] [--real] [--profile=FILE]
(--profile: the first operator's cProfile, written when it stops; `python -m pstats FILE`)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kubatch.api.crdgen import all_crds
from kubatch.kube.client import Client, Credentials
from kubatch.kube.errors import ApiError
from kubatch.sim.controlplane import assets_from_environment, control_plane
from kubatch.sim.stack import Operator, start_apiserver, start_kubelet

API = "kubatch.io/v1alpha1"
CONCURRENCY = 16
PAGE = 4096


def proc_stat(pid: int) -> tuple[float, int, int]:
    """CPU seconds, RSS and peak RSS (bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = 100.0
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    rss = int(status["VmRSS"].split()[0]) * 1024
    peak = int(status["VmHWM"].split()[0]) * 1024
    return cpu, rss, peak


async def gather_limited(coros: list[Any], limit: int = CONCURRENCY) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> None:
        async with semaphore:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def wait_until(check: Any, timeout: float = 600, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(interval)


async def count_events(
    client: Client,
    api_version: str,
    plural: str,
    namespace: str,
    wanted: Any,
    n: int,
    done: asyncio.Event,
    seen: set[str],
) -> None:
    listed = await client.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/{plural}"
        if api_version == "v1"
        else f"/apis/{api_version}/namespaces/{namespace}/{plural}",
    )
    for item in listed["items"]:
        if wanted(item):
            seen.add(item["metadata"]["name"])
    rv = listed["metadata"]["resourceVersion"]
    while len(seen) < n:
        async for kind, obj in client.watch(api_version, plural, rv, namespace):
            if kind == "BOOKMARK":
                continue
            rv = obj["metadata"]["resourceVersion"]
            if kind != "DELETED" and wanted(obj):
                seen.add(obj["metadata"]["name"])
                if len(seen) >= n:
                    break
    done.set()


POD: dict[str, Any] = {
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "main",
                "image": "busybox",
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
            }
        ],
    },
}
LIMITED_JOBS = 500
"""Jobs of the run at the Job controller's QPS (at 20 writes/s, more only takes longer)."""
CONTROLLER_QPS, CONTROLLER_BURST = 20, 30
"""kube-controller-manager's defaults (--kube-api-qps, --kube-api-burst)."""


async def create_pods(client: Client, namespace: str, n: int, concurrency: int) -> float:
    """Pods created per second by a plain client, `concurrency` requests at once."""
    started = time.perf_counter()
    await gather_limited(
        [
            client.create("v1", "pods", {**POD, "metadata": {"name": f"raw-{i}"}}, namespace)
            for i in range(n)
        ],
        concurrency,
    )
    return n / (time.perf_counter() - started)


async def job_controller_rate(client: Client, namespace: str, n: int) -> float:
    """Pods per second the built-in Job controller creates for n single-pod Jobs."""
    pods: set[str] = set()
    done = asyncio.Event()
    watcher = asyncio.create_task(
        count_events(client, "v1", "pods", namespace, lambda o: True, n, done, pods)
    )
    started = time.perf_counter()
    await gather_limited(
        [
            client.create(
                "batch/v1",
                "jobs",
                {"metadata": {"name": f"job-{i}"}, "spec": {"backoffLimit": 0, "template": POD}},
                namespace,
            )
            for i in range(n)
        ]
    )
    await asyncio.wait_for(done.wait(), 1800)
    await watcher
    return n / (time.perf_counter() - started)


async def submit(
    client: Client, namespace: str, names: list[str], sizes: list[int] | None = None
) -> float:
    """Submit jobs to the queue "bench" (array jobs where `sizes` says a size); seconds taken."""
    started = time.perf_counter()
    await gather_limited(
        [
            client.create(
                API,
                "batchjobs",
                {
                    "apiVersion": API,
                    "kind": "BatchJob",
                    "metadata": {"name": name},
                    "spec": {
                        "jobQueue": "bench",
                        "jobDefinition": "instant",
                        **({"arrayProperties": {"size": size}} if size else {}),
                    },
                },
                namespace,
            )
            for name, size in zip(names, sizes or [0] * len(names), strict=True)
        ]
    )
    return time.perf_counter() - started


UNLIMITED = {"KUBATCH_WRITE_QPS": "100000", "KUBATCH_WRITE_BURST": "100000"}
"""The operator's write budget when a benchmark measures the operator, not its throttle."""


async def install_crds(client: Client) -> None:
    for crd in all_crds().values():
        await client.create("apiextensions.k8s.io/v1", "customresourcedefinitions", crd)
    for crd in all_crds().values():
        await wait_until(lambda name=crd["metadata"]["name"]: _established(client, name))


async def platform(client: Client, namespaces: tuple[str, ...], state: str = "ENABLED") -> None:
    """The environment "bench" (960 vCPUs of m5.24xlarge, all there from the start), the
    queue "bench" on it, and the definition "instant" (250m, 256 MiB) in each namespace."""
    resources = {"minvCpus": 960, "maxvCpus": 960, "instanceTypes": ["m5.24xlarge"]}
    await client.create(
        API,
        "computeenvironments",
        {
            "apiVersion": API,
            "kind": "ComputeEnvironment",
            "metadata": {"name": "bench"},
            "spec": {"state": state, "computeResources": resources},
        },
    )
    order = [{"order": 1, "computeEnvironment": "bench"}]
    await client.create(
        API,
        "jobqueues",
        {
            "apiVersion": API,
            "kind": "JobQueue",
            "metadata": {"name": "bench"},
            "spec": {"priority": 1, "computeEnvironmentOrder": order},
        },
    )
    requirements = [{"type": "VCPU", "value": "250m"}, {"type": "MEMORY", "value": "256"}]
    container = {"image": "busybox", "command": ["true"], "resourceRequirements": requirements}
    for ns in namespaces:
        await client.create(
            API,
            "jobdefinitions",
            {
                "apiVersion": API,
                "kind": "JobDefinition",
                "metadata": {"name": "instant"},
                "spec": {"containerProperties": container},
            },
            ns,
        )


async def scrape(port: int) -> dict[str, float]:
    """The operator's metrics, as Prometheus would read them."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        text = await reply.text()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, number = line.rpartition(" ")
            samples[name] = float(number)
    return samples


def calls_by_kind(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    found = {}
    for key, number in after.items():
        if key.startswith("kubatch_api_calls_total{"):
            labels = dict(part.split("=", 1) for part in key[key.index("{") + 1 : -1].split(","))
            kind = f"{labels['verb'].strip(chr(34))} {labels['resource'].strip(chr(34))}"
            delta = number - before.get(key, 0.0)
            if delta:
                found[kind] = round(delta / n, 2)
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


async def run(n: int, workdir: Path, tier: str, profile: Path | None = None) -> dict[str, Any]:
    with ExitStack() as stack:
        plane = None
        if tier == "real":
            assets = assets_from_environment()
            if assets is None:
                raise SystemExit("--real needs KUBEBUILDER_ASSETS (see `make control-plane`)")
            plane = stack.enter_context(control_plane(assets, workdir / "control-plane"))
            kubeconfig = plane.kubeconfig
        else:
            kubeconfig = start_apiserver(stack, workdir)
        client = Client(Credentials.from_kubeconfig(str(kubeconfig)), qps=100_000, burst=100_000)
        await wait_until(lambda: _ok(client))
        await install_crds(client)
        for ns in ("raw", "raw16", "jobs", "bench", "bench2"):
            await client.create("v1", "namespaces", {"metadata": {"name": ns}})
            await wait_until(lambda ns=ns: _has_default_account(client, ns))

        # (1) the raw rates: a plain client creating pods, one at a time and 16 at once; the
        # Job controller's rate for as many single-pod Jobs (only a real control plane has one)
        raw_rate = await create_pods(client, "raw", n, 1)
        raw16_rate = await create_pods(client, "raw16", n, CONCURRENCY)
        job_rate = await job_controller_rate(client, "jobs", n) if plane else None
        for ns in ("raw", "raw16", "jobs"):  # so that no scheduler binds them to our nodes
            try:
                await client.request("DELETE", f"/api/v1/namespaces/{ns}")
            except ApiError as e:
                if e.status != 404:  # a retried delete finds it gone
                    raise

        # (2) the operator with N jobs queued behind a disabled environment
        start_kubelet(stack, workdir, kubeconfig, bind=plane is None, ready_delay=0.1)
        profiled = {"KUBATCH_PROFILE_FILE": str(profile)} if profile else {}
        operator = Operator(kubeconfig=kubeconfig, workdir=workdir, env=UNLIMITED | profiled)
        stack.callback(operator.stop)
        proc = operator.start()
        await platform(client, ("bench", "bench2"), state="DISABLED")

        async def nodes_ready() -> bool:
            nodes = (await client.request("GET", "/api/v1/nodes"))["items"]
            ready = [
                x
                for x in nodes
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in x.get("status", {}).get("conditions", [])
                )
            ]
            return len(ready) >= 10

        await wait_until(nodes_ready)
        await asyncio.sleep(2)
        _, rss_before, _ = proc_stat(proc.pid)
        runnable: set[str] = set()
        queued = asyncio.Event()
        watcher = asyncio.create_task(
            count_events(
                client,
                API,
                "batchjobs",
                "bench",
                lambda o: (o.get("status") or {}).get("status") == "RUNNABLE",
                n,
                queued,
                runnable,
            )
        )
        submit_seconds = await submit(client, "bench", [f"job-{i}" for i in range(n)])
        await asyncio.wait_for(queued.wait(), 1800)
        await watcher
        await asyncio.sleep(1)
        _, rss_queued, _ = proc_stat(proc.pid)

        # (3) enable the environment: dispatch and completion
        pods: set[str] = set()
        succeeded: set[str] = set()
        all_pods, all_done = asyncio.Event(), asyncio.Event()
        watchers = [
            asyncio.create_task(
                count_events(client, "v1", "pods", "bench", lambda o: True, n, all_pods, pods)
            ),
            asyncio.create_task(
                count_events(
                    client,
                    API,
                    "batchjobs",
                    "bench",
                    lambda o: (o.get("status") or {}).get("status") == "SUCCEEDED",
                    n,
                    all_done,
                    succeeded,
                )
            ),
        ]
        metrics_before = await scrape(operator.metrics_port)
        cpu_before, _, _ = proc_stat(proc.pid)
        started = time.perf_counter()
        await client.patch(API, "computeenvironments", "bench", {"spec": {"state": "ENABLED"}})
        await asyncio.wait_for(all_pods.wait(), 1800)
        dispatch_seconds = time.perf_counter() - started
        await asyncio.wait_for(all_done.wait(), 1800)
        done_seconds = time.perf_counter() - started
        cpu_after, rss_end, peak = proc_stat(proc.pid)
        calls = calls_by_kind(metrics_before, await scrape(operator.metrics_port), n)
        for task in watchers:
            task.cancel()

        # (4) the operator at the Job controller's client QPS: submit -> pod created
        operator.stop()
        operator.env = {
            "KUBATCH_WRITE_QPS": str(CONTROLLER_QPS),
            "KUBATCH_WRITE_BURST": str(CONTROLLER_BURST),
        }
        operator.start()
        pods2: set[str] = set()
        all_pods2 = asyncio.Event()
        n2 = min(n, LIMITED_JOBS)
        watcher = asyncio.create_task(
            count_events(client, "v1", "pods", "bench2", lambda o: True, n2, all_pods2, pods2)
        )
        started = time.perf_counter()
        await submit(client, "bench2", [f"job-{i}" for i in range(n2)])
        await asyncio.wait_for(all_pods2.wait(), 1800)
        limited_rate = n2 / (time.perf_counter() - started)
        await watcher
        await client.close()
        dispatch_rate = n / dispatch_seconds
        return {
            "benchmark": "operator_throughput",
            "tier": tier,
            "jobs": n,
            "raw_pod_create_per_second_1_client": round(raw_rate, 1),
            "raw_pod_create_per_second_16_at_once": round(raw16_rate, 1),
            "job_controller_pods_per_second": round(job_rate, 1) if job_rate else None,
            "job_controller_qps": f"{CONTROLLER_QPS}/{CONTROLLER_BURST}" if job_rate else None,
            "submit_per_second": round(n / submit_seconds, 1),
            "dispatch_jobs_per_second": round(dispatch_rate, 1),
            "dispatch_ratio_to_raw_1_client": round(dispatch_rate / raw_rate, 3),
            "dispatch_ratio_to_raw_16_at_once": round(dispatch_rate / raw16_rate, 3),
            "succeeded_jobs_per_second": round(n / done_seconds, 1),
            "at_controller_qps_submit_to_pod_per_second": round(limited_rate, 1),
            "at_controller_qps_ratio_to_job_controller": (
                round(limited_rate / job_rate, 2) if job_rate else None
            ),
            "api_calls_per_job": calls,
            "operator_cpu_seconds_per_job": round((cpu_after - cpu_before) / n, 5),
            "operator_rss_growth_per_queued_job_kib": round(
                (rss_queued - rss_before) / n / 1024, 2
            ),
            "operator_peak_rss_mib": round(peak / 2**20, 1),
            "operator_rss_end_mib": round(rss_end / 2**20, 1),
        }


async def _established(client: Client, name: str) -> bool:
    crd = await client.request(
        "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    )
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


async def _has_default_account(client: Client, namespace: str) -> bool:
    try:
        await client.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
    except ApiError:
        return False
    return True


async def _ok(client: Client) -> bool:
    try:
        await client.request("GET", "/api/v1/namespaces")
    except Exception:
        return False
    return True


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tier = "real" if "--real" in sys.argv else "emulator"
    n = int(args[0]) if args else 2000
    profile = next((Path(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--profile=")), None)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(n, Path(tmp), tier, profile))))


if __name__ == "__main__":
    main()
