"""Capacity planning for a scheduling pass: the nodes each environment wants for the work
left waiting, and the idle nodes it gives up (the rules are in placement.py's notes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ...api.computeenvironment import AllocationStrategy
from ...api.resources import Resources
from .catalog import PODS_PER_NODE, Shape
from .snapshot import CapacityPlan, Environment, Node, Queue, Snapshot, WorkItem


@dataclass(kw_only=True)
class Demand:
    """A queue's work left waiting: what its walk visited, then (lazily) its tail."""

    queue: Queue
    visited: list[tuple[WorkItem, int]]
    tail: Iterator[tuple[WorkItem, int]] | None = None
    left: dict[Resources, int] | None = None
    """The tail's requests still unread, with their counts."""


@dataclass
class _Bin:
    free: Resources
    pods: int


def choose_shapes(env: Environment, r: Resources) -> list[Shape]:
    """The shapes a new node for request `r` may have, best first, by allocationStrategy:
    BEST_FIT: only the cheapest shape that fits (if it is unavailable, wait for it);
    BEST_FIT_PROGRESSIVE: every fitting shape by price, skipping unavailable ones;
    SPOT_CAPACITY_OPTIMIZED: deepest spot pool first, then price;
    SPOT_PRICE_CAPACITY_OPTIMIZED: lowest price per unit of pool depth first."""
    fitting = [s for s in env.shapes if r.fits_in(s.allocatable)]
    strategy = env.strategy
    if strategy == AllocationStrategy.BEST_FIT:
        cheapest = fitting[:1]
        return [s for s in cheapest if s.name not in env.unavailable_shapes]
    available = [s for s in fitting if s.name not in env.unavailable_shapes]
    if strategy == AllocationStrategy.SPOT_CAPACITY_OPTIMIZED:
        return sorted(available, key=lambda s: (-s.spot_depth, s.price, s.name))
    if strategy == AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED:
        return sorted(available, key=lambda s: (s.price / s.spot_depth, s.name))
    return available


@dataclass(kw_only=True)
class _Plan:
    env: Environment
    total_vcpus: int = 0
    new: dict[str, int] = field(default_factory=dict)
    bins: list[_Bin] = field(default_factory=list)
    demand: int = 0
    cursor: dict[Resources, int] = field(default_factory=dict)
    """Per request size, the first bin that may still hold it (bins only ever fill up)."""
    shapes: dict[Resources, list[Shape]] = field(default_factory=dict)

    def shapes_for(self, r: Resources) -> list[Shape]:
        found = self.shapes.get(r)
        if found is None:
            found = self.shapes[r] = choose_shapes(self.env, r)
        return found

    def pack(self, r: Resources, count: int) -> int:
        """Put up to `count` requests into starting or planned nodes; returns how many."""
        placed = 0
        i = self.cursor.get(r, 0)
        bins = self.bins
        while placed < count and i < len(bins):
            b = bins[i]
            if b.pods > 0 and r.fits_in(b.free):
                b.free = b.free - r
                b.pods -= 1
                placed += 1
            else:
                i += 1
        self.cursor[r] = i
        return placed

    def grow(self, shape: Shape) -> None:
        self.new[shape.name] = self.new.get(shape.name, 0) + 1
        self.total_vcpus += shape.vcpus
        self.bins.append(_Bin(shape.allocatable, PODS_PER_NODE))


def _node_vcpus(node: Node) -> int:
    return node.allocatable.millicpu // 1000


def plan_capacity(
    snapshot: Snapshot,
    demand: Sequence[Demand],
    busy: frozenset[str] | set[str] = frozenset(),
) -> dict[str, CapacityPlan]:
    """Nodes wanted per environment for the work left waiting (see the module's notes).
    A queue's demand is read only while one of its environments can still take some of
    it: once every environment is at maxvCpus with its starting nodes full for every
    request of the queue, the rest would change nothing."""
    plans = {e.name: _Plan(env=e) for e in snapshot.environments}
    for plan in plans.values():
        plan.total_vcpus = sum(_node_vcpus(n) for n in plan.env.nodes)
        plan.bins = [_Bin(n.free, n.free_pods) for n in plan.env.nodes if not n.ready]
    for queue_demand in demand:
        found = [plans.get(name) for name in queue_demand.queue.environments]
        candidates = [p for p in found if p is not None and p.env.usable and p.env.managed]
        if not candidates:
            continue
        for item, count in queue_demand.visited:
            _demand(candidates, item, count)
        if queue_demand.tail is None:
            continue
        left = queue_demand.left
        for item, count in queue_demand.tail:
            if not _demand(candidates, item, count) and _saturated(candidates, left):
                break
    return {name: _finish(plan, snapshot, busy) for name, plan in plans.items()}


def _gang_demand(candidates: list[_Plan], gang: tuple[Resources, ...], distinct: bool) -> bool:
    """Room for every node of a multi-node job in the first environment that has it: on
    starting or planned nodes (a different one for each node when `distinct`), growing the
    pool while it is below maxvCpus. All or nothing, as the gang is placed: a gang that
    cannot have all its nodes anywhere takes no room and asks for no node."""
    for plan in candidates:
        if not all(plan.shapes_for(r) for r in gang):
            continue
        free = [(b.free, b.pods) for b in plan.bins]
        grown: list[Shape] = []
        vcpus = plan.total_vcpus
        used: set[int] = set()
        for r in sorted(gang, key=lambda r: (-r.millicpu, -r.memory)):
            spot = next(
                (
                    i
                    for i, (room, pods) in enumerate(free)
                    if not (distinct and i in used) and pods > 0 and r.fits_in(room)
                ),
                None,
            )
            if spot is None and vcpus < plan.env.max_vcpus:
                shape = plan.shapes_for(r)[0]
                grown.append(shape)
                vcpus += shape.vcpus
                spot = len(free)
                free.append((shape.allocatable, PODS_PER_NODE))
            if spot is None:
                break
            room, pods = free[spot]
            free[spot] = (room - r, pods - 1)
            used.add(spot)
        else:
            for shape in grown:
                plan.grow(shape)
            for b, (room, pods) in zip(plan.bins, free, strict=True):
                b.free, b.pods = room, pods
            plan.demand += 1
            return True
    return False


def _demand(candidates: list[_Plan], item: WorkItem, count: int) -> bool:
    """Pack `count` of the item's request into the first plans that take it; whether all
    of it found room."""
    if item.gang is not None:
        return _gang_demand(candidates, item.gang, item.distinct)
    remaining = count
    for plan in candidates:
        shapes = plan.shapes_for(item.resources)
        if not shapes:
            continue
        remaining -= plan.pack(item.resources, remaining)
        while remaining and plan.total_vcpus < plan.env.max_vcpus:
            plan.grow(shapes[0])
            remaining -= plan.pack(item.resources, remaining)
        plan.demand += count - remaining
        if not remaining:
            return True
    return False


def _saturated(candidates: list[_Plan], sizes: Mapping[Resources, int] | None) -> bool:
    """Whether no request still ahead in the queue can be packed or grown for any more."""
    if sizes is None:
        return False
    return all(
        not plan.shapes_for(r)
        or (plan.total_vcpus >= plan.env.max_vcpus and plan.cursor.get(r, 0) >= len(plan.bins))
        for plan in candidates
        for r in sizes
    )


def _finish(plan: _Plan, snapshot: Snapshot, busy: frozenset[str] | set[str]) -> CapacityPlan:
    env = plan.env
    result = CapacityPlan(environment=env.name)
    reasons = []
    if plan.new:
        reasons.append(f"{plan.demand} waiting job(s) need capacity")
    if env.managed and not env.draining and plan.total_vcpus < env.min_vcpus:
        cheapest = next((s for s in env.shapes if s.name not in env.unavailable_shapes), None)
        while cheapest is not None and plan.total_vcpus < env.min_vcpus:
            plan.grow(cheapest)
        reasons.append(f"minvCpus is {env.min_vcpus}")
    if env.managed and not plan.demand:
        cutoff = snapshot.now - (timedelta() if env.draining else snapshot.scale_in_after)
        floor = 0 if env.draining else env.min_vcpus
        idle = [
            n
            for n in env.nodes
            if n.ready
            and n.running == 0
            and n.name not in busy
            and n.idle_since is not None
            and n.idle_since <= cutoff
        ]
        for node in sorted(idle, key=lambda n: (-_node_vcpus(n), n.name)):
            if plan.total_vcpus - _node_vcpus(node) >= floor:
                result.remove.append(node.name)
                plan.total_vcpus -= _node_vcpus(node)
        if result.remove and env.draining:
            reasons.append(
                f"{len(result.remove)} idle node(s) given up: the environment is deleted"
            )
        elif result.remove:
            reasons.append(f"{len(result.remove)} node(s) idle for {snapshot.scale_in_after}")
    removed = set(result.remove)
    for node in env.nodes:
        if node.name not in removed and node.shape is not None:
            result.desired[node.shape] = result.desired.get(node.shape, 0) + 1
    for shape, count in plan.new.items():
        result.desired[shape] = result.desired.get(shape, 0) + count
    result.desired_vcpus = plan.total_vcpus
    result.reason = "; ".join(reasons)
    return result
