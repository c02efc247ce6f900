"""The RUNNABLE work of every queue, kept in queue order between scheduling passes.

A queue's items sit in a sorted list in FIFO order (retried work first, then submission
order, then index) and, per share, in fair-share order (higher schedulingPriority first,
then FIFO). A change to a job replaces its items, each in O(log n), so a scheduling pass
walks a queue from its head only as far as it places work, instead of sorting the backlog.
The lists are `sortedcontainers.SortedList`s: a well-kept ordered container with
logarithmic inserts and removals, which a hand-written balanced tree would only repeat.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sortedcontainers import SortedList

from ...api.resources import Resources
from .fairshare import DEFAULT_WEIGHT
from .placement import WorkItem

JobKey = tuple[str, str]
Ordered = list[tuple[tuple[Any, ...], WorkItem]]
"""A job's items with their place in the queue (see dispatch.work_items)."""


@dataclass(kw_only=True)
class _Queue:
    fifo: SortedList = field(default_factory=SortedList)
    """(order, job, item)"""
    shares: dict[str, dict[int, SortedList]] = field(default_factory=dict)
    """share -> schedulingPriority -> (order, job, item): the very tuples of `fifo`, so a
    job's place in its share costs no memory of its own."""
    sizes: Counter[Resources] = field(default_factory=Counter)
    """Distinct requests (`WorkItem.request`) among the items that have a usable one, with
    how many children ask for each."""
    by_size: dict[Resources, set[JobKey]] = field(default_factory=dict)
    """The single requests' jobs (a multi-node job is judged by itself, not by its size)."""
    gangs: SortedList = field(default_factory=SortedList)
    """(order, job, item) of the multi-node items, in FIFO order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    queue: str
    share: str
    priority: int
    items: tuple[tuple[tuple[Any, ...], WorkItem], ...]


class RunQueues:
    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.entries: dict[JobKey, _Entry] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, key: JobKey, queue: str, share: str, priority: int, items: Ordered) -> None:
        """Set a job's RUNNABLE items (replacing what it had)."""
        self.remove(key)
        if not items:
            return
        found = self.queues.setdefault(queue, _Queue())
        per_share = found.shares.setdefault(share, {}).setdefault(priority, SortedList())
        for order, item in items:
            place = (order, key, item)
            found.fifo.add(place)
            per_share.add(place)
            if item.gang is not None:
                found.gangs.add((order, key, item))
            if item.problem is None:
                found.sizes[item.request] += item.count
                if item.gang is None:
                    found.by_size.setdefault(item.resources, set()).add(key)
        self.entries[key] = _Entry(queue=queue, share=share, priority=priority, items=tuple(items))

    def holds(self, key: JobKey, items: Ordered) -> bool:
        """Whether the job's items are these already."""
        entry = self.entries.get(key)
        return entry is not None and entry.items == tuple(items)

    def remove(self, key: JobKey) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        found = self.queues[entry.queue]
        share = found.shares[entry.share]
        per_share = share[entry.priority]
        for order, item in entry.items:
            found.fifo.remove((order, key, item))
            per_share.remove((order, key, item))
            if item.gang is not None:
                found.gangs.remove((order, key, item))
            if item.problem is None:
                found.sizes[item.request] -= item.count
                if not found.sizes[item.request]:
                    del found.sizes[item.request]
                jobs = found.by_size.get(item.resources) if item.gang is None else None
                if jobs is not None:  # a job's items may share a request: it is gone at once
                    jobs.discard(key)
                    if not jobs:
                        del found.by_size[item.resources]
        if not per_share:
            del share[entry.priority]
            if not share:
                del found.shares[entry.share]
        if not found.fifo:
            del self.queues[entry.queue]

    # -- reading -----------------------------------------------------------------------------

    def fifo(self, queue: str) -> Iterator[WorkItem]:
        found = self.queues.get(queue)
        return (item for _, _, item in found.fifo) if found else iter(())

    def fair(
        self, queue: str, usage: Mapping[str, float], weights: Mapping[str, float]
    ) -> Iterator[WorkItem]:
        """The queue's items in fair-share order, child by child: the share with the lowest
        usage next, each item counted against its share (as one second of its vCPUs) so that
        a pass interleaves shares by their weights (see core/scheduling/fairshare.py)."""
        found = self.queues.get(queue)
        if found is None:
            return
        streams = {share: _children(lists) for share, lists in found.shares.items()}
        heap = [(usage.get(share, 0.0), share) for share in streams]
        heapq.heapify(heap)
        while heap:
            current, share = heapq.heappop(heap)
            item = next(streams[share], None)
            if item is None:
                continue
            yield item
            cost = item.resources.millicpu / 1000 * weights.get(share, DEFAULT_WEIGHT)
            heapq.heappush(heap, (current + cost, share))

    def shares(self, queue: str) -> set[str]:
        found = self.queues.get(queue)
        return set(found.shares) if found else set()

    def sizes(self, queue: str) -> dict[Resources, int]:
        found = self.queues.get(queue)
        return dict(found.sizes) if found else {}

    def gangs(self, queue: str) -> list[WorkItem]:
        """The queue's multi-node items, in FIFO order."""
        found = self.queues.get(queue)
        return [item for _, _, item in found.gangs] if found else []

    def jobs_of_size(self, queue: str, resources: Resources) -> set[JobKey]:
        found = self.queues.get(queue)
        return set(found.by_size.get(resources, ())) if found else set()

    def queue_of(self, key: JobKey) -> str | None:
        entry = self.entries.get(key)
        return entry.queue if entry else None

    def items_of(self, key: JobKey) -> tuple[WorkItem, ...]:
        entry = self.entries.get(key)
        return tuple(item for _, item in entry.items) if entry else ()


def _children(lists: dict[int, SortedList]) -> Iterator[WorkItem]:
    """A share's items one child at a time (higher schedulingPriority first, then FIFO), so
    that shares interleave child by child."""
    for _, _, item in (p for priority in sorted(lists, reverse=True) for p in lists[priority]):
        if item.count == 1 or item.index is None:
            yield item
            continue
        for i in range(item.count):
            yield replace(item, index=item.index + i, count=1)
