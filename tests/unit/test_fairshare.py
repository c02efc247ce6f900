"""Fair share: weights, decay, reservation, order within a share, and convergence of shares
to their weights over many scheduling passes."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kubatch.api.resources import MIB, Resources
from kubatch.api.schedulingpolicy import FairsharePolicy
from kubatch.core.scheduling.fairshare import decayed, reservation_cap, weight_for
from kubatch.core.scheduling.placement import Environment, Node, Queue, Snapshot, WorkItem, schedule
from kubatch.core.scheduling.runqueues import RunQueues

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def policy(*shares: tuple[str, float], decay: int = 0, reservation: int = 0) -> FairsharePolicy:
    return FairsharePolicy.model_validate(
        {
            "shareDecaySeconds": decay,
            "computeReservation": reservation,
            "shareDistribution": [{"shareIdentifier": s, "weightFactor": w} for s, w in shares],
        }
    )


@pytest.mark.parametrize(
    ("share", "expected"),
    [("research", 0.5), ("prod_eu", 2.0), ("prod_us_east", 4.0), ("other", 1.0), ("prod", 2.0)],
    ids=["exact", "prefix", "longest_prefix_wins", "default_weight_is_1", "prefix_matches_itself"],
)
def test_weights(share: str, expected: float) -> None:
    p = policy(("research", 0.5), ("prod*", 2.0), ("prod_us*", 4.0))
    assert weight_for(share, p) == expected


def test_without_decay_only_current_usage_counts() -> None:
    assert decayed(1000.0, 4, 0.5, 60, 0) == 2.0


def test_decay_forgets_past_usage_exponentially() -> None:
    half_life_ish = decayed(100.0, 0, 1.0, 3600, 3600)
    assert half_life_ish == pytest.approx(100 / 2.718281828, rel=1e-6)
    assert decayed(0.0, 2, 0.5, 10, 3600) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("reservation", "active", "usable"),
    [(0, 3, 1.0), (50, 1, 0.5), (50, 2, 0.75), (50, 3, 0.875), (99, 1, 0.01), (50, 0, 1.0)],
)
def test_compute_reservation_keeps_room_for_shares_not_yet_active(
    reservation: int, active: int, usable: float
) -> None:
    assert reservation_cap(100_000, reservation, active) == pytest.approx(100_000 * usable, abs=1)


def run_queue(*jobs: tuple[str, str, int, int], count: int = 1) -> RunQueues:
    """A queue "q" of 1-vCPU jobs given as (name, share, schedulingPriority, order)."""
    runq = RunQueues()
    for name, share, priority, order in jobs:
        index = None if count == 1 else 0
        item = WorkItem(
            job=("ns", name), index=index, queue="q", resources=Resources(1000, MIB), count=count
        )
        runq.put(("ns", name), "q", share, priority, [((order,), item)])
    return runq


def test_the_share_with_the_lowest_usage_goes_first() -> None:
    runq = run_queue(("a1", "a", 0, 1), ("b1", "b", 0, 2))
    fair = runq.fair("q", {"a": 10.0, "b": 1.0}, {"a": 1.0, "b": 1.0})
    assert [i.job[1] for i in fair] == ["b1", "a1"]


def test_within_a_share_higher_priority_then_submission_order() -> None:
    runq = run_queue(("first", "a", 0, 1), ("second", "a", 5, 2), ("third", "a", 5, 3))
    assert [i.job[1] for i in runq.fair("q", {}, {"a": 1.0})] == ["second", "third", "first"]


def test_one_pass_interleaves_shares_by_weight() -> None:
    jobs = [(f"light{i}", "light", 0, i) for i in range(30)]
    jobs += [(f"heavy{i}", "heavy", 0, 100 + i) for i in range(30)]
    fair = list(run_queue(*jobs).fair("q", {}, {"light": 0.5, "heavy": 1.0}))
    first = Counter(i.job[1].rstrip("0123456789") for i in fair[:30])
    assert first == Counter({"light": 20, "heavy": 10})


def simulate(
    p: FairsharePolicy, shares: dict[str, int], ticks: int, slots: int = 8, duration: int = 5
) -> Counter[str]:
    """Every share has endless 1-vCPU jobs of `duration` ticks; each tick the real scheduler
    fills free slots in fair order; returns vCPU-seconds per share."""
    weights = {s: weight_for(s, p) for s in shares}
    usage: dict[str, float] = {}
    running: list[tuple[str, int]] = []  # (share, ends at tick)
    served: Counter[str] = Counter()
    env = Environment(name="ce", max_vcpus=slots, shapes=())
    for tick in range(ticks):
        running = [(s, end) for s, end in running if end > tick]
        now_running = Counter(s for s, _ in running)
        for share in shares:
            served[share] += now_running[share]
            usage[share] = decayed(
                usage.get(share, 0.0), now_running[share], weights[share], 1, p.share_decay_seconds
            )
        free = slots - len(running)
        jobs = [
            (f"{s}-{tick}-{i}", s, 0, n)
            for n, (s, i) in enumerate((s, i) for s in shares for i in range(slots))
        ]
        ordered = tuple(run_queue(*jobs).fair("q", usage, weights))
        node = Node(
            name="n",
            allocatable=Resources(slots * 1000, 64 * 1024 * MIB),
            free=Resources(free * 1000, 64 * 1024 * MIB),
        )
        decisions = schedule(
            Snapshot(
                queues=(Queue(name="q", priority=1, environments=("ce",), items=ordered),),
                environments=(replace(env, nodes=(node,)),),
                now=NOW,
            )
        )
        running += [(p_.job[1].split("-")[0], tick + duration) for p_ in decisions.placements]
    return served


@pytest.mark.parametrize("decay", [0, 600], ids=["current_usage_only", "decayed_history"])
def test_shares_converge_to_their_weights(decay: int) -> None:
    # 12 slots split 8:4 exactly; with fewer, whole jobs make the split coarser (8 slots: 5:3).
    served = simulate(
        policy(("light", 0.5), ("heavy", 1.0), decay=decay),
        {"light": 0, "heavy": 0},
        2000,
        slots=12,
    )
    ratio = served["light"] / served["heavy"]
    assert ratio == pytest.approx(2.0, rel=0.1), served


def test_an_eighth_weight_gets_eight_times_the_compute() -> None:
    served = simulate(policy(("tiny", 0.125), ("unit", 1.0)), {"tiny": 0, "unit": 0}, 3000, slots=9)
    assert served["tiny"] / served["unit"] == pytest.approx(8.0, rel=0.15), served


def test_reservation_caps_what_active_shares_take() -> None:
    item = WorkItem(job=("ns", "a"), index=0, queue="q", resources=Resources(1000, MIB), count=10)
    node = Node(
        name="n",
        allocatable=Resources(10_000, 64 * 1024 * MIB),
        free=Resources(10_000, 64 * 1024 * MIB),
    )
    env = Environment(name="ce", max_vcpus=10, nodes=(node,))
    cap = reservation_cap(10_000, 50, 1)
    decisions = schedule(
        Snapshot(
            queues=(
                Queue(name="q", priority=1, environments=("ce",), items=(item,), cap_millicpu=cap),
            ),
            environments=(env,),
            now=NOW,
        )
    )
    assert len(decisions.placements) == 5, "half of the vCPUs stay free for shares not yet active"


def test_array_children_are_interleaved_one_by_one() -> None:
    runq = RunQueues()
    for order, name in enumerate(["heavy", "light"]):
        item = WorkItem(
            job=("ns", name), index=0, queue="q", resources=Resources(1000, MIB), count=6
        )
        runq.put(("ns", name), "q", name, 0, [((order,), item)])
    fair = list(runq.fair("q", {}, {"light": 0.5, "heavy": 1.0}))
    assert all(i.count == 1 for i in fair)
    assert len(fair) == 12
    assert [(i.job[1], i.index) for i in fair[:2]] == [("heavy", 0), ("light", 0)]
    assert Counter(i.job[1] for i in fair[:6]) == Counter({"light": 4, "heavy": 2})
    assert [i.index for i in fair if i.job[1] == "heavy"] == list(range(6))
