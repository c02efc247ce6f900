"""Invariants of any scheduling pass (hypothesis): nothing is over-committed, a higher
priority item that fits is never left waiting while a lower priority one takes its room, and
a pass that stops a queue's walk early decides exactly what a walk of every item decides."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kubatch.api import QueueingStrategy
from kubatch.api.resources import MIB, Resources
from kubatch.core.scheduling.catalog import CATALOG
from kubatch.core.scheduling.placement import (
    INSUFFICIENT_CAPACITY,
    JOB_RESOURCE_REQUIREMENT,
    MAX_RESOURCE,
    Decisions,
    Environment,
    Node,
    Queue,
    Snapshot,
    WorkItem,
    schedule,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GIB = 1024 * MIB

resources = st.builds(
    Resources,
    st.integers(1, 16).map(lambda n: n * 500),
    st.integers(1, 32).map(lambda n: n * GIB // 2),
    st.just(0),
)


ready = st.sampled_from([True, True, True, False])


@st.composite
def snapshots(draw: st.DrawFn, gangs: bool = False) -> Snapshot:
    env_names = [f"e{i}" for i in range(draw(st.integers(1, 3)))]
    envs = []
    for name in env_names:
        nodes = tuple(
            Node(
                name=f"{name}-n{j}",
                allocatable=r,
                free=r,
                free_pods=draw(st.integers(0, 4)),
                ready=draw(ready),
            )
            for j, r in enumerate(draw(st.lists(resources, max_size=4)))
        )
        envs.append(
            Environment(
                name=name,
                max_vcpus=draw(st.integers(1, 24)),
                enabled=draw(st.booleans()),
                nodes=nodes,
                shapes=(CATALOG["m5.2xlarge"],),
                allocated_millicpu=draw(st.integers(0, 4)) * 1000,
            )
        )
    queues = []
    sizes = st.tuples(resources, st.sampled_from([1, 1, 1, 2, 5]))
    problem = draw(st.integers(-1, 12))
    for q in range(draw(st.integers(1, 3))):
        order = tuple(draw(st.permutations(env_names))[: draw(st.integers(1, len(env_names)))])
        items = tuple(
            WorkItem(
                job=("ns", f"q{q}-j{k}"),
                index=None if count == 1 else 0,
                queue=f"q{q}",
                resources=r,
                count=count,
                problem="no MEMORY requirement" if k == problem else None,
            )
            for k, (r, count) in enumerate(draw(st.lists(sizes, max_size=12)))
        )
        if gangs:  # multi-node jobs among them, some waiting past the reservation time
            for k in range(draw(st.integers(0, 3))):
                gang = tuple(draw(st.lists(resources, min_size=2, max_size=3)))
                item = WorkItem(
                    job=("ns", f"q{q}-g{k}"),
                    index=None,
                    queue=f"q{q}",
                    resources=sum(gang, Resources()),
                    gang=gang,
                    distinct=draw(st.booleans()),
                    since=NOW - timedelta(minutes=draw(st.sampled_from([0, 30]))),
                )
                at = draw(st.integers(0, len(items)))
                items = (*items[:at], item, *items[at:])
        strategy = draw(st.sampled_from(list(QueueingStrategy)))
        queues.append(
            Queue(
                name=f"q{q}",
                priority=draw(st.integers(0, 5)),
                environments=order,
                strategy=strategy,
                items=items,
            )
        )
    return Snapshot(queues=tuple(queues), environments=tuple(envs), now=NOW)


@settings(max_examples=300, deadline=None)
@given(snapshots(gangs=True))
def test_nothing_is_over_committed(snapshot: Snapshot) -> None:
    decisions = schedule(snapshot)
    items = {i.job: i for q in snapshot.queues for i in q.items}
    used: dict[str, Resources] = defaultdict(Resources)
    pods: dict[str, int] = defaultdict(int)
    per_env: dict[str, int] = defaultdict(int)
    for p in decisions.placements:
        item = items[p.job]
        taken = zip(p.nodes, item.gang, strict=True) if item.gang else [(p.node, item.resources)]
        for name, r in taken:
            used[name] = used[name] + r
            pods[name] += 1
        per_env[p.environment] += item.resources.millicpu
    for env in snapshot.environments:
        assert env.allocated_millicpu + per_env[env.name] <= max(
            env.max_vcpus * 1000, env.allocated_millicpu
        )
        if not env.enabled:
            assert per_env[env.name] == 0
        for node in env.nodes:
            assert used[node.name].fits_in(node.free)
            assert pods[node.name] <= node.free_pods


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_higher_priority_work_that_fits_is_never_passed_over(snapshot: Snapshot) -> None:
    decisions = schedule(snapshot)
    items = {i.job: i for q in snapshot.queues for i in q.items}
    queues = {q.name: q for q in snapshot.queues}
    envs = {e.name: e for e in snapshot.environments}
    free = {n.name: n.free for e in snapshot.environments for n in e.nodes}
    slots = {n.name: n.free_pods for e in snapshot.environments for n in e.nodes}
    allocated = {e.name: e.allocated_millicpu for e in snapshot.environments}
    for p in decisions.placements:
        r = items[p.job].resources
        free[p.node] = free[p.node] - r
        slots[p.node] -= 1
        allocated[p.environment] += r.millicpu
    for waiting in decisions.waiting:
        if waiting.reason != INSUFFICIENT_CAPACITY:
            continue
        high = queues[waiting.item.queue]
        need = waiting.item.resources
        for p in decisions.placements:
            low = queues[items[p.job].queue]
            if low.priority >= high.priority or p.environment not in high.environments:
                continue
            env = envs[p.environment]
            if not env.enabled:
                continue
            taken = items[p.job].resources
            room = free[p.node] + taken
            within_max = (
                allocated[env.name] - taken.millicpu + need.millicpu <= env.max_vcpus * 1000
            )
            assert not (need.fits_in(room) and within_max), (
                f"{waiting.item.job} (priority {high.priority}) waits while {p.job} "
                f"(priority {low.priority}) took room it fits in"
            )


Verdict = tuple[str, str | None, int, int | None]
"""reason, detail, count, position (when shown)"""


def _verdicts(
    decisions: Decisions, shown: int | None
) -> dict[tuple[tuple[str, str], int | None], Verdict]:
    return {
        (w.item.job, w.item.index): (
            w.reason,
            w.detail,
            w.count,
            w.position if shown is None or (w.position or 0) <= shown else None,
        )
        for w in decisions.waiting
    }


@settings(max_examples=500, deadline=None)
@given(snapshots(gangs=True), st.integers(1, 6), st.booleans())
def test_a_pass_that_stops_early_decides_as_a_walk_of_every_item(
    snapshot: Snapshot, shown: int, streamed: bool
) -> None:
    full = schedule(snapshot)
    quick_snapshot = replace(snapshot, positions_shown=shown)
    if streamed:  # as the dispatcher gives them: an iterator, the requests counted and the
        queues = []  # multi-node jobs listed
        for q in snapshot.queues:
            items = tuple(q.items)
            counted: Counter[Resources] = Counter()
            for i in items:
                if i.problem is None:
                    counted[i.request] += i.count
            gangs = [i for i in items if i.gang is not None]
            queues.append(replace(q, items=iter(items), sizes=counted, gangs=gangs))
        quick_snapshot = replace(quick_snapshot, queues=tuple(queues))
    quick = schedule(quick_snapshot)
    assert quick.placements == full.placements
    assert quick.plans == full.plans
    visited = _verdicts(quick, shown)
    for (job, index), (reason, detail, count, position) in _verdicts(full, shown).items():
        found = visited.get((job, index))
        if found is not None:
            assert found == (reason, detail, count, position)
            continue
        item = next(i for q in snapshot.queues for i in q.items if (i.job, i.index) == (job, index))
        tail = quick.tails[item.queue]
        expected = (
            JOB_RESOURCE_REQUIREMENT
            if item.problem
            else MAX_RESOURCE
            if item.request in tail.never
            else tail.reason
        )
        assert item.gang is None, f"{job} is multi-node: the pass judges it wherever it is"
        assert (reason, position) == (expected, None), (job, index)
        if reason == MAX_RESOURCE:
            assert detail == tail.never[item.request]
