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

from ..api.jobqueue import QueueingStrategy
from ..api.resources import Resources
from .capacity import Demand, choose_shapes, plan_capacity
from .snapshot import (
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


class _Pool:
    """Mutable free capacity of one environment during a pass."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.ready = [n for n in env.nodes if n.ready]
        self.free = {n.name: n.free for n in self.ready}
        self.pods = {n.name: n.free_pods for n in self.ready}
        self.allocated = env.allocated_millicpu
        self.limit = env.max_vcpus * 1000
        self.refused: list[Resources] = []
        """Requests that found no node: anything at least as large fails too."""
        self.known_refused: set[Resources] = set()
        """The same, and every request already found to be dominated by one of them."""
        shapes = [s.allocatable for s in env.shapes] if env.managed else []
        self.largest = shapes + [n.allocatable for n in env.nodes]
        self.held_for: tuple[str, str] | None = None
        """A multi-node job that waited too long: the pool takes nothing else in this pass."""

    def could_ever_hold(self, r: Resources) -> bool:
        if not self.env.valid:
            return True  # its shapes are not known: it may hold the work once fixed
        if r.millicpu > self.limit:
            return False
        return any(r.fits_in(a) for a in self.largest)

    def could_hold_gang(self, gang: Sequence[Resources], distinct: bool) -> bool:
        """Whether the pool could ever run every node of a gang at once."""
        if not self.env.valid:
            return True
        if sum(r.millicpu for r in gang) > self.limit:
            return False
        if not all(any(r.fits_in(a) for a in self.largest) for r in gang):
            return False
        if distinct and not (self.env.managed and self.env.shapes):
            smallest = min(gang, key=lambda r: (r.millicpu, r.memory))
            return sum(smallest.fits_in(n.allocatable) for n in self.env.nodes) >= len(gang)
        return True

    def take_gang(
        self, gang: Sequence[Resources], distinct: bool, job: tuple[str, str]
    ) -> tuple[str, ...] | None:
        """Nodes for every request of a gang (by its order), or None and nothing taken."""
        if self.held_for not in (None, job):
            return None
        total = sum(r.millicpu for r in gang)
        if self.allocated + total > self.limit:
            return None
        free, pods = dict(self.free), dict(self.pods)
        chosen: dict[int, str] = {}
        used: set[str] = set()
        # The largest requests first: they have the fewest nodes to choose from.
        for i in sorted(range(len(gang)), key=lambda i: (-gang[i].millicpu, -gang[i].memory)):
            r = gang[i]
            best: str | None = None
            for name, room in free.items():
                if distinct and name in used:
                    continue
                if (
                    pods[name] > 0
                    and r.fits_in(room)
                    and (best is None or room.millicpu < free[best].millicpu)
                ):
                    best = name
            if best is None:
                return None
            free[best] = free[best] - r
            pods[best] -= 1
            chosen[i] = best
            used.add(best)
        self.free, self.pods = free, pods
        self.allocated += total
        return tuple(chosen[i] for i in range(len(gang)))

    def could_take(self, r: Resources) -> bool:
        """Whether take(r) would place r now (and remembers when it would not)."""
        if self.held_for is not None:
            return False
        if self.allocated + r.millicpu > self.limit or r in self.known_refused:
            return False
        for refused in self.refused:
            if refused.fits_in(r):
                self.known_refused.add(r)
                return False
        for name, free in self.free.items():
            if self.pods[name] > 0 and r.fits_in(free):
                return True
        self.refused.append(r)
        self.known_refused.add(r)
        return False

    def take(self, r: Resources) -> str | None:
        if self.held_for is not None:
            return None
        if self.allocated + r.millicpu > self.limit or r in self.known_refused:
            return None
        for refused in self.refused:
            if refused.fits_in(r):
                self.known_refused.add(r)
                return None
        best: str | None = None
        best_cpu = 0
        for name, free in self.free.items():
            if (
                self.pods[name] > 0
                and r.fits_in(free)
                and (best is None or free.millicpu < best_cpu)
            ):
                best, best_cpu = name, free.millicpu
        if best is None:
            self.refused.append(r)
            self.known_refused.add(r)
            return None
        self.free[best] = self.free[best] - r
        self.pods[best] -= 1
        self.allocated += r.millicpu
        return best


def _amount(r: Resources) -> str:
    text = f"{r.millicpu / 1000:g} vCPU, {r.memory // (1024 * 1024)} MiB"
    return text + (f", {r.gpus} GPU" if r.gpus else "")


def too_large(r: Resources, pools: Sequence[_Pool]) -> str:
    """Why a request can never be placed: what it asks, and what each environment holds."""
    held = []
    for pool in pools:
        largest = max(pool.largest, key=lambda a: (a.millicpu, a.memory), default=None)
        node = f"nodes of at most {_amount(largest)}" if largest else "no node shape"
        held.append(f"{pool.env.name}: maxvCpus {pool.env.max_vcpus}, {node}")
    return f"the job needs {_amount(r)}; " + ("; ".join(held) or "its queue has no environment")


def gang_too_large(item: WorkItem, pools: Sequence[_Pool]) -> str:
    """Why a multi-node job can never be placed."""
    gang = item.gang or ()
    largest = max(gang, key=lambda r: (r.millicpu, r.memory), default=Resources())
    held = []
    for pool in pools:
        biggest = max(pool.largest, key=lambda a: (a.millicpu, a.memory), default=None)
        node = f"nodes of at most {_amount(biggest)}" if biggest else "no node shape"
        if item.distinct and not (pool.env.managed and pool.env.shapes):
            node += f", {len(pool.env.nodes)} node(s)"
        held.append(f"{pool.env.name}: maxvCpus {pool.env.max_vcpus}, {node}")
    where = " on different nodes" if item.distinct else ""
    return (
        f"the multi-node job needs {len(gang)} nodes{where}, {_amount(item.resources)} in all, "
        f"the largest {_amount(largest)}; " + ("; ".join(held) or "its queue has no environment")
    )


def schedule(snapshot: Snapshot) -> Decisions:
    """Place what fits now, say why the rest waits, and plan capacity."""
    pools = {e.name: _Pool(e) for e in snapshot.environments}
    decisions = Decisions()
    demand: list[Demand] = []
    for queue in sorted(snapshot.queues, key=lambda q: (-q.priority, q.name)):
        walk = _Walk(queue, [pools[n] for n in queue.environments if n in pools], snapshot)
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

    def __init__(self, queue: Queue, ordered: list[_Pool], snapshot: Snapshot) -> None:
        self.queue = queue
        self.ordered = ordered
        self.usable = [p for p in ordered if p.env.usable]
        self.shown = snapshot.positions_shown
        self.snapshot = snapshot
        self.backlog = _Backlog(queue)
        self.ever: dict[Resources, bool] = {}
        self.witness: tuple[_Pool, Resources] | None = None
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
        demand = Demand(queue, [])
        position = 0
        head: WorkItem | None = None
        held = queue.allocated_millicpu
        stop: str | None = None
        for item in self.backlog:
            if item.problem is not None:
                decisions.waiting.append(
                    Waiting(item, item.count, JOB_RESOURCE_REQUIREMENT, None, item.problem)
                )
                continue
            remaining = item.count
            if item.gang is not None:
                self.judged.add(item.job)
                cannot = self._never_gang(item)
                if cannot is not None:
                    decisions.waiting.append(cannot)
                    continue
                if stop is None and head is None and self._gang(item, held, decisions):
                    held += item.resources.millicpu
                    continue
                if head is None:
                    self._reserve(item)
            elif not self.can_ever(item.resources):
                detail = too_large(item.resources, self.ordered)
                decisions.waiting.append(Waiting(item, item.count, MAX_RESOURCE, None, detail))
                continue
            elif stop is None and head is None:
                for pool in usable:
                    while remaining:
                        if (
                            queue.cap_millicpu is not None
                            and held + item.resources.millicpu > queue.cap_millicpu
                        ):
                            break
                        node = pool.take(item.resources)
                        if node is None:
                            break
                        index = None if item.index is None else item.index + item.count - remaining
                        decisions.placements.append(Placement(item.job, index, pool.env.name, node))
                        held += item.resources.millicpu
                        remaining -= 1
                    if not remaining:
                        break
            if not remaining:
                continue
            if stop is not None:
                reason = stop
            elif head is not None:
                reason = HEAD_OF_QUEUE
            elif not usable:
                invalid = any(p.env.enabled and not p.env.valid for p in self.ordered)
                reason = ENVIRONMENTS_INVALID if invalid else ENVIRONMENTS_UNAVAILABLE
            else:
                reason = INSUFFICIENT_CAPACITY
            decisions.waiting.append(Waiting(item, remaining, reason, position + 1))
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

    def _never_gang(self, item: WorkItem) -> Waiting | None:
        """Why a multi-node job can never run on the queue's environments, if it cannot."""
        assert item.gang is not None
        if any(p.could_hold_gang(item.gang, item.distinct) for p in self.ordered):
            return None
        return Waiting(item, 1, MAX_RESOURCE, None, gang_too_large(item, self.ordered))

    def _gang(self, item: WorkItem, held: int, decisions: Decisions) -> bool:
        """Place every node of a multi-node job in one environment, or none."""
        assert item.gang is not None
        cap = self.queue.cap_millicpu
        if cap is None or held + item.resources.millicpu <= cap:
            for pool in self.usable:
                nodes = pool.take_gang(item.gang, item.distinct, item.job)
                if nodes is not None:
                    decisions.placements.append(
                        Placement(item.job, None, pool.env.name, nodes[0], nodes)
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
            decisions.waiting.append(never or Waiting(item, 1, stop, None))
            if never is None and stop != HEAD_OF_QUEUE:
                self._reserve(item)

    def _tail_demand(self) -> Iterator[tuple[WorkItem, int]]:
        for item in self.backlog:
            if item.problem is not None:
                continue
            if self.can_ever(item.resources) if item.gang is None else not self._never_gang(item):
                yield item, item.count
