"""dependsOn: when a job (or one array child) may run, when it fails because of another,
and dependency cycles.

Only SUCCEEDED satisfies a dependency, except Kubatch's AFTER_ANY, which any finished
outcome satisfies. A dependency that does not exist yet keeps the job waiting (objects may
be applied in any order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ...api.batchjob import DependencyType, JobDependency
from ...api.common import JobStatus


class DependencyView(Protocol):
    """What the lifecycle may know about other jobs of the same namespace."""

    def status_of(self, name: str) -> JobStatus | None:
        """The job's status; None when no such job exists."""

    def size_of(self, name: str) -> int | None:
        """The job's array size; None for a single job or a missing one."""

    def child_status_of(self, name: str, index: int) -> JobStatus | None:
        """The status of one child of an array job; None when the job is missing."""


class Verdict(Enum):
    SATISFIED = "satisfied"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    reason: str | None = None


SATISFIED = Check(Verdict.SATISFIED)


def dependent_failed(name: str) -> str:
    return f"Dependent job {name} failed"


def _outcome(label: str, status: JobStatus | None, any_outcome: bool) -> Check:
    if status is None:
        return Check(Verdict.WAITING, f"Dependency {label} does not exist yet")
    if status == JobStatus.SUCCEEDED or (any_outcome and status == JobStatus.FAILED):
        return SATISFIED
    if status == JobStatus.FAILED:
        return Check(Verdict.FAILED, dependent_failed(label))
    return Check(Verdict.WAITING, f"Waiting for dependency {label}")


def _combine(checks: Iterable[Check]) -> Check:
    """FAILED beats WAITING beats SATISFIED; the first reason of the worst kind wins."""
    waiting: Check | None = None
    for check in checks:
        if check.verdict == Verdict.FAILED:
            return check
        if check.verdict == Verdict.WAITING and waiting is None:
            waiting = check
    return waiting or SATISFIED


def check_whole_job(deps: Sequence[JobDependency], view: DependencyView) -> Check:
    """Dependencies that apply to the whole job: plain, AFTER_ANY, and "name:index"."""
    checks = []
    for dep in deps:
        if dep.type in (DependencyType.N_TO_N, DependencyType.SEQUENTIAL) or dep.job_name is None:
            continue
        any_outcome = dep.type == DependencyType.AFTER_ANY
        name, _, index_text = dep.job_name.partition(":")
        if not index_text:
            checks.append(_outcome(name, view.status_of(name), any_outcome))
            continue
        index = int(index_text)
        if view.status_of(name) is None:
            checks.append(Check(Verdict.WAITING, f"Dependency {name} does not exist yet"))
            continue
        size = view.size_of(name)
        if size is None or index >= size:
            checks.append(
                Check(Verdict.FAILED, f"Dependency {dep.job_name} names no child of job {name}")
            )
            continue
        checks.append(_outcome(dep.job_name, view.child_status_of(name, index), any_outcome))
    return _combine(checks)


def check_array_shape(deps: Sequence[JobDependency], size: int, view: DependencyView) -> Check:
    """N_TO_N dependencies must name array jobs of the same size."""
    checks = []
    for dep in deps:
        if dep.type != DependencyType.N_TO_N or dep.job_name is None:
            continue
        if view.status_of(dep.job_name) is None:
            checks.append(Check(Verdict.WAITING, f"Dependency {dep.job_name} does not exist yet"))
            continue
        other = view.size_of(dep.job_name)
        if other != size:
            shape = "is not an array job" if other is None else f"has size {other}"
            checks.append(
                Check(
                    Verdict.FAILED,
                    f"N_TO_N dependency {dep.job_name} {shape}; this job has size {size}",
                )
            )
    return _combine(checks)


def check_child(
    index: int,
    deps: Sequence[JobDependency],
    own_name: str,
    view: DependencyView,
    previous_sibling: JobStatus | None,
) -> Check:
    """Dependencies of one array child: N_TO_N (child i of the named array) and SEQUENTIAL
    (child i-1 of this array). Whole-job dependencies are checked separately."""
    checks = []
    for dep in deps:
        if dep.type == DependencyType.N_TO_N and dep.job_name is not None:
            label = f"{dep.job_name}:{index}"
            checks.append(_outcome(label, view.child_status_of(dep.job_name, index), False))
        elif dep.type == DependencyType.SEQUENTIAL and index > 0:
            checks.append(_outcome(f"{own_name}:{index - 1}", previous_sibling, False))
    return _combine(checks)


def dependency_names(deps: Sequence[JobDependency]) -> list[str]:
    """The other jobs named (SEQUENTIAL names none; "name:index" names the job)."""
    return [d.job_name.partition(":")[0] for d in deps if d.job_name is not None]


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every dependency cycle, each as a path that returns to its start ([a, b, a]).

    Strongly connected components (Tarjan, iterative) with more than one job, or a job that
    depends on itself. Edges to unknown jobs are ignored.
    """
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index_of:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in edges:
                    continue
                if succ not in index_of:
                    index_of[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index_of[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in set(edges.get(node, ())):
                    components.append(sorted(component))
    return [_cycle_path(c, edges) for c in components]


def _cycle_path(component: list[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """A shortest path from the component's first job back to itself."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(edges.get(node, ())):
            if succ not in members:
                continue
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if succ not in previous:
                previous[succ] = node
                queue.append(succ)
    return [*component, start]


def cycle_reason(cycle: Sequence[str]) -> str:
    return "Dependency cycle: " + " -> ".join(cycle)


def jobs_in_cycles(deps_by_job: Mapping[str, Sequence[JobDependency]]) -> dict[str, str]:
    """Each job that is part of a dependency cycle, with the reason it fails."""
    edges = {name: dependency_names(deps) for name, deps in deps_by_job.items()}
    found: dict[str, str] = {}
    for cycle in find_cycles(edges):
        for member in cycle:
            found[member] = cycle_reason(cycle)
    return found
