"""N single jobs through the operator, the embedded API server and the simulated cluster,
with pods that finish at once. Prints one JSON object.

In one run: (1) the server's raw pod-create rate from a plain client loop (same concurrency
as the operator's writer), (2) N jobs submitted while their environment is DISABLED, so
that they wait RUNNABLE (the operator's memory per queued job is measured here), then (3)
the environment enabled: jobs per second from then to every pod created (dispatch, quoted
as a ratio of the raw rate) and to every job SUCCEEDED, and operator CPU seconds per job.

Usage: python -m bench.operator_throughput [N]
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


async def run(n: int, workdir: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        kubeconfig = start_apiserver(stack, workdir)
        client = Client(Credentials.from_kubeconfig(str(kubeconfig)), qps=100_000, burst=100_000)
        await wait_until(lambda: _ok(client))
        for crd in all_crds().values():
            await client.create("apiextensions.k8s.io/v1", "customresourcedefinitions", crd)
        for ns in ("raw", "bench"):
            await client.create("v1", "namespaces", {"metadata": {"name": ns}})

        # (1) the raw rate: a plain loop creating pods, as many at once as the writer does
        pod: dict[str, Any] = {
            "metadata": {"labels": {"bench": "raw"}},
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
        started = time.perf_counter()
        await gather_limited(
            [
                client.create(
                    "v1",
                    "pods",
                    {**pod, "metadata": {"name": f"raw-{i}", "labels": {"bench": "raw"}}},
                    "raw",
                )
                for i in range(n)
            ]
        )
        raw_rate = n / (time.perf_counter() - started)

        # (2) the operator with N jobs queued behind a disabled environment
        start_kubelet(stack, workdir, kubeconfig, bind=True, ready_delay=0.1)
        operator = Operator(
            kubeconfig, workdir, {"KUBATCH_WRITE_QPS": "100000", "KUBATCH_WRITE_BURST": "100000"}
        )
        stack.callback(operator.stop)
        proc = operator.start()
        await client.create(
            API,
            "computeenvironments",
            {
                "apiVersion": API,
                "kind": "ComputeEnvironment",
                "metadata": {"name": "bench"},
                "spec": {
                    "state": "DISABLED",
                    "computeResources": {
                        "minvCpus": 960,
                        "maxvCpus": 960,
                        "instanceTypes": ["m5.24xlarge"],
                    },
                },
            },
        )
        await client.create(
            API,
            "jobqueues",
            {
                "apiVersion": API,
                "kind": "JobQueue",
                "metadata": {"name": "bench"},
                "spec": {
                    "priority": 1,
                    "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "bench"}],
                },
            },
        )
        await client.create(
            API,
            "jobdefinitions",
            {
                "apiVersion": API,
                "kind": "JobDefinition",
                "metadata": {"name": "instant"},
                "spec": {
                    "containerProperties": {
                        "image": "busybox",
                        "command": ["true"],
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "250m"},
                            {"type": "MEMORY", "value": "256"},
                        ],
                    }
                },
            },
            "bench",
        )

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
        started = time.perf_counter()
        await gather_limited(
            [
                client.create(
                    API,
                    "batchjobs",
                    {
                        "apiVersion": API,
                        "kind": "BatchJob",
                        "metadata": {"name": f"job-{i}"},
                        "spec": {"jobQueue": "bench", "jobDefinition": "instant"},
                    },
                    "bench",
                )
                for i in range(n)
            ]
        )
        submit_seconds = time.perf_counter() - started
        await asyncio.wait_for(queued.wait(), 600)
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
        cpu_before, _, _ = proc_stat(proc.pid)
        started = time.perf_counter()
        await client.patch(API, "computeenvironments", "bench", {"spec": {"state": "ENABLED"}})
        await asyncio.wait_for(all_pods.wait(), 600)
        dispatch_seconds = time.perf_counter() - started
        await asyncio.wait_for(all_done.wait(), 600)
        done_seconds = time.perf_counter() - started
        cpu_after, rss_end, peak = proc_stat(proc.pid)
        for task in watchers:
            task.cancel()
        await client.close()
        dispatch_rate = n / dispatch_seconds
        return {
            "benchmark": "operator_throughput",
            "jobs": n,
            "raw_pod_create_per_second": round(raw_rate, 1),
            "submit_per_second": round(n / submit_seconds, 1),
            "dispatch_jobs_per_second": round(dispatch_rate, 1),
            "dispatch_ratio_to_raw": round(dispatch_rate / raw_rate, 3),
            "succeeded_jobs_per_second": round(n / done_seconds, 1),
            "operator_cpu_seconds_per_job": round((cpu_after - cpu_before) / n, 5),
            "operator_rss_growth_per_queued_job_kib": round(
                (rss_queued - rss_before) / n / 1024, 2
            ),
            "operator_peak_rss_mib": round(peak / 2**20, 1),
            "operator_rss_end_mib": round(rss_end / 2**20, 1),
        }


async def _ok(client: Client) -> bool:
    try:
        await client.request("GET", "/api/v1/namespaces")
    except Exception:
        return False
    return True


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(n, Path(tmp)))))


if __name__ == "__main__":
    main()
