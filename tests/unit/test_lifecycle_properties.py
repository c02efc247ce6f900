"""Invariants of the lifecycle under any sequence of events (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from kubatch.api import JobStatus
from kubatch.core.jobs.persistence import job_status, restore_record
from tests.support.world import World

S = JobStatus
OPS = ("place", "run", "succeed", "fail", "lose", "tick", "cancel", "terminate", "restart")


@dataclass(frozen=True)
class Op:
    name: str
    index: int
    exit_code: int


ops = st.lists(
    st.builds(Op, st.sampled_from(OPS), st.integers(0, 5), st.sampled_from([1, 2, 137])),
    max_size=60,
)


def apply(world: World, name: str, op: Op) -> None:
    record = world.jobs[name]
    index = op.index % len(record.children) if record.is_array else None
    child = record.child(index)
    if op.name == "place" and child.status == S.RUNNABLE:
        world.place(name, index=index)
    elif op.name == "run" and child.status == S.STARTING:
        world.run(name, index=index)
    elif op.name in ("succeed", "fail") and child.status in (S.STARTING, S.RUNNING):
        world.finish(name, 0 if op.name == "succeed" else op.exit_code, index=index)
    elif op.name == "lose" and child.status in (S.STARTING, S.RUNNING):
        world.lose(name, index=index)
    elif op.name == "tick":
        world.advance(45)
    elif op.name in ("cancel", "terminate") and op.exit_code == 137:  # now and then
        indexes = str(index) if index is not None and op.index % 2 else None
        world.request(name, op.name, f"{op.name} by test", indexes)
    elif op.name == "restart":
        restored = restore_record(
            record.namespace,
            record.name,
            record.uid,
            record.spec,
            record.created_at,
            job_status(record),
        )
        restored.resolved, restored.view = record.resolved, record.view
        world.jobs[name] = restored


def check_invariants(world: World, history: dict[tuple[str, int], list[JobStatus]]) -> None:
    for name, record in world.jobs.items():
        status = job_status(record)
        if record.is_array:
            summary = status.array_properties.status_summary  # type: ignore[union-attr]
            assert sum(summary.model_dump().values()) == record.size
        for child in record.children:
            assert child.attempts <= 3
            seen = history.setdefault((name, child.index or 0), [])
            if seen and seen[-1] in (S.SUCCEEDED, S.FAILED):
                assert child.status == seen[-1], "a terminal state was left"
            seen.append(child.status)
            started = child.attempts > 0 or child.status == S.RUNNABLE
            if name == "seq" and child.index and started:
                assert record.children[child.index - 1].status == S.SUCCEEDED
            if name == "after" and child.index is not None and started:
                assert world.jobs["first"].children[child.index].status == S.SUCCEEDED


@settings(max_examples=150, deadline=None)
@given(ops, ops, ops)
def test_invariants_hold_for_any_events(
    first_ops: list[Op], seq_ops: list[Op], after_ops: list[Op]
) -> None:
    world = World()
    retry = {"attempts": 3}
    timeout = {"attemptDurationSeconds": 60}
    world.submit("first", arrayProperties={"size": 4}, retryStrategy=retry, timeout=timeout)
    world.submit(
        "seq", arrayProperties={"size": 4}, retryStrategy=retry, dependsOn=[{"type": "SEQUENTIAL"}]
    )
    world.submit(
        "after",
        arrayProperties={"size": 4},
        retryStrategy=retry,
        dependsOn=[{"jobName": "first", "type": "N_TO_N"}],
    )
    history: dict[tuple[str, int], list[JobStatus]] = {}
    for a, b, c in zip(first_ops, seq_ops, after_ops, strict=False):
        for name, op in (("first", a), ("seq", b), ("after", c)):
            apply(world, name, op)
            check_invariants(world, history)


@settings(max_examples=100, deadline=None)
@given(ops)
def test_status_round_trip_keeps_every_child(events: list[Op]) -> None:
    world = World()
    world.submit("first", arrayProperties={"size": 6}, retryStrategy={"attempts": 3})
    for op in events:
        if op.name != "restart":
            apply(world, "first", op)
    record = world.jobs["first"]
    restored = restore_record(
        record.namespace,
        record.name,
        record.uid,
        record.spec,
        record.created_at,
        job_status(record),
    )
    assert [(c.status, c.attempts) for c in restored.children] == [
        (c.status, c.attempts) for c in record.children
    ]
    assert restored.status == record.status
    assert job_status(restored) == job_status(record)
