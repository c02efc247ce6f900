"""A new leader's first pod: how long after it leads does it create one, with JOBS queued and
RUNNING running? Prints one JSON object.

The engine alone, as the operator runs it. A first engine (the old leader) takes in the
jobs, places RUNNING of them on nodes of 16 vCPUs and has every status written; a node with
free room joins while no one leads. A second engine (the new leader) is then fed what a list
of the cluster answers: the nodes, the pods (RUNNING, Running), the jobs with their statuses;
it starts (adopting the pods) and steps until it creates a pod. Measured in CPU seconds (the
machine's other work does not count): the decoding of the jobs' list answer (JSON), their
intake, the start, the steps to the first pod, and the steps until every job is evaluated.

Usage: python -m bench.restart [JOBS] [--running N]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from typing import Any

from bench.million import job, platform
from bench.scheduler_pass import T0, _node
from bench.scheduler_pass import _carry_out as carry_out
from kubatch.core.engine import Engine
from kubatch.core.outbox.effects import CreateObject, Effect

SLOTS = 16


def _old_leader(jobs: int, running: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The jobs (with the statuses the old leader had written) and its pods, as listed."""
    engine = Engine()
    platform(engine)
    for n in range(running // SLOTS):
        engine.upsert_node(_node(f"n{n}", SLOTS), T0)
    objects = [job(i, None) for i in range(jobs)]
    for obj in objects:
        engine.upsert_job(obj, T0)
    engine.start(T0)
    pods: list[dict[str, Any]] = []
    now = T0
    for _ in range(100):
        effects = engine.step(now)
        pods += _carry_out(engine, effects, now)
        wake = engine.next_wake()
        if not effects and (wake is None or wake > now):
            break
        now += timedelta(seconds=1)
    for obj in objects:
        meta = obj["metadata"]
        obj["status"] = engine.book.current("batchjobs", meta["namespace"], meta["name"]) or {}
    return objects, pods


RUNNING: dict[str, Any] = {
    "phase": "Running",
    "containerStatuses": [
        {"name": "main", "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}
    ],
}


def _carry_out(engine: Engine, effects: list[Effect], now: Any) -> list[dict[str, Any]]:
    """Every effect succeeds; pods are bound and running at once."""
    return carry_out(engine, effects, now, RUNNING)


def run(jobs: int, running: int) -> dict[str, Any]:
    listed, pods = _old_leader(jobs, running)
    answer = json.dumps({"items": listed})
    now = T0 + timedelta(minutes=5)

    cpu = time.process_time()
    items = json.loads(answer)["items"]
    decoded = time.process_time() - cpu
    engine = Engine()
    cpu = time.process_time()
    platform(engine)
    for n in range(running // SLOTS + 1):  # the last one joined while no one led
        engine.upsert_node(_node(f"n{n}", SLOTS), now)
    for pod in pods:
        engine.observe_pod(pod, now)
    for obj in items:
        engine.upsert_job(obj, now)
    intake = time.process_time() - cpu
    cpu = time.process_time()
    engine.start(now)
    started = time.process_time() - cpu
    steps, first_pod, longest = 0, None, 0.0
    cpu = time.process_time()
    while steps < 10_000:
        begin = time.process_time()
        effects = engine.step(now)
        longest = max(longest, time.process_time() - begin)
        steps += 1
        created = [e for e in effects if isinstance(e, CreateObject) and e.plural == "pods"]
        if created and first_pod is None:
            first_pod = (steps, time.process_time() - cpu)
        _carry_out(engine, effects, now)
        wake = engine.next_wake()
        if first_pod is not None and (wake is None or wake > now):
            break
        now += timedelta(milliseconds=100)
    all_evaluated = time.process_time() - cpu
    assert first_pod is not None, "the new leader created no pod"
    return {
        "benchmark": "restart",
        "jobs": jobs,
        "running": running,
        "list_decode_cpu_s": round(decoded, 2),
        "intake_cpu_s": round(intake, 2),
        "start_cpu_s": round(started, 2),
        "steps_to_first_pod": first_pod[0],
        "leads_to_first_pod_cpu_s": round(decoded + intake + started + first_pod[1], 2),
        "of_which_steps_cpu_s": round(first_pod[1], 2),
        "steps_until_all_evaluated": steps,
        "until_all_evaluated_cpu_s": round(all_evaluated, 2),
        "longest_step_cpu_s": round(longest, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.restart")
    parser.add_argument("jobs", type=int, nargs="?", default=100_000)
    parser.add_argument("--running", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.jobs, args.running)))


if __name__ == "__main__":
    main()
