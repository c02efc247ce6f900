"""An environment's capacity during one pass: what each node has left, what the pool could
ever hold, and, for work that never fits, why (in AWS Batch's words)."""

from __future__ import annotations

from collections.abc import Sequence

from ...api.resources import Resources
from .snapshot import Environment, WorkItem


class NodePool:
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


def too_large(r: Resources, pools: Sequence[NodePool]) -> str:
    """Why a request can never be placed: what it asks, and what each environment holds."""
    held = []
    for pool in pools:
        largest = max(pool.largest, key=lambda a: (a.millicpu, a.memory), default=None)
        node = f"nodes of at most {_amount(largest)}" if largest else "no node shape"
        held.append(f"{pool.env.name}: maxvCpus {pool.env.max_vcpus}, {node}")
    return f"the job needs {_amount(r)}; " + ("; ".join(held) or "its queue has no environment")


def gang_too_large(item: WorkItem, pools: Sequence[NodePool]) -> str:
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
