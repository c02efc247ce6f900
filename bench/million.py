"""A million queued jobs held by one engine: memory per queued job, the time to take them in,
and the scheduling passes over them (when something fits, when nothing changed). Prints one
JSON object.

The engine alone, fed as the operator's informer feeds it (each BatchJob as the API serves it,
one by one), on one queue of one environment with one node at first: the first 16 jobs run
on it, every other job is RUNNABLE (waiting for capacity, as a long queue waits on a full
cluster). Then nodes with `free_slots` vCPUs join: the placing pass.
RSS is the process's (resident set, from /proc), measured after the jobs are in and a first
step has evaluated them, less what it was before.

Usage: python -m bench.million [JOBS] [--arrays SIZE]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from datetime import timedelta
from typing import Any

from bench.scheduler_pass import API, T0, _carry_out, _meta, _node
from kubatch.core.engine import Engine
from kubatch.core.phases.work import Dispatched


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def platform(engine: Engine) -> None:
    now = T0
    spec = {"type": "UNMANAGED", "state": "ENABLED"}
    engine.upsert_environment(
        {"apiVersion": API, "kind": "ComputeEnvironment", "metadata": _meta("ce"), "spec": spec},
        now,
    )
    order = [{"order": 1, "computeEnvironment": "ce"}]
    engine.upsert_queue(
        {
            "apiVersion": API,
            "kind": "JobQueue",
            "metadata": _meta("q"),
            "spec": {"priority": 1, "computeEnvironmentOrder": order},
        },
        now,
    )
    requirements = [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}]
    engine.upsert_definition(
        {
            "apiVersion": API,
            "kind": "JobDefinition",
            "metadata": _meta("work", "default"),
            "spec": {
                "containerProperties": {
                    "image": "busybox",
                    "command": ["echo", "Ref::msg"],
                    "resourceRequirements": requirements,
                },
                "parameters": {"msg": "hello"},
            },
        },
        now,
    )


def job(i: int, size: int | None) -> dict[str, Any]:
    """A BatchJob as a watch delivers it: its identity, version, spec."""
    spec: dict[str, Any] = {"jobQueue": "q", "jobDefinition": "work"}
    if size:
        spec["arrayProperties"] = {"size": size}
    meta = _meta(f"job-{i:07d}", "default")
    meta["labels"] = {"team": "vision"}
    return {"apiVersion": API, "kind": "BatchJob", "metadata": meta, "spec": spec}


def run(jobs: int, size: int | None, free_slots: int = 1000) -> dict[str, Any]:
    gc.collect()
    before = rss()
    engine = Engine()
    platform(engine)
    engine.upsert_node(_node("n-first", 16), T0)
    began = time.perf_counter()
    cpu = time.process_time()
    for i in range(jobs):
        engine.upsert_job(job(i, size), T0)
    intake = time.process_time() - cpu
    engine.start(T0)
    start = time.process_time()
    effects = engine.step(T0)
    first_step = time.process_time() - start
    _carry_out(engine, effects, T0)
    now = T0 + timedelta(seconds=1)
    steps, longest = 1, first_step
    while engine.dirty:  # a step evaluates at most EngineConfig.evaluations_per_step jobs
        begin = time.process_time()
        effects = engine.step(now)
        longest = max(longest, time.process_time() - begin)
        steps += 1
        _carry_out(engine, effects, now)
    evaluated = time.process_time() - start
    _carry_out(engine, engine.step(now), now)  # the statuses written
    wall = time.perf_counter() - began
    gc.collect()
    held = rss() - before
    passes: list[float] = []
    original = engine.dispatcher.run

    def timed(at: Any, consumables: Any = None) -> Dispatched:
        begin = time.process_time()
        result = original(at, consumables)
        passes.append(time.process_time() - begin)
        return result

    engine.dispatcher.run = timed  # type: ignore[method-assign,assignment]
    for n in range(free_slots // 16):
        engine.upsert_node(_node(f"n{n}", 16), now)
    now += timedelta(seconds=1)
    _carry_out(engine, engine.step(now), now)
    placing = passes[-1]
    now += timedelta(seconds=1)
    _carry_out(engine, engine.step(now), now)
    idle = []
    for _ in range(5):
        now += timedelta(seconds=1)
        engine.request_dispatch()
        engine.step(now)
        idle.append(passes[-1])
    queued = jobs * (size or 1)
    return {
        "jobs": jobs,
        "array_size": size,
        "queued_work": queued,
        "rss_mib": round(held / 2**20, 1),
        "rss_per_queued_job_kib": round(held / jobs / 1024, 2),
        "intake_cpu_s": round(intake, 1),
        "intake_us_per_job": round(intake / jobs * 1e6, 1),
        "first_step_cpu_s": round(first_step, 2),
        "evaluation_steps": steps,
        "all_evaluated_cpu_s": round(evaluated, 1),
        "longest_step_cpu_s": round(longest, 2),
        "to_first_step_wall_s": round(wall, 1),
        "placing_pass_cpu_ms": round(placing * 1000, 1),
        "unchanged_pass_cpu_ms": round(min(idle) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.million")
    parser.add_argument("jobs", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--arrays", type=int, default=None, help="array size (jobs are arrays)")
    args = parser.parse_args()
    print(json.dumps({"benchmark": "million", **run(args.jobs, args.arrays)}))


if __name__ == "__main__":
    main()
