"""A job's RUNNABLE work as the scheduler's items, with their places in the queue (one item
per runnable child, or one gang for a multi-node job), and what a pass did with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...api.common import JobStatus
from ..jobs.record import JobRecord
from ..outbox.effects import ResizePool
from ..scheduling.placement import WorkItem
from ..scheduling.runqueues import Ordered
from ..state.objects import JobKey
from .jobs import Changes


def work_items(key: JobKey, record: JobRecord) -> Ordered:
    """A job's RUNNABLE work with its place in the queue. Consecutive array children that
    were not retried share their place and become one item with a count."""
    assert record.resolved is not None
    queue, resources = record.spec.job_queue, record.resolved.resources
    problem = record.resolved.resource_problem
    consumables = record.resolved.consumables
    if record.multinode:
        return _gang_items(key, record)
    found: Ordered = []

    def item(index: int | None, count: int) -> WorkItem:
        return WorkItem(
            job=key,
            index=index,
            queue=queue,
            resources=resources,
            count=count,
            problem=problem,
            consumables=consumables,
        )

    run: list[Any] | None = None  # [first index, count, order]
    for child in record.runnable():
        groupable = record.is_array and not child.retried
        if groupable and run is not None and child.index == run[0] + run[1]:
            run[1] += 1
            continue
        if run is not None:
            found.append((run[2], item(run[0], run[1])))
            run = None
        if groupable:
            run = [child.index, 1, record.queue_key(child)]
        else:
            found.append((record.queue_key(child), item(child.index, 1)))
    if run is not None:
        found.append((run[2], item(run[0], run[1])))
    return found


def _gang_items(key: JobKey, record: JobRecord) -> Ordered:
    """A multi-node job is one item, once all its nodes are RUNNABLE (they move together)."""
    resolved = record.resolved
    assert resolved is not None
    if any(c.status != JobStatus.RUNNABLE for c in record.children):
        return []
    main = record.children[record.main_node]
    item = WorkItem(
        job=key,
        index=None,
        queue=record.spec.job_queue,
        resources=resolved.gang_total,
        count=1,
        problem=resolved.resource_problem,
        gang=resolved.gang,
        distinct=resolved.distinct_nodes,
        since=main.runnable_since,
        consumables=resolved.consumables,
    )
    return [(record.queue_key(main), item)]


@dataclass(kw_only=True)
class Dispatched:
    """What a pass did."""

    changes: Changes = field(default_factory=Changes)
    placements: list[tuple[JobKey, int | None, str, str | None]] = field(default_factory=list)
    """(job, index, environment, node) placed: the engine creates their pods."""
    resizes: list[ResizePool] = field(default_factory=list)
    waits: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds from RUNNABLE to placed)"""
    cancellations: list[tuple[JobKey, str]] = field(default_factory=list)
    """Jobs a queue's jobStateTimeLimitActions cancel, with the reason."""
    relabeled: set[JobKey] = field(default_factory=set)
    """Jobs whose blocker or position alone changed: their RUNNABLE items did not."""
    tails_changed: set[str] = field(default_factory=set)
    """Queues whose tail waits for another reason than in the last pass."""
