"""Consumable resources (AWS Batch's resource-aware scheduling): a job holds its units from
STARTING until it ends, and waits RUNNABLE, naming the resource, while not enough are left; a
NON_REPLENISHABLE resource's units are used up; what is held never exceeds what there is."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubatch.api.common import JobStatus
from kubatch.core.jobs.persistence import job_status
from kubatch.core.scheduling.placement import (
    CONSUMABLE_RESOURCE_QUANTITY,
    CONSUMABLE_RESOURCE_UNAVAILABLE,
    HEAD_OF_QUEUE,
    WorkItem,
)
from tests.support.engine import FakeApi, batch_job, cluster, node, served
from tests.unit.test_scheduler import BEST_EFFORT, STRICT, env, item, queue, res, run
from tests.unit.test_scheduler import node as scheduler_node

S = JobStatus


def needs(**units: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(units.items()))


# -- one pass ------------------------------------------------------------------------------


def test_only_as_many_jobs_start_as_the_units_left_allow() -> None:
    ce = env("ce", nodes=(scheduler_node("n1", 16),))
    array = WorkItem(
        job=("ns", "a"), index=0, queue="q", resources=res(1), count=5, consumables=needs(seats=1)
    )
    d = run([queue("q", 1, ("ce",), array)], [ce], consumables={"seats": (2, 3)})
    assert len(d.placements) == 2
    (waiting,) = d.waiting
    assert (waiting.count, waiting.reason) == (3, CONSUMABLE_RESOURCE_UNAVAILABLE)
    assert waiting.detail == "needs 1 of consumable resource seats: 0 of 3 left"


def test_units_taken_by_one_queue_are_gone_for_the_next() -> None:
    ce = env("ce", nodes=(scheduler_node("n1", 16),))
    high = queue("high", 10, ("ce",), item("h", queue="high", consumables=needs(seats=2)))
    low = queue("low", 1, ("ce",), item("l", queue="low", consumables=needs(seats=1)))
    d = run([low, high], [ce], consumables={"seats": (2, 2)})
    assert [p.job[1] for p in d.placements] == ["h"]
    assert {w.item.job[1]: w.reason for w in d.waiting} == {"l": CONSUMABLE_RESOURCE_UNAVAILABLE}


def test_a_job_waiting_for_units_blocks_a_strict_queue_not_a_best_effort_one() -> None:
    ce = env("ce", nodes=(scheduler_node("n1", 16),))
    first = item("first", consumables=needs(seats=2))
    second = item("second")
    for strategy, started, reason in (
        (STRICT, [], HEAD_OF_QUEUE),
        (BEST_EFFORT, ["second"], None),
    ):
        q = queue("q", 1, ("ce",), first, second, strategy=strategy)
        d = run([q], [ce], consumables={"seats": (1, 2)})
        assert [p.job[1] for p in d.placements] == started
        found = {w.item.job[1]: w.reason for w in d.waiting}
        assert found.get("first") == CONSUMABLE_RESOURCE_UNAVAILABLE
        assert found.get("second") == reason


def test_a_job_needing_more_than_there_is_or_what_does_not_exist_never_blocks_others() -> None:
    ce = env("ce", nodes=(scheduler_node("n1", 16),))
    q = queue(
        "q",
        1,
        ("ce",),
        item("greedy", consumables=needs(seats=5)),
        item("lost", consumables=needs(tapes=1)),
        item("fine", consumables=needs(seats=1)),
        strategy=STRICT,
    )
    d = run([q], [ce], consumables={"seats": (3, 3)})
    assert [p.job[1] for p in d.placements] == ["fine"]
    details = {w.item.job[1]: (w.reason, w.detail, w.position) for w in d.waiting}
    assert details == {
        "greedy": (
            CONSUMABLE_RESOURCE_QUANTITY,
            "needs 5 of consumable resource seats, which has 3 in all",
            None,
        ),
        "lost": (CONSUMABLE_RESOURCE_QUANTITY, "consumable resource tapes does not exist", None),
    }


# -- the engine ------------------------------------------------------------------------------


def resource(name: str, total: int, kind: str = "REPLENISHABLE", **status: Any) -> dict[str, Any]:
    found = served(
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "ConsumableResource",
            "metadata": {"name": name},
            "spec": {"totalQuantity": total, "resourceType": kind},
        }
    )
    if status:
        found["status"] = status
    return found


SEAT = {
    "consumableResourcePropertiesOverride": {
        "consumableResourceList": [{"consumableResource": "seats", "quantity": 1}]
    }
}


def licensed(jobs: int, total: int, kind: str = "REPLENISHABLE") -> FakeApi:
    """`jobs` jobs j0, j1... each holding one seat, on plenty of nodes."""
    nodes = tuple(node(f"n{i}", cpu="16") for i in range(4))
    api = cluster(nodes=nodes)
    api.objects.append(resource("seats", total, kind))
    api.engine.upsert_consumable(api.objects[-1])
    for i in range(jobs):
        job = served(batch_job(f"j{i}", **SEAT))
        api.objects.append(job)
        api.engine.upsert_job(job, api.now)
    api.step()
    return api


def seats(api: FakeApi) -> dict[str, int]:
    status = api.statuses[("consumableresources", "None/seats")]
    return {k: status[k] for k in ("inUseQuantity", "consumedQuantity", "availableQuantity")}


def states(api: FakeApi, jobs: int) -> list[JobStatus]:
    return [api.status(f"j{i}") for i in range(jobs)]


def ends(api: FakeApi, job: str) -> None:
    pod = api.pod_of(job)
    api.run(pod)
    api.finish(pod)
    api.step(1)
    api.step(1)


def test_jobs_start_as_seats_come_back_and_the_waiting_say_which_resource() -> None:
    api = licensed(jobs=4, total=2)
    assert states(api, 4) == [S.STARTING, S.STARTING, S.RUNNABLE, S.RUNNABLE]
    reason = job_status(api.record("j2")).status_reason or ""
    assert reason == (
        f"{CONSUMABLE_RESOURCE_UNAVAILABLE} - needs 1 of consumable resource seats: 0 of 2 left"
    )
    assert seats(api) == {"inUseQuantity": 2, "consumedQuantity": 0, "availableQuantity": 0}
    ends(api, "j0")
    assert states(api, 4) == [S.SUCCEEDED, S.STARTING, S.STARTING, S.RUNNABLE]
    assert seats(api)["inUseQuantity"] == 2


def test_a_non_replenishable_resource_is_used_up_and_then_lets_nothing_run() -> None:
    api = licensed(jobs=3, total=2, kind="NON_REPLENISHABLE")
    ends(api, "j0")
    ends(api, "j1")
    assert seats(api) == {"inUseQuantity": 0, "consumedQuantity": 2, "availableQuantity": 0}
    assert states(api, 3) == [S.SUCCEEDED, S.SUCCEEDED, S.RUNNABLE]
    reason = job_status(api.record("j2")).status_reason or ""
    assert reason.startswith(CONSUMABLE_RESOURCE_QUANTITY), reason


def test_units_used_up_before_a_restart_are_not_counted_twice() -> None:
    api = licensed(jobs=2, total=3, kind="NON_REPLENISHABLE")
    ends(api, "j0")
    assert seats(api)["consumedQuantity"] == 1
    written = api.statuses[("consumableresources", "None/seats")]
    found = next(i for i, o in enumerate(api.objects) if o.get("kind") == "ConsumableResource")
    api.objects[found] = resource("seats", 3, "NON_REPLENISHABLE", **written)
    api.restart()
    api.engine.upsert_consumable(api.objects[found])
    api.step(1)
    assert seats(api)["consumedQuantity"] == 1


# -- what is held never exceeds what there is ---------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=4),
    wants=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=5),
    finishes=st.lists(st.integers(min_value=0, max_value=20), max_size=12),
)
def test_the_units_held_never_exceed_the_total(
    total: int, wants: list[int], finishes: list[int]
) -> None:
    nodes = tuple(node(f"n{i}", cpu="16") for i in range(3))
    api = cluster(nodes=nodes)
    api.engine.upsert_consumable(resource("seats", total))
    for i, units in enumerate(wants):
        override = {"consumableResourceList": [{"consumableResource": "seats", "quantity": units}]}
        job = served(batch_job(f"j{i}", consumableResourcePropertiesOverride=override))
        api.engine.upsert_job(job, api.now)
    for pick in [None, *finishes]:
        api.step(1)
        held = api.engine.consumables.held()["seats"]
        assert held <= total
        assert seats(api)["inUseQuantity"] + seats(api)["availableQuantity"] == total
        running = sorted(k for k in api.pods if api.pods[k]["status"]["phase"] == "Pending")
        if pick is not None and running:
            key = running[pick % len(running)]
            api.run(key)
            api.finish(key)
