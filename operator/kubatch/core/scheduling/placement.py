"""One scheduling pass: a snapshot in, decisions out. No I/O, no clock (now is given).

Placement rules:
- Queues are served by priority (higher first); within a queue, items come in the order the
  caller gives (submission order, retried work first: see JobRecord.queue_key).
- An item is tried on its queue's compute environments in order; only ENABLED and VALID
  environments take work, only on a Ready node that can hold its whole request now, and
  never past the environment's maxvCpus.
- An item that can never be placed (MISCONFIGURATION) never blocks anyone. In a STRICT_FIFO
  queue an item that merely has to wait for capacity blocks every item behind it; in a
  BEST_EFFORT_FIFO queue later items that fit may pass it.

Capacity planning (per environment: nodes wanted per shape, idle nodes to give up):
- Work that could not be placed becomes demand on the first environment of its queue that
  is ENABLED, VALID, MANAGED and has a shape that can hold it; it is packed first onto nodes
  that are still starting, then onto new nodes chosen by the allocation strategy. An
  environment grows only while its capacity is below maxvCpus, so it overshoots by at most
  one node; it never shrinks below minvCpus (DISABLED ones included) and gives up only
  nodes that ran nothing for the cool-down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from ...api.jobqueue import QueueingStrategy
from ...api.resources import Resources
from .capacity import Demand, choose_shapes, plan_capacity
from .consumables import Consumables
from .pools import NodePool, gang_too_large, too_large
from .snapshot import (
    CONSUMABLE_RESOURCE_QUANTITY,
    CONSUMABLE_RESOURCE_UNAVAILABLE,
    ENVIRONMENTS_INVALID,
    ENVIRONMENTS_UNAVAILABLE,
    HEAD_OF_QUEUE,
    INSUFFICIENT_CAPACITY,
    JOB_RESOURCE_REQUIREMENT,
    MAX_RESOURCE,
    NEVER_PLACEABLE,
    CapacityPlan,
    Decisions,
    Environment,
    Node,
    Placement,
    Queue,
    Snapshot,
    Tail,
    Waiting,
    WorkItem,
)

__all__ = [
    "CONSUMABLE_RESOURCE_QUANTITY",
    "CONSUMABLE_RESOURCE_UNAVAILABLE",
    "ENVIRONMENTS_INVALID",
    "ENVIRONMENTS_UNAVAILABLE",
    "HEAD_OF_QUEUE",
    "INSUFFICIENT_CAPACITY",
    "JOB_RESOURCE_REQUIREMENT",
    "MAX_RESOURCE",
    "NEVER_PLACEABLE",
    "CapacityPlan",
    "Decisions",
    "Environment",
    "Node",
    "Placement",
    "Queue",
    "Snapshot",
    "Tail",
    "Waiting",
    "WorkItem",
    "choose_shapes",
    "plan_capacity",
    "schedule",
]


# -- placement -------------------------------------------------------------------------


def schedule(snapshot: Snapshot) -> Decisions:
    """Place what fits now, say why the rest waits, and plan capacity."""
    pools = {e.name: NodePool(e) for e in snapshot.environments}
    decisions = Decisions()
    demand: list[Demand] = []
    left = {name: units for name, (units, _) in snapshot.consumables.items()}
    for queue in sorted(snapshot.queues, key=lambda q: (-q.priority, q.name)):
        ordered = [pools[n] for n in queue.environments if n in pools]
        walk = _Walk(queue, ordered, snapshot, Consumables(left, snapshot.consumables))
        demand.append(walk.run(decisions))
    busy = {p.node for p in decisions.placements}
    decisions.plans = plan_capacity(snapshot, demand, busy)
    return decisions


class _Backlog:
    """A queue's items, read once from the head, counting the children of each request
    still ahead (when the queue says how many there are, and which items are gangs)."""

    def __init__(self, queue: Queue) -> None:
        self.items = iter(queue.items)
        sizes, gangs = queue.sizes, queue.gangs
        if isinstance(queue.items, Sequence):
            if sizes is None:
                counted: Counter[Resources] = Counter()
                for i in queue.items:
                    if i.problem is None:
                        counted[i.request] += i.count
                sizes = counted
            if gangs is None:
                gangs = [i for i in queue.items if i.gang is not None]
        known = sizes is not None and gangs is not None
        self.left: dict[Resources, int] | None = dict(sizes or {}) if known else None
        self.sizes: frozenset[Resources] = frozenset(sizes or ())
        """Every request in the queue."""
        self.gangs: Sequence[WorkItem] = gangs or ()

    def __iter__(self) -> Iterator[WorkItem]:
        return self

    def __next__(self) -> WorkItem:
        item = next(self.items)
        if self.left is not None and item.problem is None:
            r = item.request
            n = self.left.get(r, 0) - item.count
            if n > 0:
                self.left[r] = n
            else:
                self.left.pop(r, None)
        return item


class _Walk:
    """One queue's items from its head: placed while they fit, then left waiting. With
    `snapshot.positions_shown` set, the walk stops once nothing more can be placed (capacity
    gone, or a STRICT_FIFO head blocked) and the first `positions_shown` waiting places are
    numbered; what is behind them is the queue's tail (see Tail), read again only to plan
    capacity, and only as far as capacity can still grow."""

    def __init__(
        self,
        queue: Queue,
        ordered: list[NodePool],
        snapshot: Snapshot,
        consumables: Consumables,
    ) -> None:
        self.queue = queue
        self.consumables = consumables
        self.ordered = ordered
        self.usable = [p for p in ordered if p.env.usable]
        self.shown = snapshot.positions_shown
        self.snapshot = snapshot
        self.backlog = _Backlog(queue)
        self.ever: dict[Resources, bool] = {}
        self.witness: tuple[NodePool, Resources] | None = None
        """A pool and a request it could still take: while it can, capacity is not gone."""
        self.judged: set[tuple[str, str]] = set()
        """The multi-node jobs the walk has judged."""

    def can_ever(self, r: Resources) -> bool:
        found = self.ever.get(r)
        if found is None:
            found = self.ever[r] = any(p.could_ever_hold(r) for p in self.ordered)
        return found

    def exhausted(self, held: int) -> bool:
        """Whether no item still ahead in the queue can be placed in this pass."""
        left = self.backlog.left
        if left is None:
            return False
        ahead = [r for r in left if self.can_ever(r)]
        cap = self.queue.cap_millicpu
        if cap is not None and all(held + r.millicpu > cap for r in ahead):
            return True
        if self.witness is not None:
            pool, r = self.witness
            if r in left and pool.could_take(r):
                return False
        for r in ahead:
            for pool in self.usable:
                if pool.could_take(r):
                    self.witness = (pool, r)
                    return False
        return True

    def run(self, decisions: Decisions) -> Demand:
        """Place and classify; returns the queue's demand."""
        queue, usable = self.queue, self.usable
        demand = Demand(queue=queue, visited=[])
        position = 0
        head: WorkItem | None = None
        held = queue.allocated_millicpu
        stop: str | None = None
        for item in self.backlog:
            if item.problem is not None:
                decisions.waiting.append(
                    Waiting(
                        item=item,
                        count=item.count,
                        reason=JOB_RESOURCE_REQUIREMENT,
                        position=None,
                        detail=item.problem,
                    )
                )
                continue
            remaining = item.count
            unmet = self.consumables.never(item) if item.consumables else None
            if unmet is not None:
                decisions.waiting.append(
                    Waiting(
                        item=item,
                        count=item.count,
                        reason=CONSUMABLE_RESOURCE_QUANTITY,
                        position=None,
                        detail=unmet,
                    )
                )
                continue
            allowed = self.consumables.allowance(item) if item.consumables else item.count
            short = False
            if item.gang is not None:
                self.judged.add(item.job)
                cannot = self._never_gang(item)
                if cannot is not None:
                    decisions.waiting.append(cannot)
                    continue
                short = not allowed
                free = stop is None and head is None and not short
                if free and self._gang(item, held, decisions):
                    self.consumables.take(item, 1)
                    held += item.resources.millicpu
                    continue
                if head is None:
                    self._reserve(item)
            elif not self.can_ever(item.resources):
                decisions.waiting.append(
                    Waiting(
                        item=item,
                        count=item.count,
                        reason=MAX_RESOURCE,
                        position=None,
                        detail=too_large(item.resources, self.ordered),
                    )
                )
                continue
            elif stop is None and head is None:
                placed = self._place(item, held, decisions, allowed)
                self.consumables.take(item, placed)
                held += placed * item.resources.millicpu
                remaining -= placed
                short = placed == allowed < item.count
            if not remaining:
                continue
            detail = None
            if stop is not None or head is not None:
                reason = stop or HEAD_OF_QUEUE
            elif short:
                reason, detail = CONSUMABLE_RESOURCE_UNAVAILABLE, self.consumables.short(item)
            else:
                reason = self._why_not_placed()
            decisions.waiting.append(
                Waiting(
                    item=item,
                    count=remaining,
                    reason=reason,
                    position=position + 1,
                    detail=detail,
                )
            )
            position += remaining
            demand.visited.append((item, remaining))
            if queue.strategy == QueueingStrategy.STRICT_FIFO and head is None:
                head = item
            if self.shown is None:
                continue
            if stop is None:
                if head is not None:
                    stop = HEAD_OF_QUEUE
                elif not usable:
                    stop = reason
                elif self.exhausted(held):
                    stop = INSUFFICIENT_CAPACITY
            if stop is not None and position >= self.shown:
                sizes = self.backlog.sizes | self.ever.keys()
                never = {r: too_large(r, self.ordered) for r in sizes if not self.can_ever(r)}
                decisions.tails[queue.name] = Tail(stop, position, never)
                self._judge_gangs_behind(stop, decisions)
                demand.tail = self._tail_demand()
                demand.left = self.backlog.left
                break
        return demand

    def _place(self, item: WorkItem, held: int, decisions: Decisions, most: int) -> int:
        """Place as many of the item's jobs as fit (at most `most`), on the usable pools in
        order, within the queue's CPU cap; returns how many were placed."""
        cap = self.queue.cap_millicpu
        placed = 0
        for pool in self.usable:
            while placed < most:
                if cap is not None and held + item.resources.millicpu > cap:
                    return placed
                node = pool.take(item.resources)
                if node is None:
                    break
                index = None if item.index is None else item.index + placed
                decisions.placements.append(
                    Placement(job=item.job, index=index, environment=pool.env.name, node=node)
                )
                held += item.resources.millicpu
                placed += 1
            if placed == most:
                break
        return placed

    def _why_not_placed(self) -> str:
        """Why work that is not behind a head or a stop waits."""
        if not self.usable:
            invalid = any(p.env.enabled and not p.env.valid for p in self.ordered)
            return ENVIRONMENTS_INVALID if invalid else ENVIRONMENTS_UNAVAILABLE
        return INSUFFICIENT_CAPACITY

    def _never_gang(self, item: WorkItem) -> Waiting | None:
        """Why a multi-node job can never run on the queue's environments, if it cannot."""
        assert item.gang is not None
        if any(p.could_hold_gang(item.gang, item.distinct) for p in self.ordered):
            return None
        return Waiting(
            item=item,
            count=1,
            reason=MAX_RESOURCE,
            position=None,
            detail=gang_too_large(item, self.ordered),
        )

    def _gang(self, item: WorkItem, held: int, decisions: Decisions) -> bool:
        """Place every node of a multi-node job in one environment, or none."""
        assert item.gang is not None
        cap = self.queue.cap_millicpu
        if cap is None or held + item.resources.millicpu <= cap:
            for pool in self.usable:
                nodes = pool.take_gang(item.gang, item.distinct, item.job)
                if nodes is not None:
                    decisions.placements.append(
                        Placement(
                            job=item.job,
                            index=None,
                            environment=pool.env.name,
                            node=nodes[0],
                            nodes=nodes,
                        )
                    )
                    return True
        return False

    def _reserve(self, item: WorkItem) -> None:
        """A multi-node job that waited past the reservation time has the environments it
        could run on held for it (nothing else is placed there in this pass)."""
        assert item.gang is not None
        after = self.snapshot.gang_reservation
        if after is not None and item.since is not None and self.snapshot.now - item.since >= after:
            for pool in self.usable:
                if pool.held_for is None and pool.could_hold_gang(item.gang, item.distinct):
                    pool.held_for = item.job

    def _judge_gangs_behind(self, stop: str, decisions: Decisions) -> None:
        """The multi-node jobs behind a walk's stop, as a walk of every item would judge
        them: none can be placed (no request ahead fits), each waits for the stop's reason
        or can never run, and the ones that waited too long hold their environments, in
        queue order, unless a STRICT_FIFO head blocks the queue."""
        for item in self.backlog.gangs:
            if item.job in self.judged or item.problem is not None:
                continue
            never = self._never_gang(item)
            decisions.waiting.append(
                never or Waiting(item=item, count=1, reason=stop, position=None)
            )
            if never is None and stop != HEAD_OF_QUEUE:
                self._reserve(item)

    def _tail_demand(self) -> Iterator[tuple[WorkItem, int]]:
        for item in self.backlog:
            if item.problem is not None:
                continue
            if self.can_ever(item.resources) if item.gang is None else not self._never_gang(item):
                yield item, item.count
