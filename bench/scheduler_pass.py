"""CPU time of scheduling passes. Prints one JSON object.

1. The pure pass (core/scheduling/placement.py) over 1k, 10k and 100k runnable items across
   20 queues and 10 compute environments (50 nodes each), as single jobs and as array children, both
   walking every item (`full`) and stopping each queue's walk once nothing more fits
   (`incremental`, what the operator runs).
2. The operator's pass as it runs in the engine (core/phases/dispatch.py: run queues kept between
   passes, blockers, placements): 100,000 RUNNABLE single jobs in one queue, a pass that
   finds 1,000 free slots, and a pass when nothing changed.

Usage: python -m bench.scheduler_pass [JOBS]
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubatch.api import QueueingStrategy
from kubatch.api.resources import MIB, Resources
from kubatch.core.engine import Engine
from kubatch.core.outbox.effects import CreateObject, Effect, Outcome
from kubatch.core.phases.work import Dispatched
from kubatch.core.scheduling.catalog import CATALOG, resolve_shapes
from kubatch.core.scheduling.placement import Environment, Node, Queue, Snapshot, WorkItem, schedule

QUEUES, ENVIRONMENTS, NODES = 20, 10, 50
SIZES = [Resources(cpu * 500, mem * 512 * MIB) for cpu in (1, 2, 4, 8) for mem in (1, 4, 8)]


def snapshot(items: int, group: int, seed: int = 1) -> Snapshot:
    rng = random.Random(seed)
    shape = CATALOG["m5.4xlarge"]
    envs = []
    for e in range(ENVIRONMENTS):
        nodes = []
        for n in range(NODES):
            used = Resources(rng.randrange(0, 16) * 1000, rng.randrange(0, 48) * 1024 * MIB)
            free = shape.allocatable - used if used.fits_in(shape.allocatable) else Resources()
            nodes.append(
                Node(
                    name=f"e{e}-n{n}",
                    allocatable=shape.allocatable,
                    free=free,
                    shape=shape.name,
                    running=1,
                )
            )
        envs.append(
            Environment(
                name=f"e{e}",
                max_vcpus=1000,
                nodes=tuple(nodes),
                shapes=tuple(resolve_shapes(["m5"])),
            )
        )
    per_queue: list[list[WorkItem]] = [[] for _ in range(QUEUES)]
    made = 0
    while made < items:
        q = rng.randrange(QUEUES)
        count = min(group, items - made)
        per_queue[q].append(
            WorkItem(
                job=("ns", f"job{made}"),
                index=0 if group > 1 else None,
                queue=f"q{q}",
                resources=rng.choice(SIZES),
                count=count,
            )
        )
        made += count
    queues = []
    for q in range(QUEUES):
        order = tuple(f"e{(q + k) % ENVIRONMENTS}" for k in range(3))
        strategy = QueueingStrategy.STRICT_FIFO if q % 5 == 0 else QueueingStrategy.BEST_EFFORT_FIFO
        queues.append(
            Queue(
                name=f"q{q}",
                priority=q % 4,
                environments=order,
                strategy=strategy,
                items=tuple(per_queue[q]),
            )
        )
    return Snapshot(
        queues=tuple(queues), environments=tuple(envs), now=datetime(2026, 1, 1, tzinfo=UTC)
    )


def measure(snap: Snapshot, repeat: int = 3) -> dict[str, float | int]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.process_time()
        result = schedule(snap)
        best = min(best, time.process_time() - start)
    assert result is not None
    return {
        "cpu_ms": round(best * 1000, 1),
        "placed": len(result.placements),
        "waiting_records": len(result.waiting),
    }


def incremental(snap: Snapshot) -> Snapshot:
    """The snapshot as the operator gives it: each queue's requests counted beforehand (its
    run queue keeps them), and positions shown for the first 100 places."""
    queues = []
    for q in snap.queues:
        sizes: Counter[Resources] = Counter()
        for item in q.items:
            sizes[item.resources] += item.count
        queues.append(replace(q, sizes=sizes))
    return replace(snap, queues=tuple(queues), positions_shown=100)


# -- the operator's pass ---------------------------------------------------------------------

API = "kubatch.io/v1alpha1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_versions = itertools.count(1)


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    version = next(_versions)
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{version}",
        "resourceVersion": str(version),
        "generation": 1,
        "creationTimestamp": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if namespace:
        meta["namespace"] = namespace
    return meta


def _node(name: str, cpu: int) -> dict[str, Any]:
    meta = _meta(name)
    meta["labels"] = {"kubatch.io/compute-environment": "ce", "kubernetes.io/hostname": name}
    allocatable = {"cpu": str(cpu), "memory": f"{cpu * 4}Gi", "pods": "110"}
    ready = [{"type": "Ready", "status": "True"}]
    return {"metadata": meta, "status": {"allocatable": allocatable, "conditions": ready}}


PENDING: dict[str, Any] = {"phase": "Pending"}


def _carry_out(
    engine: Engine, effects: list[Effect], now: datetime, status: dict[str, Any] = PENDING
) -> list[dict[str, Any]]:
    """Every effect succeeds; created pods come back as watch events (bound, with `status`,
    Pending unless given), and are returned."""
    made = []
    for effect in effects:
        engine.report(Outcome(effect=effect, version=next(_versions)))
        if isinstance(effect, CreateObject) and effect.plural == "pods":
            pod = dict(effect.body)
            pod["metadata"] = {**pod["metadata"], "namespace": effect.namespace}
            selector = pod["spec"].get("nodeSelector", {})
            pod["spec"] = {**pod["spec"], "nodeName": selector.get("kubernetes.io/hostname")}
            pod["status"] = status
            engine.observe_pod(pod, now)
            made.append(pod)
    return made


def engine_passes(jobs: int, free_slots: int = 1000, multinode: bool = False) -> dict[str, Any]:
    """The engine's dispatch pass with `jobs` RUNNABLE single jobs of 1 vCPU in one queue
    (and, with `multinode`, a multi-node job of two 16-vCPU nodes behind them)."""
    engine = Engine()
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
                "containerProperties": {"image": "busybox", "resourceRequirements": requirements}
            },
        },
        now,
    )
    names = [(f"j{i:06d}", "work") for i in range(jobs)]
    if multinode:
        big = [{"type": "VCPU", "value": "16"}, {"type": "MEMORY", "value": "512"}]
        gang = {
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {"targetNodes": "0:", "container": {"image": "x", "resourceRequirements": big}}
            ],
        }
        engine.upsert_definition(
            {
                "apiVersion": API,
                "kind": "JobDefinition",
                "metadata": _meta("mnp", "default"),
                "spec": {"type": "multinode", "nodeProperties": gang},
            },
            now,
        )
        names.append(("z-multinode", "mnp"))
    for name, definition in names:
        engine.upsert_job(
            {
                "apiVersion": API,
                "kind": "BatchJob",
                "metadata": _meta(name, "default"),
                "spec": {"jobQueue": "q", "jobDefinition": definition},
            },
            now,
        )
    engine.upsert_node(_node("n-first", 16), now)
    engine.start(now)
    start = time.process_time()
    _carry_out(engine, engine.step(now), now)  # every job RUNNABLE, 16 placed, the rest wait
    first = time.process_time() - start
    while engine.dirty or engine.touched or engine.dispatcher.behind:  # a step's budget each
        _carry_out(engine, engine.step(now), now)
    now += timedelta(seconds=1)
    _carry_out(engine, engine.step(now), now)  # their statuses written
    passes: list[float] = []
    original = engine.dispatcher.run

    def timed(at: datetime, consumables: Any = None) -> Dispatched:
        begin = time.process_time()
        result = original(at, consumables)
        passes.append(time.process_time() - begin)
        return result

    engine.dispatcher.run = timed  # type: ignore[method-assign,assignment]
    nodes = free_slots // 16
    for n in range(nodes):
        engine.upsert_node(_node(f"n{n}", 16), now)
    now += timedelta(seconds=1)
    start = time.process_time()
    effects = engine.step(now)
    placing_step = time.process_time() - start
    placed = sum(isinstance(e, CreateObject) and e.plural == "pods" for e in effects)
    _carry_out(engine, effects, now)
    now += timedelta(seconds=1)
    _carry_out(engine, engine.step(now), now)  # the pods' events
    idle = []
    for _ in range(5):
        now += timedelta(seconds=1)
        engine.dispatch_needed = True
        engine.step(now)
        idle.append(passes[-1])
    return {
        "runnable_jobs": jobs,
        "free_slots": nodes * 16,
        "first_step_cpu_ms": round(first * 1000, 1),
        "placing_pass_cpu_ms": round(passes[0] * 1000, 1),
        "placing_step_cpu_ms": round(placing_step * 1000, 1),
        "placed": placed,
        "unchanged_pass_cpu_ms": round(min(idle) * 1000, 2),
    }


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rows = []
    for items in (1_000, 10_000, 100_000):
        for label, group in (("single_jobs", 1), ("array_children_by_1000", 1000)):
            snap = snapshot(items, group)
            row: dict[str, object] = {"items": items, "shape": label}
            row["full"] = measure(snap)
            row["incremental"] = measure(incremental(snap))
            rows.append(row)
    full = {r["items"]: r["full"]["cpu_ms"] for r in rows if r["shape"] == "single_jobs"}  # type: ignore[index]
    print(
        json.dumps(
            {
                "benchmark": "scheduler_pass",
                "queues": QUEUES,
                "environments": ENVIRONMENTS,
                "nodes_per_environment": NODES,
                "passes": rows,
                "full_growth_10k_to_100k_single_jobs": round(full[100_000] / full[10_000], 2),
                "operator_pass": engine_passes(jobs),
                "operator_pass_with_a_waiting_multinode_job": engine_passes(jobs, multinode=True),
            }
        )
    )


if __name__ == "__main__":
    main()
