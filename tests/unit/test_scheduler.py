"""The scheduling pass and the capacity planner, rule by rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubatch.api import AllocationStrategy, QueueingStrategy
from kubatch.api.resources import MIB, Resources
from kubatch.core.scheduling.catalog import CATALOG, UnknownInstanceType, resolve_shapes
from kubatch.core.scheduling.placement import (
    ENVIRONMENTS_INVALID,
    ENVIRONMENTS_UNAVAILABLE,
    HEAD_OF_QUEUE,
    INSUFFICIENT_CAPACITY,
    JOB_RESOURCE_REQUIREMENT,
    MAX_RESOURCE,
    Decisions,
    Environment,
    Node,
    Queue,
    Snapshot,
    Waiting,
    WorkItem,
    schedule,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GIB = 1024 * MIB
STRICT, BEST_EFFORT = QueueingStrategy.STRICT_FIFO, QueueingStrategy.BEST_EFFORT_FIFO


def res(cpu: float, mem_gib: float = 1, gpus: int = 0) -> Resources:
    return Resources(int(cpu * 1000), int(mem_gib * GIB), gpus)


def node(
    name: str, cpu: float, mem: float = 64, *, free: Resources | None = None, **kw: Any
) -> Node:
    return Node(
        name=name, allocatable=res(cpu, mem), free=free if free is not None else res(cpu, mem), **kw
    )


def env(name: str, max_vcpus: int = 64, nodes: tuple[Node, ...] = (), **kw: Any) -> Environment:
    kw.setdefault("shapes", tuple(resolve_shapes(["m5"])))
    return Environment(name=name, max_vcpus=max_vcpus, nodes=nodes, **kw)


def item(job: str, cpu: float = 1, mem: float = 1, queue: str = "q", **kw: Any) -> WorkItem:
    return WorkItem(job=("ns", job), index=None, queue=queue, resources=res(cpu, mem), **kw)


def queue(name: str, priority: int, envs: tuple[str, ...], *items: WorkItem, **kw: Any) -> Queue:
    return Queue(name=name, priority=priority, environments=envs, items=tuple(items), **kw)


def run(queues: list[Queue], envs: list[Environment], **kw: Any) -> Decisions:
    return schedule(Snapshot(queues=tuple(queues), environments=tuple(envs), now=NOW, **kw))


def placed(d: Decisions) -> list[tuple[str, str, str]]:
    return [(p.job[1], p.environment, p.node) for p in d.placements]


def reasons(d: Decisions) -> dict[str, str]:
    return {w.item.job[1]: w.reason for w in d.waiting}


# -- placement ---------------------------------------------------------------------------


def test_higher_priority_queue_is_served_first_on_a_shared_environment() -> None:
    ce = env("ce", nodes=(node("n1", 2),))
    low = queue("low", 1, ("ce",), item("l1", 2, queue="low"))
    high = queue("high", 10, ("ce",), item("h1", 2, queue="high"))
    d = run([low, high], [ce])
    assert placed(d) == [("h1", "ce", "n1")]
    assert reasons(d) == {"l1": INSUFFICIENT_CAPACITY}


def test_fifo_within_a_queue() -> None:
    ce = env("ce", nodes=(node("n1", 2),))
    d = run([queue("q", 1, ("ce",), item("a"), item("b"), item("c"))], [ce])
    assert [j for j, _, _ in placed(d)] == ["a", "b"]
    assert reasons(d) == {"c": INSUFFICIENT_CAPACITY}


def test_compute_environments_are_tried_in_order() -> None:
    first = env("first", nodes=(node("f1", 1),))
    second = env("second", nodes=(node("s1", 4),))
    d = run([queue("q", 1, ("first", "second"), item("a"), item("b"), item("c"))], [first, second])
    assert placed(d) == [("a", "first", "f1"), ("b", "second", "s1"), ("c", "second", "s1")]


@pytest.mark.parametrize(
    ("rule", "state", "blocker"),
    [
        ("disabled_environment_takes_no_new_work", {"enabled": False}, ENVIRONMENTS_UNAVAILABLE),
        ("invalid_environment_takes_no_new_work", {"valid": False}, ENVIRONMENTS_INVALID),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith("work") else "",
)
def test_only_enabled_and_valid_environments(
    rule: str, state: dict[str, bool], blocker: str
) -> None:
    off = env("off", nodes=(node("o1", 8),), **state)
    on = env("on", nodes=(node("n1", 8),))
    d = run([queue("q", 1, ("off", "on"), item("a"))], [off, on])
    assert placed(d) == [("a", "on", "n1")]
    d = run([queue("q", 1, ("off",), item("a"))], [off])
    assert reasons(d) == {"a": blocker}


def test_an_invalid_environment_is_named_as_the_blocker_not_max_resource() -> None:
    broken = env("broken", valid=False, shapes=())
    d = run([queue("q", 1, ("broken",), item("a", 64))], [broken])
    assert reasons(d) == {"a": "MISCONFIGURATION:COMPUTE_ENVIRONMENT_INVALID"}


def test_an_item_needs_one_node_that_holds_its_whole_request() -> None:
    ce = env("ce", nodes=(node("n1", 1), node("n2", 1)))
    d = run([queue("q", 1, ("ce",), item("a", 2))], [ce])
    assert placed(d) == []
    assert reasons(d) == {"a": INSUFFICIENT_CAPACITY}


def test_best_fit_node_keeps_big_holes_for_big_items() -> None:
    ce = env("ce", nodes=(node("big", 8), node("small", 1)))
    d = run([queue("q", 1, ("ce",), item("tiny", 1), item("large", 8))], [ce])
    assert placed(d) == [("tiny", "ce", "small"), ("large", "ce", "big")]


def test_never_past_max_vcpus() -> None:
    ce = env("ce", max_vcpus=4, nodes=(node("n1", 16),), allocated_millicpu=2000)
    d = run([queue("q", 1, ("ce",), item("a", 2), item("b", 1))], [ce])
    assert placed(d) == [("a", "ce", "n1")]
    assert reasons(d) == {"b": INSUFFICIENT_CAPACITY}


def test_pod_slots_count() -> None:
    ce = env("ce", nodes=(node("n1", 16, free_pods=1),))
    d = run([queue("q", 1, ("ce",), item("a"), item("b"))], [ce])
    assert [j for j, _, _ in placed(d)] == ["a"]


@pytest.mark.parametrize(
    ("strategy", "placed_jobs", "small_reason"),
    [(STRICT, [], HEAD_OF_QUEUE), (BEST_EFFORT, ["small"], None)],
    ids=["strict_fifo_head_blocks_the_queue", "best_effort_fifo_lets_smaller_items_pass"],
)
def test_head_of_line(
    strategy: QueueingStrategy, placed_jobs: list[str], small_reason: str | None
) -> None:
    ce = env("ce", nodes=(node("n1", 2),))
    d = run([queue("q", 1, ("ce",), item("big", 4), item("small", 1), strategy=strategy)], [ce])
    assert [j for j, _, _ in placed(d)] == placed_jobs
    assert reasons(d)["big"] == INSUFFICIENT_CAPACITY
    assert reasons(d).get("small") == small_reason


@pytest.mark.parametrize("strategy", [STRICT, BEST_EFFORT])
def test_items_that_can_never_fit_never_block(strategy: QueueingStrategy) -> None:
    ce = env("ce", max_vcpus=8, nodes=(node("n1", 2),), shapes=tuple(resolve_shapes(["m5.large"])))
    huge = item("huge", 16)
    broken = item("broken", problem="resourceRequirements must give VCPU")
    d = run([queue("q", 1, ("ce",), huge, broken, item("ok"), strategy=strategy)], [ce])
    assert placed(d) == [("ok", "ce", "n1")]
    assert reasons(d) == {"huge": MAX_RESOURCE, "broken": JOB_RESOURCE_REQUIREMENT}


def test_larger_than_max_vcpus_is_max_resource_even_if_a_shape_would_hold_it() -> None:
    ce = env("ce", max_vcpus=4)
    d = run([queue("q", 1, ("ce",), item("a", 8))], [ce])
    assert reasons(d) == {"a": MAX_RESOURCE}


def test_array_children_are_placed_as_far_as_capacity_goes() -> None:
    ce = env("ce", nodes=(node("n1", 3),))
    group = WorkItem(job=("ns", "arr"), index=10, queue="q", resources=res(1), count=5)
    d = run([queue("q", 1, ("ce",), group)], [ce])
    assert [p.index for p in d.placements] == [10, 11, 12]
    (waiting,) = d.waiting
    assert (waiting.count, waiting.position, waiting.reason) == (2, 1, INSUFFICIENT_CAPACITY)


def test_positions_count_waiting_work_in_queue_order() -> None:
    ce = env("ce", max_vcpus=1, nodes=(node("n1", 1),))
    group = WorkItem(job=("ns", "arr"), index=0, queue="q", resources=res(1), count=3)
    d = run([queue("q", 1, ("ce",), item("first"), group, item("last"))], [ce])
    assert positions(d.waiting) == {("ns", "arr"): 1, ("ns", "last"): 4}


def test_three_queues_two_environments_exact_order() -> None:
    a = env("a", nodes=(node("a1", 2),))
    b = env("b", nodes=(node("b1", 2),))
    urgent = queue(
        "urgent",
        100,
        ("a",),
        item("u1", queue="urgent"),
        item("u2", queue="urgent"),
        item("u3", queue="urgent"),
    )
    normal = queue("normal", 50, ("a", "b"), item("n1", queue="normal"), item("n2", queue="normal"))
    batch = queue("batch", 1, ("b",), item("b1", queue="batch"), item("b2", queue="batch"))
    d = run([batch, normal, urgent], [a, b])
    assert placed(d) == [("u1", "a", "a1"), ("u2", "a", "a1"), ("n1", "b", "b1"), ("n2", "b", "b1")]
    assert reasons(d) == {
        "u3": INSUFFICIENT_CAPACITY,
        "b1": INSUFFICIENT_CAPACITY,
        "b2": INSUFFICIENT_CAPACITY,
    }
    assert positions(d.waiting) == {("ns", "u3"): 1, ("ns", "b1"): 1, ("ns", "b2"): 2}


# -- capacity ----------------------------------------------------------------------------


def test_demand_becomes_nodes_of_the_cheapest_fitting_shape() -> None:
    ce = env("ce", shapes=tuple(resolve_shapes(["m5", "c5"])))
    d = run([queue("q", 1, ("ce",), item("a", 2, 2), item("b", 2, 2))], [ce])
    plan = d.plans["ce"]
    assert plan.desired == {"c5.large": 2}
    assert plan.desired_vcpus == 4


def test_demand_goes_to_the_first_environment_that_could_hold_it() -> None:
    gpu = env("gpu", shapes=tuple(resolve_shapes(["g4dn"])))
    cpu = env("cpu", shapes=tuple(resolve_shapes(["m5"])))
    d = run([queue("q", 1, ("gpu", "cpu"), item("plain", 4, 4))], [gpu, cpu])
    assert d.plans["gpu"].desired == {"g4dn.xlarge": 1}
    assert d.plans["cpu"].desired == {}


def test_demand_spills_to_the_next_environment_at_max() -> None:
    first = env("first", max_vcpus=4, shapes=(CATALOG["m5.xlarge"],))
    second = env("second", max_vcpus=64, shapes=(CATALOG["m5.xlarge"],))
    d = run(
        [
            queue(
                "q",
                1,
                ("first", "second"),
                WorkItem(job=("ns", "arr"), index=0, queue="q", resources=res(4, 4), count=3),
            )
        ],
        [first, second],
    )
    assert d.plans["first"].desired == {"m5.xlarge": 1}
    assert d.plans["second"].desired == {"m5.xlarge": 2}


def test_growth_overshoots_max_by_at_most_one_node() -> None:
    ce = env("ce", max_vcpus=10, shapes=(CATALOG["m5.xlarge"],))
    d = run(
        [
            queue(
                "q",
                1,
                ("ce",),
                WorkItem(job=("ns", "arr"), index=0, queue="q", resources=res(4, 4), count=10),
            )
        ],
        [ce],
    )
    assert d.plans["ce"].desired == {"m5.xlarge": 3}
    assert d.plans["ce"].desired_vcpus == 12


def test_starting_nodes_absorb_demand_before_new_ones_are_asked_for() -> None:
    starting = node("s1", 4, ready=False, shape="m5.xlarge")
    ce = env("ce", nodes=(starting,), shapes=(CATALOG["m5.xlarge"],))
    d = run([queue("q", 1, ("ce",), item("a", 2), item("b", 2), item("c", 2))], [ce])
    assert d.plans["ce"].desired == {"m5.xlarge": 2}


def test_min_vcpus_is_kept_without_demand() -> None:
    ce = env("ce", min_vcpus=4, shapes=(CATALOG["m5.large"],))
    d = run([], [ce])
    assert d.plans["ce"].desired == {"m5.large": 2}


@pytest.mark.parametrize(
    ("strategy", "unavailable", "expected"),
    [
        (AllocationStrategy.BEST_FIT, set(), {"c5.large": 1}),
        (AllocationStrategy.BEST_FIT, {"c5.large"}, {}),
        (AllocationStrategy.BEST_FIT_PROGRESSIVE, {"c5.large"}, {"m5.large": 1}),
        (AllocationStrategy.SPOT_CAPACITY_OPTIMIZED, set(), {"m5.large": 1}),
        (AllocationStrategy.SPOT_CAPACITY_OPTIMIZED, {"m5.large"}, {"m5.xlarge": 1}),
        (AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED, {"m5.large"}, {"c5.large": 1}),
    ],
    ids=[
        "best_fit_cheapest",
        "best_fit_waits_for_its_shape",
        "progressive_takes_the_next",
        "spot_capacity_prefers_the_deepest_pool",
        "spot_capacity_stays_in_deep_pools",
        "spot_price_capacity_weighs_price_against_depth",
    ],
)
def test_allocation_strategies(
    strategy: AllocationStrategy, unavailable: set[str], expected: dict[str, int]
) -> None:
    ce = env(
        "ce",
        shapes=tuple(resolve_shapes(["m5", "c5", "r5"])),
        strategy=strategy,
        unavailable_shapes=frozenset(unavailable),
    )
    d = run([queue("q", 1, ("ce",), item("a", 2, 2))], [ce])
    assert d.plans["ce"].desired == expected


def _idle(name: str, minutes: int, running: int = 0) -> Node:
    return node(
        name,
        2,
        8,
        shape="m5.large",
        running=running,
        idle_since=NOW - timedelta(minutes=minutes) if running == 0 else None,
    )


def test_idle_nodes_shrink_to_min_vcpus_after_the_cool_down() -> None:
    nodes = (_idle("old1", 10), _idle("old2", 10), _idle("fresh", 1), _idle("busy", 0, running=1))
    ce = env("ce", min_vcpus=2, nodes=nodes, shapes=(CATALOG["m5.large"],))
    d = run([], [ce], scale_in_after=timedelta(minutes=5))
    assert sorted(d.plans["ce"].remove) == ["old1", "old2"]
    assert d.plans["ce"].desired == {"m5.large": 2}


def test_min_vcpus_stops_the_shrinking() -> None:
    ce = env(
        "ce",
        min_vcpus=4,
        nodes=(_idle("a", 10), _idle("b", 10), _idle("c", 10)),
        shapes=(CATALOG["m5.large"],),
    )
    assert len(run([], [ce]).plans["ce"].remove) == 1


def test_disabled_environment_never_grows_and_shrinks_to_min() -> None:
    ce = env(
        "ce",
        enabled=False,
        min_vcpus=2,
        nodes=(_idle("a", 10), _idle("b", 10)),
        shapes=(CATALOG["m5.large"],),
    )
    d = run([queue("q", 1, ("ce",), item("x", 2))], [ce])
    assert len(d.plans["ce"].remove) == 1
    assert d.plans["ce"].desired == {"m5.large": 1}


def test_no_scale_in_while_demand_waits() -> None:
    ce = env("ce", nodes=(_idle("a", 10),), shapes=(CATALOG["m5.large"], CATALOG["m5.xlarge"]))
    d = run([queue("q", 1, ("ce",), item("big", 4, 8))], [ce])
    assert d.plans["ce"].remove == []
    assert d.plans["ce"].desired == {"m5.large": 1, "m5.xlarge": 1}


def test_unmanaged_environments_are_never_scaled() -> None:
    ce = env("ce", managed=False, nodes=(node("n1", 1, shape="m5.large"),))
    d = run([queue("q", 1, ("ce",), item("a"), item("b"))], [ce])
    assert d.plans["ce"].desired == {"m5.large": 1}
    assert reasons(d) == {"b": INSUFFICIENT_CAPACITY}


# -- catalog -----------------------------------------------------------------------------


def test_catalog_resolves_names_families_optimal_and_custom_shapes() -> None:
    assert [s.name for s in resolve_shapes(["m5.large"])] == ["m5.large"]
    assert {s.family for s in resolve_shapes(["optimal"])} == {"c5", "m5", "r5"}
    assert len(resolve_shapes(["g4dn"])) == 6
    from kubatch.api.computeenvironment import CustomInstanceType

    custom = CustomInstanceType.model_validate(
        {"name": "fat", "vcpus": 4, "memory": "1Ti", "price": 1}
    )
    (fat,) = resolve_shapes([], [custom])
    assert (fat.vcpus, fat.memory, fat.price) == (4, 1024 * GIB, 1.0)


def test_catalog_names_unknown_types() -> None:
    with pytest.raises(
        UnknownInstanceType, match=re.escape("unknown instance type(s): m99.huge, x")
    ):
        resolve_shapes(["m5", "m99.huge", "x"])


def test_node_allocatable_keeps_a_system_share_of_memory() -> None:
    shape = CATALOG["m5.large"]
    assert shape.allocatable.millicpu == 2000
    assert shape.allocatable.memory < shape.memory


def positions(waiting: list[Waiting]) -> dict[tuple[str, str], int]:
    """The best queue position of each job among its waiting items."""
    best: dict[tuple[str, str], int] = {}
    for w in waiting:
        if w.position is not None and (w.item.job not in best or w.position < best[w.item.job]):
            best[w.item.job] = w.position
    return best
