"""The web console with many jobs in one namespace: how long its pages take to answer. Prints
one JSON object.

N BatchJobs (one in ten an array of 100) are created in the embedded API server, on the
benchmarks' environment, queue and definition (bench.operator_throughput.platform), and given
statuses across every state (written to their status subresource, as the operator would);
`kubatch console` runs beside it as a user would run it; once its caches hold every job,
each page below is fetched REPEAT times over HTTP and its median and slowest answer are
reported in milliseconds, with the console's RSS.

Usage: python -m bench.console_pages [N]      (default 10000)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.operator_throughput import (
    API,
    _ok,
    gather_limited,
    install_crds,
    platform,
    proc_stat,
    wait_until,
)
from kubatch.kube.client import Client, Credentials
from kubatch.sim.stack import process, start_apiserver, wait_for_file

NAMESPACE = "bench"
REPEAT = 20
STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def status_of(i: int, size: int) -> dict[str, Any]:
    state = STATES[i % len(STATES)]
    status: dict[str, Any] = {"status": state, "attemptCount": 1 if i % 3 else 2}
    if state in ("RUNNABLE",):
        status["positionInQueue"] = 1 + i % 100
    if state == "FAILED":
        status["statusReason"] = "Essential container in task exited"
    if size:
        done = size // 2
        status["arrayProperties"] = {
            "size": size,
            "statusSummary": {"SUCCEEDED": done, "RUNNING": size - done},
            "indexes": {"SUCCEEDED": f"0-{done - 1}", "RUNNING": f"{done}-{size - 1}"},
        }
    return status


async def populate(client: Client, n: int) -> None:
    await client.create("v1", "namespaces", {"metadata": {"name": NAMESPACE}})
    await platform(client, (NAMESPACE,))
    sizes = [100 if i % 10 == 9 else 0 for i in range(n)]

    async def one(i: int) -> None:
        name = f"job-{i:05d}"
        spec: dict[str, Any] = {"jobQueue": "bench", "jobDefinition": "instant"}
        if sizes[i]:
            spec["arrayProperties"] = {"size": sizes[i]}
        body = {"apiVersion": API, "kind": "BatchJob", "metadata": {"name": name}, "spec": spec}
        await client.create(API, "batchjobs", body, NAMESPACE)
        await client.patch(
            API, "batchjobs", name, {"status": status_of(i, sizes[i])}, NAMESPACE, "status"
        )

    await gather_limited([one(i) for i in range(n)])


def fetch(url: str) -> tuple[float, str]:
    """Seconds to the whole answer (an error page counts as an answer), and its text."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode()
    return time.perf_counter() - began, text


def measure(base: str, n: int) -> dict[str, dict[str, float]]:
    last = f"job-{n - 1:05d}"
    pages = {
        "dashboard": "/",
        "jobs_first_page": f"/jobs?namespace={NAMESPACE}",
        "jobs_middle_page": f"/jobs?namespace={NAMESPACE}&page={max(n // 100, 1)}",
        "jobs_by_status": f"/jobs?namespace={NAMESPACE}&status=FAILED",
        "jobs_by_name": f"/jobs?namespace={NAMESPACE}&name=job-01",
        "jobs_oldest_last_page": f"/jobs?namespace={NAMESPACE}&sort=oldest&page=1000000",
        "job_detail": f"/jobs/{NAMESPACE}/{last}",
        "bad_query": "/jobs?page=0",
    }
    found: dict[str, dict[str, float]] = {}
    for name, path in pages.items():
        times = []
        for _ in range(REPEAT):
            took, _ = fetch(base + path)
            times.append(took * 1000)
        found[name] = {
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        }
    return found


async def run(n: int, workdir: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        kubeconfig = start_apiserver(stack, workdir)
        client = Client(Credentials.from_kubeconfig(str(kubeconfig)), qps=100_000, burst=100_000)
        try:
            await wait_until(lambda: _ok(client))
            await install_crds(client)
            began = time.perf_counter()
            await populate(client, n)
            populated = time.perf_counter() - began
        finally:
            await client.close()
        ready = workdir / "console.url"
        console = stack.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "kubatch.console",
                    "--port",
                    "0",
                    "--ready-file",
                    str(ready),
                ],
                {"KUBECONFIG": str(kubeconfig)},
                workdir / "console.log",
            )
        )
        began = time.perf_counter()
        wait_for_file(ready, timeout=120)
        base = ready.read_text().strip()
        total = f'data-total="{n}"'
        while total not in fetch(f"{base}/jobs?namespace={NAMESPACE}")[1]:
            await asyncio.sleep(0.1)
        synced = time.perf_counter() - began
        pages = measure(base, n)
        _, rss, peak = proc_stat(console.pid)
    return {
        "benchmark": "console_pages",
        "jobs": n,
        "arrays": sum(1 for i in range(n) if i % 10 == 9),
        "repeat": REPEAT,
        "populate_seconds": round(populated, 1),
        "console_start_and_sync_seconds": round(synced, 2),
        "pages": pages,
        "slowest_median_ms": max(p["median_ms"] for p in pages.values()),
        "console_rss_mib": round(rss / 2**20, 1),
        "console_peak_rss_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(n, Path(tmp)))))


if __name__ == "__main__":
    main()
