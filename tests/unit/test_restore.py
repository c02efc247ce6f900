"""Restart safety in core: a record rebuilt from its status and the pods it finds goes on
exactly where it was: no attempt started twice, none lost."""

from __future__ import annotations

from kubatch.api import JobStatus
from kubatch.core.jobs.attempts import PodObservation, PodPhase
from kubatch.core.jobs.persistence import job_status, restore_record
from kubatch.core.jobs.record import JobRecord
from tests.support.world import World

S = JobStatus


def restart(world: World, name: str) -> JobRecord:
    old = world.jobs[name]
    new = restore_record(
        old.namespace, old.name, old.uid, old.spec, old.created_at, job_status(old)
    )
    world.jobs[name] = new
    world.settle()
    return new


def test_restored_job_keeps_its_attempt_numbering() -> None:
    world = World()
    world.submit("j", retryStrategy={"attempts": 3})
    world.complete("j", 1)
    job = restart(world, "j")
    assert (job.status, job.attempt_count) == (S.RUNNABLE, 1)
    assert world.place("j").attempt == 2


def test_pod_created_but_not_recorded_is_adopted_not_repeated() -> None:
    world = World()
    world.submit("j")
    saved = job_status(world.jobs["j"])  # written before the crash
    create = world.place("j")  # the pod was created, then the operator died
    old = world.jobs["j"]
    job = restore_record(old.namespace, old.name, old.uid, old.spec, old.created_at, saved)
    obs = PodObservation(
        pod_name=create.pod_name,
        index=None,
        attempt=create.attempt,
        phase=PodPhase.RUNNING,
        node_name="n1",
    )
    job.adopt(obs, world.now)
    assert (job.status, job.attempt_count) == (S.RUNNING, 1)
    assert job.children[0].current is not None
    assert job.children[0].current.pod_name == create.pod_name


def test_in_flight_attempt_whose_pod_vanished_is_closed_and_retried() -> None:
    world = World()
    world.submit("j", retryStrategy={"attempts": 2})
    world.place("j")
    world.run("j")
    job = restart(world, "j")
    job.reconcile_missing(set(), world.now)
    assert (job.status, job.attempt_count) == (S.RUNNABLE, 1)
    assert job.history[-1].status_reason == "Host EC2 (instance node-1) terminated."


def test_in_flight_attempt_whose_pod_is_still_there_is_kept() -> None:
    world = World()
    world.submit("j")
    create = world.place("j")
    job = restart(world, "j")
    assert job.reconcile_missing({create.pod_name}, world.now) == []
    assert job.status == S.STARTING


def test_the_revision_is_pinned_when_the_job_is_accepted() -> None:
    world = World()
    world.submit("j")
    world.define("def", parameters={"greeting": "changed"})  # revision 2 arrives later
    job = restart(world, "j")
    assert job.revision == 1
    assert job.resolved is not None
    assert job.resolved.container.command == ["echo", "hello"]


def test_array_children_survive_a_restart() -> None:
    world = World()
    world.submit("a", arrayProperties={"size": 5}, retryStrategy={"attempts": 2})
    world.complete("a", index=0)
    world.complete("a", 1, index=1)
    world.place("a", index=2)
    job = restart(world, "a")
    assert [c.status for c in job.children] == [
        S.SUCCEEDED,
        S.RUNNABLE,
        S.STARTING,
        S.RUNNABLE,
        S.RUNNABLE,
    ]
    assert [c.attempts for c in job.children] == [1, 1, 1, 0, 0]
    assert world.place("a", index=1).attempt == 2
