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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..api.computeenvironment import AllocationStrategy
from ..api.jobqueue import QueueingStrategy
from ..api.resources import Resources
from .catalog import PODS_PER_NODE, Shape

INSUFFICIENT_CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
MAX_RESOURCE = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
JOB_RESOURCE_REQUIREMENT = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
ENVIRONMENTS_UNAVAILABLE = "CAPACITY:COMPUTE_ENVIRONMENT_DISABLED"
ENVIRONMENTS_INVALID = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_INVALID"
HEAD_OF_QUEUE = "CAPACITY:HEAD_OF_QUEUE_BLOCKED"
NEVER_PLACEABLE = frozenset({MAX_RESOURCE, JOB_RESOURCE_REQUIREMENT})


@dataclass(frozen=True, slots=True)
class WorkItem:
    """RUNNABLE work: one job, or `count` children of an array job starting at `index`
    (consecutive children with the same needs and the same place in the queue)."""

    job: tuple[str, str]
    index: int | None
    queue: str
    resources: Resources
    count: int = 1
    problem: str | None = None
    """Why the job's request itself is unusable (missing VCPU or MEMORY)."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    allocatable: Resources
    free: Resources
    free_pods: int = PODS_PER_NODE
    shape: str | None = None
    ready: bool = True
    running: int = 0
    """Pods of Kubatch jobs on the node."""
    idle_since: datetime | None = None


@dataclass(frozen=True)
class Environment:
    name: str
    max_vcpus: int
    enabled: bool = True
    valid: bool = True
    managed: bool = True
    min_vcpus: int = 0
    shapes: tuple[Shape, ...] = ()
    strategy: AllocationStrategy = AllocationStrategy.BEST_FIT
    nodes: tuple[Node, ...] = ()
    allocated_millicpu: int = 0
    """CPU requested by Kubatch pods already running in the environment."""
    unavailable_shapes: frozenset[str] = frozenset()
    """Shapes the provider reported it cannot supply now."""
    draining: bool = False
    """Being deleted: takes no work, and gives up every idle node at once (minvCpus and
    the cool-down no longer hold)."""

    @property
    def usable(self) -> bool:
        return self.enabled and self.valid and not self.draining


@dataclass(frozen=True)
class Queue:
    name: str
    priority: int
    environments: tuple[str, ...]
    """Names, in computeEnvironmentOrder."""
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    items: tuple[WorkItem, ...] = ()
    """RUNNABLE work in queue order."""
    cap_millicpu: int | None = None
    """At most this much CPU for the queue's jobs together (fair share's reservation)."""
    allocated_millicpu: int = 0
    """CPU the queue's jobs hold now."""


@dataclass(frozen=True)
class Snapshot:
    queues: tuple[Queue, ...]
    environments: tuple[Environment, ...]
    now: datetime
    scale_in_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Placement:
    job: tuple[str, str]
    index: int | None
    environment: str
    node: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why (part of) an item is left waiting, and where it stands in its queue (1 = next)."""

    item: WorkItem
    count: int
    reason: str
    position: int | None
    detail: str | None = None
    """What the reason means for this item, in words (AWS: "CODE - message")."""


@dataclass
class CapacityPlan:
    environment: str
    desired: dict[str, int] = field(default_factory=dict)
    """Nodes wanted per shape, existing ones included."""
    desired_vcpus: int = 0
    remove: list[str] = field(default_factory=list)
    """Idle nodes to give up now."""
    reason: str = ""


@dataclass
class Decisions:
    placements: list[Placement] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    plans: dict[str, CapacityPlan] = field(default_factory=dict)


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

    def could_ever_hold(self, r: Resources) -> bool:
        if not self.env.valid:
            return True  # its shapes are not known: it may hold the work once fixed
        if r.millicpu > self.limit:
            return False
        return any(r.fits_in(a) for a in self.largest)

    def take(self, r: Resources) -> str | None:
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


def schedule(snapshot: Snapshot) -> Decisions:
    """Place what fits now, say why the rest waits, and plan capacity."""
    pools = {e.name: _Pool(e) for e in snapshot.environments}
    decisions = Decisions()
    demand: list[tuple[Queue, WorkItem, int]] = []
    ever_cache: dict[tuple[str, Resources], bool] = {}
    for queue in sorted(snapshot.queues, key=lambda q: (-q.priority, q.name)):
        ordered = [pools[n] for n in queue.environments if n in pools]
        usable = [p for p in ordered if p.env.usable]
        position = 0
        head: WorkItem | None = None
        held = queue.allocated_millicpu
        for item in queue.items:
            if item.problem is not None:
                decisions.waiting.append(
                    Waiting(item, item.count, JOB_RESOURCE_REQUIREMENT, None, item.problem)
                )
                continue
            key = (queue.name, item.resources)
            ever = ever_cache.get(key)
            if ever is None:
                ever = ever_cache[key] = any(p.could_ever_hold(item.resources) for p in ordered)
            if not ever:
                detail = too_large(item.resources, ordered)
                decisions.waiting.append(Waiting(item, item.count, MAX_RESOURCE, None, detail))
                continue
            remaining = item.count
            if head is None:
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
            if head is not None:
                reason = HEAD_OF_QUEUE
            elif not usable:
                invalid = any(p.env.enabled and not p.env.valid for p in ordered)
                reason = ENVIRONMENTS_INVALID if invalid else ENVIRONMENTS_UNAVAILABLE
            else:
                reason = INSUFFICIENT_CAPACITY
            decisions.waiting.append(Waiting(item, remaining, reason, position + 1))
            position += remaining
            demand.append((queue, item, remaining))
            if queue.strategy == QueueingStrategy.STRICT_FIFO and head is None:
                head = item
    busy = {p.node for p in decisions.placements}
    decisions.plans = plan_capacity(snapshot, demand, busy)
    return decisions


# -- capacity ----------------------------------------------------------------------------


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


@dataclass
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
    demand: Sequence[tuple[Queue, WorkItem, int]],
    busy: frozenset[str] | set[str] = frozenset(),
) -> dict[str, CapacityPlan]:
    """Nodes wanted per environment for the work left waiting (see the module's notes)."""
    plans = {e.name: _Plan(e) for e in snapshot.environments}
    for plan in plans.values():
        plan.total_vcpus = sum(_node_vcpus(n) for n in plan.env.nodes)
        plan.bins = [_Bin(n.free, n.free_pods) for n in plan.env.nodes if not n.ready]
    for queue, item, count in demand:
        remaining = count
        for name in queue.environments:
            found = plans.get(name)
            if found is None or not (found.env.usable and found.env.managed):
                continue
            plan = found
            shapes = plan.shapes_for(item.resources)
            if not shapes:
                continue
            remaining -= plan.pack(item.resources, remaining)
            while remaining and plan.total_vcpus < plan.env.max_vcpus:
                plan.grow(shapes[0])
                remaining -= plan.pack(item.resources, remaining)
            plan.demand += count - remaining
            if not remaining:
                break
    return {name: _finish(plan, snapshot, busy) for name, plan in plans.items()}


def _finish(plan: _Plan, snapshot: Snapshot, busy: frozenset[str] | set[str]) -> CapacityPlan:
    env = plan.env
    result = CapacityPlan(env.name)
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


def positions(waiting: Iterable[Waiting]) -> dict[tuple[str, str], int]:
    """The best queue position of each job among its waiting items."""
    best: dict[tuple[str, str], int] = {}
    for w in waiting:
        if w.position is not None and (w.item.job not in best or w.position < best[w.item.job]):
            best[w.item.job] = w.position
    return best
