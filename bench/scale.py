"""Many jobs through the operator, the embedded API server and the simulated cluster, with
pods that finish at once. Prints one JSON object.

N jobs are submitted (nine in ten single jobs, the rest as arrays of 100 children, so that
N counts jobs and children alike) to a queue on an environment of 960 vCPUs; the run
measures queue-to-done throughput (first submission to every job SUCCEEDED), the operator's
peak RSS, its longest scheduling step (its kubatch_scheduling_pass_longest_seconds metric)
and the longest status-write lag: for every job, the time from its `stoppedAt` (the moment
the operator decided it SUCCEEDED) to the watch event that shows it so.

Usage: python -m bench.scale [N]      (python -m bench.scale 100000 for the 100k run)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.operator_throughput import (
    API,
    UNLIMITED,
    _ok,
    install_crds,
    platform,
    proc_stat,
    scrape,
    submit,
    wait_until,
)
from kubatch.kube.client import Client, Credentials
from kubatch.sim.stack import Operator, start_apiserver, start_kubelet

ARRAY = 100
"""Children per array job."""


def plan(n: int) -> list[tuple[str, int]]:
    """(name, array size or 0) adding up to n jobs and children: 10% of them in arrays."""
    arrays = (n // 10) // ARRAY
    jobs = [(f"array-{i}", ARRAY) for i in range(arrays)]
    jobs += [(f"job-{i}", 0) for i in range(n - arrays * ARRAY)]
    return jobs


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def run(n: int, workdir: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        kubeconfig = start_apiserver(stack, workdir)
        client = Client(Credentials.from_kubeconfig(str(kubeconfig)), qps=100_000, burst=100_000)
        await wait_until(lambda: _ok(client))
        await install_crds(client)
        await client.create("v1", "namespaces", {"metadata": {"name": "scale"}})
        start_kubelet(stack, workdir, kubeconfig, bind=True, ready_delay=0.1)
        operator = Operator(kubeconfig=kubeconfig, workdir=workdir, env=UNLIMITED)
        stack.callback(operator.stop)
        proc = operator.start()
        await platform(client, ("scale",))
        jobs = plan(n)
        done: dict[str, float] = {}
        lags: list[float] = []
        finished = asyncio.Event()

        async def watch() -> None:
            listed = await client.request("GET", f"/apis/{API}/namespaces/scale/batchjobs")
            rv = listed["metadata"]["resourceVersion"]
            while len(done) < len(jobs):
                async for kind, obj in client.watch(API, "batchjobs", rv, "scale"):
                    if kind == "BOOKMARK":
                        continue
                    rv = obj["metadata"]["resourceVersion"]
                    status = obj.get("status") or {}
                    name = obj["metadata"]["name"]
                    if status.get("status") == "SUCCEEDED" and name not in done:
                        done[name] = time.time()
                        if status.get("stoppedAt"):
                            lags.append(done[name] - _seconds(status["stoppedAt"]))
                        if len(done) >= len(jobs):
                            break
            finished.set()

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        await submit(client, "scale", [name for name, _ in jobs], [size for _, size in jobs])
        submitted = time.perf_counter() - started
        await asyncio.wait_for(finished.wait(), 6 * 3600)
        elapsed = time.perf_counter() - started
        await watcher
        metrics = await scrape(operator.metrics_port)
        cpu, rss, peak = proc_stat(proc.pid)
        await client.close()
        return {
            "benchmark": "scale",
            "jobs_and_children": n,
            "objects": len(jobs),
            "arrays": sum(1 for _, size in jobs if size),
            "submit_seconds": round(submitted, 1),
            "queue_to_done_per_second": round(n / elapsed, 1),
            "queue_to_done_seconds": round(elapsed, 1),
            "operator_peak_rss_mib": round(peak / 2**20, 1),
            "operator_rss_end_mib": round(rss / 2**20, 1),
            "operator_cpu_seconds": round(cpu, 1),
            "longest_scheduling_step_seconds": round(
                metrics.get("kubatch_scheduling_pass_longest_seconds", 0.0), 3
            ),
            "longest_status_write_lag_seconds": round(max(lags, default=0.0), 3),
            "median_status_write_lag_seconds": _quantile(lags, 0.5),
            "p99_status_write_lag_seconds": _quantile(lags, 0.99),
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(n, Path(tmp)))))


if __name__ == "__main__":
    main()
