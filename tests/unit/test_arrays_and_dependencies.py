"""Array jobs and dependsOn, checklist line by checklist line."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import JobStatus
from kubatch.core.jobs.attempts import StopPod
from kubatch.core.jobs.dependencies import cycle_reason, find_cycles
from kubatch.core.jobs.persistence import job_status
from tests.support.world import World

S = JobStatus


def array(world: World, name: str, size: int, **spec: Any) -> None:
    world.submit(name, arrayProperties={"size": size}, **spec)


def statuses(world: World, name: str) -> list[JobStatus]:
    return [c.status for c in world.jobs[name].children]


# -- arrays ----------------------------------------------------------------------------


def test_array_parent_is_submitted_before_evaluation() -> None:
    world = World()
    world.submit("a", arrayProperties={"size": 3}, evaluate=False)
    assert world.status_of("a") == S.SUBMITTED
    assert job_status(world.jobs["a"]).array_properties.status_summary.submitted == 3  # type: ignore[union-attr]


def test_array_parent_is_pending_while_children_run() -> None:
    world = World()
    array(world, "a", 3)
    assert world.status_of("a") == S.PENDING
    assert statuses(world, "a") == [S.RUNNABLE] * 3
    world.place("a", index=0)
    world.run("a", index=0)
    assert world.status_of("a") == S.PENDING


def test_array_parent_succeeds_when_all_children_succeeded() -> None:
    world = World()
    array(world, "a", 3)
    for i in range(3):
        world.complete("a", index=i)
    assert world.status_of("a") == S.SUCCEEDED


def test_array_parent_fails_when_any_child_failed_but_only_after_all_finished() -> None:
    world = World()
    array(world, "a", 3)
    world.complete("a", 1, index=0)
    assert world.status_of("a") == S.PENDING
    world.complete("a", index=1)
    assert world.status_of("a") == S.PENDING
    world.complete("a", index=2)
    assert world.status_of("a") == S.FAILED
    assert world.jobs["a"].reason == "1 of 3 child jobs failed"


def test_status_summary_counts_children_per_state_and_ranges_name_them() -> None:
    world = World()
    array(world, "a", 6)
    world.complete("a", index=0)
    world.complete("a", index=1)
    world.complete("a", 2, index=4)
    world.place("a", index=5)
    status = job_status(world.jobs["a"])
    assert status.array_properties is not None
    summary = status.array_properties.status_summary
    assert (summary.succeeded, summary.failed, summary.starting, summary.runnable) == (2, 1, 1, 2)
    assert status.array_properties.size == 6
    assert status.array_properties.indexes == {
        "SUCCEEDED": "0-1",
        "RUNNABLE": "2-3",
        "FAILED": "4",
        "STARTING": "5",
    }


def test_retries_apply_per_child() -> None:
    world = World()
    array(world, "a", 2, retryStrategy={"attempts": 2})
    world.complete("a", 1, index=0)
    assert statuses(world, "a") == [S.RUNNABLE, S.RUNNABLE]
    world.complete("a", 1, index=0)
    assert statuses(world, "a")[0] == S.FAILED
    world.complete("a", 1, index=1)
    world.complete("a", 0, index=1)
    assert statuses(world, "a") == [S.FAILED, S.SUCCEEDED]
    assert [c.attempts for c in world.jobs["a"].children] == [2, 2]


def test_timeouts_apply_per_child() -> None:
    world = World()
    array(world, "a", 2, timeout={"attemptDurationSeconds": 60})
    world.place("a", index=0)
    world.run("a", index=0)
    world.advance(30)
    world.place("a", index=1)
    world.run("a", index=1)
    stops = world.advance(30)
    assert [s.pod_name for s in stops if isinstance(s, StopPod)] == [world.jobs["a"].pod_name(0, 1)]


def test_cancel_on_the_parent_cascades_to_all_children() -> None:
    world = World()
    array(world, "a", 4)
    world.place("a", index=0)
    world.run("a", index=0)
    world.request("a", "cancel", "not needed")
    assert statuses(world, "a") == [S.RUNNING, S.FAILED, S.FAILED, S.FAILED]
    world.finish("a", index=0)
    assert world.status_of("a") == S.FAILED


def test_terminate_on_the_parent_stops_running_children_and_cancels_the_rest() -> None:
    world = World()
    array(world, "a", 3)
    world.place("a", index=0)
    world.run("a", index=0)
    actions = world.request("a", "terminate", "abort")
    assert [a.pod_name for a in actions if isinstance(a, StopPod)] == [
        world.jobs["a"].pod_name(0, 1)
    ]
    world.finish("a", 143, index=0)
    assert statuses(world, "a") == [S.FAILED] * 3
    assert world.jobs["a"].reason == "abort"


def test_cancelling_one_child_leaves_its_siblings_alone() -> None:
    world = World()
    array(world, "a", 3)
    world.request("a", "cancel", "skip one", indexes="1")
    assert statuses(world, "a") == [S.RUNNABLE, S.FAILED, S.RUNNABLE]
    assert world.jobs["a"].children[1].reason == "skip one"
    world.complete("a", index=0)
    world.complete("a", index=2)
    assert world.status_of("a") == S.FAILED


# -- dependencies ----------------------------------------------------------------------


def test_n_to_n_child_waits_for_the_same_child_of_its_dependency() -> None:
    world = World()
    array(world, "a", 3)
    array(world, "b", 3, dependsOn=[{"jobName": "a", "type": "N_TO_N"}])
    assert statuses(world, "b") == [S.PENDING] * 3
    assert world.jobs["b"].children[1].reason == "Waiting for dependency a:1"
    world.complete("a", index=1)
    assert statuses(world, "b") == [S.PENDING, S.RUNNABLE, S.PENDING]


def test_n_to_n_child_fails_when_its_dependency_child_failed() -> None:
    world = World()
    array(world, "a", 2)
    array(world, "b", 2, dependsOn=[{"jobName": "a", "type": "N_TO_N"}])
    world.complete("a", 1, index=0)
    assert world.jobs["b"].children[0].status == S.FAILED
    assert world.jobs["b"].children[0].reason == "Dependent job a:0 failed"
    assert world.jobs["b"].children[1].status == S.PENDING


def test_n_to_n_needs_arrays_of_the_same_size() -> None:
    world = World()
    array(world, "a", 3)
    array(world, "b", 2, dependsOn=[{"jobName": "a", "type": "N_TO_N"}])
    assert world.status_of("b") == S.FAILED
    assert world.jobs["b"].reason == "N_TO_N dependency a has size 3; this job has size 2"


def test_sequential_children_run_in_index_order() -> None:
    world = World()
    array(world, "a", 3, dependsOn=[{"type": "SEQUENTIAL"}])
    assert statuses(world, "a") == [S.RUNNABLE, S.PENDING, S.PENDING]
    world.complete("a", index=0)
    assert statuses(world, "a") == [S.SUCCEEDED, S.RUNNABLE, S.PENDING]
    world.complete("a", index=1)
    world.complete("a", index=2)
    assert world.status_of("a") == S.SUCCEEDED


def test_sequential_failure_fails_every_later_child() -> None:
    world = World()
    array(world, "a", 4, dependsOn=[{"type": "SEQUENTIAL"}])
    world.complete("a", index=0)
    world.complete("a", 1, index=1)
    assert statuses(world, "a") == [S.SUCCEEDED, S.FAILED, S.FAILED, S.FAILED]
    assert world.jobs["a"].children[2].reason == "Dependent job a:1 failed"
    assert world.jobs["a"].children[3].reason == "Dependent job a:2 failed"
    assert world.status_of("a") == S.FAILED


def test_dependency_on_one_array_child() -> None:
    world = World()
    array(world, "a", 3)
    world.submit("j", dependsOn=[{"jobName": "a:2"}])
    world.complete("a", index=0)
    assert world.status_of("j") == S.PENDING
    world.complete("a", index=2)
    assert world.status_of("j") == S.RUNNABLE


def test_dependency_on_a_child_that_does_not_exist_fails() -> None:
    world = World()
    array(world, "a", 3)
    world.submit("j", dependsOn=[{"jobName": "a:7"}])
    assert (world.status_of("j"), world.jobs["j"].reason) == (
        S.FAILED,
        "Dependency a:7 names no child of job a",
    )


def test_dependency_on_a_whole_array_waits_for_every_child() -> None:
    world = World()
    array(world, "a", 2)
    world.submit("j", dependsOn=[{"jobName": "a"}])
    world.complete("a", index=0)
    assert world.status_of("j") == S.PENDING
    world.complete("a", index=1)
    assert world.status_of("j") == S.RUNNABLE


@pytest.mark.parametrize(("outcome", "expected"), [(0, S.RUNNABLE), (1, S.RUNNABLE)])
def test_after_any_waits_for_completion_whatever_the_outcome(
    outcome: int, expected: JobStatus
) -> None:
    world = World()
    world.submit("a")
    world.submit("j", dependsOn=[{"jobName": "a", "type": "AFTER_ANY"}])
    assert world.status_of("j") == S.PENDING
    world.complete("a", outcome)
    assert world.status_of("j") == expected


def test_a_dependency_that_does_not_exist_yet_waits_with_a_reason() -> None:
    world = World()
    world.submit("j", dependsOn=[{"jobName": "later"}])
    assert (world.status_of("j"), world.jobs["j"].reason) == (
        S.PENDING,
        "Dependency later does not exist yet",
    )
    world.submit("later")
    world.complete("later")
    assert world.status_of("j") == S.RUNNABLE


def test_a_dependency_cycle_fails_every_job_in_it_naming_the_cycle() -> None:
    world = World()
    world.submit("a", dependsOn=[{"jobName": "c"}])
    world.submit("b", dependsOn=[{"jobName": "a"}])
    world.submit("c", dependsOn=[{"jobName": "b"}])
    world.submit("d", dependsOn=[{"jobName": "c"}])
    for name in "abc":
        assert world.jobs[name].status == S.FAILED
        assert world.jobs[name].reason == "Dependency cycle: a -> c -> b -> a"
    assert (world.status_of("d"), world.jobs["d"].reason) == (S.FAILED, "Dependent job c failed")


@pytest.mark.parametrize(
    ("edges", "cycles"),
    [
        ({"a": ["b"], "b": []}, []),
        ({"a": ["a"]}, [["a", "a"]]),
        ({"a": ["b"], "b": ["a"]}, [["a", "b", "a"]]),
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c", "a"]]),
        ({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}, [["a", "b", "a"], ["c", "d", "c"]]),
        ({"a": ["missing"]}, []),
    ],
)
def test_find_cycles(edges: dict[str, list[str]], cycles: list[list[str]]) -> None:
    assert sorted(find_cycles(edges)) == cycles


def test_cycle_reason_names_the_path() -> None:
    assert cycle_reason(["a", "b", "a"]) == "Dependency cycle: a -> b -> a"


def test_an_arrays_started_at_is_its_first_childs_start() -> None:
    world = World()
    world.submit("a", arrayProperties={"size": 3})
    world.place("a", index=0)
    world.run("a", index=0)
    first = world.now
    world.advance(30)
    world.place("a", index=1)
    world.run("a", index=1)
    assert job_status(world.jobs["a"]).started_at == first
