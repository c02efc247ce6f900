"""CPU time of one scheduling pass over 1k, 10k and 100k runnable items across 20 queues and
10 compute environments (50 nodes each), as single jobs and as array children.

Prints one JSON object. Usage: python -m bench.scheduler_pass
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

from kubatch.api import QueueingStrategy
from kubatch.api.resources import MIB, Resources
from kubatch.core.catalog import CATALOG, resolve_shapes
from kubatch.core.scheduler import Environment, Node, Queue, Snapshot, WorkItem, schedule

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
            nodes.append(Node(f"e{e}-n{n}", shape.allocatable, free, shape=shape.name, running=1))
        envs.append(
            Environment(
                f"e{e}", max_vcpus=1000, nodes=tuple(nodes), shapes=tuple(resolve_shapes(["m5"]))
            )
        )
    per_queue: list[list[WorkItem]] = [[] for _ in range(QUEUES)]
    made = 0
    while made < items:
        q = rng.randrange(QUEUES)
        count = min(group, items - made)
        per_queue[q].append(
            WorkItem(
                ("ns", f"job{made}"), 0 if group > 1 else None, f"q{q}", rng.choice(SIZES), count
            )
        )
        made += count
    queues = []
    for q in range(QUEUES):
        order = tuple(f"e{(q + k) % ENVIRONMENTS}" for k in range(3))
        strategy = QueueingStrategy.STRICT_FIFO if q % 5 == 0 else QueueingStrategy.BEST_EFFORT_FIFO
        queues.append(Queue(f"q{q}", q % 4, order, strategy, tuple(per_queue[q])))
    return Snapshot(tuple(queues), tuple(envs), datetime(2026, 1, 1, tzinfo=UTC))


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


def main() -> None:
    rows = []
    for items in (1_000, 10_000, 100_000):
        for label, group in (("single_jobs", 1), ("array_children_by_1000", 1000)):
            row: dict[str, object] = {"items": items, "shape": label}
            row.update(measure(snapshot(items, group)))
            rows.append(row)
    singles = {r["items"]: r["cpu_ms"] for r in rows if r["shape"] == "single_jobs"}
    growth = float(singles[100_000]) / float(singles[10_000])  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "benchmark": "scheduler_pass",
                "queues": QUEUES,
                "environments": ENVIRONMENTS,
                "nodes_per_environment": NODES,
                "passes": rows,
                "growth_10k_to_100k_single_jobs": round(growth, 2),
                "n_log_n_growth_10k_to_100k": round(100_000 * 16.6 / (10_000 * 13.3), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
