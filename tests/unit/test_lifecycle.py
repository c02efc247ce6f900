"""The job state machine, checklist line by checklist line (aws-batch-semantics.md: job
states, cancel and terminate, retryStrategy, timeout)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from kubatch.api import JobStatus
from kubatch.core.jobs.attempts import CreatePod, PodPhase, RecordEvent, StopPod
from kubatch.core.jobs.persistence import job_status, restore_record
from kubatch.core.jobs.retry import TIMED_OUT
from tests.support.world import World

S = JobStatus
Step = Callable[[World], object]

RETRY_3 = {"attempts": 3}


@dataclass(frozen=True)
class Story:
    rule: str
    steps: tuple[Step, ...]
    status: JobStatus
    reason: str | None = None
    attempts: int | None = None


def submit(name: str = "j", **spec: Any) -> Step:
    return lambda w: w.submit(name, **spec)


def place(name: str = "j") -> Step:
    return lambda w: w.place(name)


def run(name: str = "j") -> Step:
    return lambda w: w.run(name)


def finish(name: str = "j", code: int = 0, **facts: Any) -> Step:
    return lambda w: w.finish(name, code, **facts)


def complete(name: str, code: int = 0) -> Step:
    return lambda w: w.complete(name, code)


STATES = [
    Story("created_job_is_submitted_until_evaluated", (submit(evaluate=False),), S.SUBMITTED),
    Story("created_job_without_dependencies_is_runnable", (submit(),), S.RUNNABLE),
    Story(
        "created_job_with_unfinished_dependency_is_pending",
        (submit("a"), submit("j", dependsOn=[{"jobName": "a"}])),
        S.PENDING,
        "Waiting for dependency a",
    ),
    Story(
        "pending_becomes_runnable_when_every_dependency_succeeded",
        (
            submit("a"),
            submit("b"),
            submit("j", dependsOn=[{"jobName": "a"}, {"jobName": "b"}]),
            complete("a"),
            complete("b"),
        ),
        S.RUNNABLE,
    ),
    Story(
        "pending_stays_pending_while_one_dependency_is_unfinished",
        (
            submit("a"),
            submit("b"),
            submit("j", dependsOn=[{"jobName": "a"}, {"jobName": "b"}]),
            complete("a"),
        ),
        S.PENDING,
        "Waiting for dependency b",
    ),
    Story(
        "pending_fails_as_soon_as_one_dependency_failed",
        (
            submit("a"),
            submit("b"),
            submit("j", dependsOn=[{"jobName": "a"}, {"jobName": "b"}]),
            complete("a", 1),
        ),
        S.FAILED,
        "Dependent job a failed",
    ),
    Story("runnable_becomes_starting_when_placed", (submit(), place()), S.STARTING, attempts=1),
    Story(
        "starting_becomes_running_when_the_container_runs", (submit(), place(), run()), S.RUNNING
    ),
    Story("running_succeeds_on_exit_0", (submit(), place(), run(), finish()), S.SUCCEEDED),
    Story(
        "running_fails_on_non_zero_exit_without_attempts_left",
        (submit(), place(), run(), finish(code=3)),
        S.FAILED,
        "Essential container in task exited",
        1,
    ),
    Story(
        "running_returns_to_runnable_on_non_zero_exit_with_attempts_left",
        (submit(retryStrategy=RETRY_3), place(), run(), finish(code=3)),
        S.RUNNABLE,
        attempts=1,
    ),
    Story(
        "failure_before_running_counts_as_an_attempt",
        (submit(retryStrategy={"attempts": 2}), place(), finish(code=1), place(), finish(code=1)),
        S.FAILED,
        attempts=2,
    ),
    Story(
        "missing_definition_keeps_the_job_submitted_with_a_reason",
        (submit(jobDefinition="later"),),
        S.SUBMITTED,
        "JobDefinition later does not exist yet",
    ),
    Story(
        "definition_without_revisions_keeps_the_job_submitted",
        (lambda w: w.definitions.__setitem__("old", []), submit(jobDefinition="old")),
        S.SUBMITTED,
        "JobDefinition old has no revision yet",
    ),
]


@pytest.mark.parametrize("story", STATES, ids=lambda s: s.rule)
def test_job_states(story: Story) -> None:
    world = World()
    for step in story.steps:
        step(world)
    job = world.jobs["j"]
    assert job.status == story.status
    if story.reason is not None:
        assert job_status(job).status_reason == story.reason
    if story.attempts is not None:
        assert job.attempt_count == story.attempts


def test_started_at_is_the_moment_the_container_runs() -> None:
    world = World()
    world.submit("j")
    world.place("j")
    world.advance(42)
    world.run("j")
    assert job_status(world.jobs["j"]).started_at == world.now


@pytest.mark.parametrize(
    ("phase", "exit_code", "ends"),
    [
        # A quick container: the kubelet writes it terminated while the phase is Pending...
        (PodPhase.PENDING, 0, JobStatus.RUNNING),
        # ...or the phase goes from Pending straight to Succeeded or Failed.
        (PodPhase.SUCCEEDED, 0, JobStatus.SUCCEEDED),
        (PodPhase.FAILED, 3, JobStatus.FAILED),
    ],
)
def test_a_container_that_ran_made_its_job_running_whatever_the_phase_said(
    phase: PodPhase, exit_code: int, ends: JobStatus
) -> None:
    world = World()
    world.submit("j")
    world.place("j")
    began = world.now
    world.advance(5)
    world.observe(
        "j",
        None,
        phase,
        started_at=began + timedelta(seconds=2),
        finished_at=began + timedelta(seconds=3),
        exit_code=exit_code,
    )
    job = world.jobs["j"]
    assert job.status == ends
    status = job_status(job)
    assert status.started_at == began + timedelta(seconds=2)
    assert status.attempts[0].started_at == began + timedelta(seconds=2)
    events = [a.reason for a in world.actions if isinstance(a, RecordEvent)]
    assert events[-2 if ends != JobStatus.RUNNING else -1] == "Running"
    if ends != JobStatus.RUNNING:
        # Ended by its attempt: when the container stopped (the clock of its dependents'
        # start times), not when the operator heard of it.
        assert status.stopped_at == began + timedelta(seconds=3)


def test_a_container_that_never_started_never_made_its_job_running() -> None:
    """The command could not be run (StartError): the container reports no start time."""
    world = World()
    world.submit("j")
    world.place("j")
    world.observe("j", None, PodPhase.FAILED, exit_code=128, reason="StartError")
    job = world.jobs["j"]
    assert job.status == JobStatus.FAILED
    assert job_status(job).started_at is None
    assert "Running" not in [a.reason for a in world.actions if isinstance(a, RecordEvent)]


def test_a_retried_job_goes_to_the_front_of_its_queue() -> None:
    world = World()
    world.submit("first", retryStrategy=RETRY_3)
    world.advance(1)
    world.submit("second")
    world.advance(1)
    first, second = world.jobs["first"], world.jobs["second"]
    assert first.queue_key(first.children[0]) < second.queue_key(second.children[0])
    world.complete("first", exit_code=1)  # retried: RUNNABLE again
    world.advance(1)
    world.submit("third")
    third = world.jobs["third"]
    keys = sorted(
        [
            ("first", first.queue_key(first.children[0])),
            ("second", second.queue_key(second.children[0])),
            ("third", third.queue_key(third.children[0])),
        ],
        key=lambda kv: kv[1],
    )
    assert [name for name, _ in keys] == ["first", "second", "third"]
    assert first.children[0].retried


def test_every_job_transition_records_an_event() -> None:
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    world.complete("j", exit_code=1)
    world.complete("j", exit_code=0)
    events = [a.reason for a in world.actions if isinstance(a, RecordEvent)]
    assert events == [
        "Runnable",
        "Starting",
        "Running",
        "Runnable",
        "Starting",
        "Running",
        "Succeeded",
    ]


def test_a_terminal_job_ignores_late_observations() -> None:
    world = World()
    world.submit("j")
    world.place("j")
    world.run("j")
    pod = world.jobs["j"].children[0].current
    assert pod is not None
    world.finish("j")
    from kubatch.core.jobs.attempts import PodObservation

    late = PodObservation(
        pod_name=pod.pod_name, index=None, attempt=pod.number, phase=PodPhase.FAILED, exit_code=1
    )
    assert world.jobs["j"].observe(late, world.now) == []
    assert world.jobs["j"].status == S.SUCCEEDED


# -- cancel and terminate: every request in every state -------------------------------

STATE_SETUPS: dict[JobStatus, tuple[Step, ...]] = {
    S.SUBMITTED: (submit(jobDefinition="later"),),
    S.PENDING: (submit("a"), submit("j", dependsOn=[{"jobName": "a"}])),
    S.RUNNABLE: (submit(),),
    S.STARTING: (submit(), place()),
    S.RUNNING: (submit(), place(), run()),
}


@dataclass(frozen=True)
class StopCase:
    request: str
    state: JobStatus
    status_after: JobStatus
    stops_pod: bool


STOP_CASES = [
    StopCase("cancel", S.SUBMITTED, S.FAILED, False),
    StopCase("cancel", S.PENDING, S.FAILED, False),
    StopCase("cancel", S.RUNNABLE, S.FAILED, False),
    StopCase("cancel", S.STARTING, S.STARTING, False),
    StopCase("cancel", S.RUNNING, S.RUNNING, False),
    StopCase("terminate", S.SUBMITTED, S.FAILED, False),
    StopCase("terminate", S.PENDING, S.FAILED, False),
    StopCase("terminate", S.RUNNABLE, S.FAILED, False),
    StopCase("terminate", S.STARTING, S.STARTING, True),
    StopCase("terminate", S.RUNNING, S.RUNNING, True),
]


@pytest.mark.parametrize(
    "case", STOP_CASES, ids=lambda c: f"{c.request}_when_{c.state.value.lower()}"
)
def test_cancel_and_terminate_in_every_state(case: StopCase) -> None:
    world = World()
    for step in STATE_SETUPS[case.state]:
        step(world)
    job = world.jobs["j"]
    assert job.status == case.state
    actions = world.request("j", case.request, "operator said so")
    assert job.status == case.status_after
    stops = [a for a in actions if isinstance(a, StopPod)]
    assert bool(stops) == case.stops_pod
    if case.status_after == S.FAILED:
        assert job.reason == "operator said so"
    if stops:
        assert stops[0].grace_seconds == 30
        # The pod ends: the job fails with the caller's reason and is not retried.
        world.finish("j", 143)
        assert job.status == S.FAILED
        assert job.reason == "operator said so"


def test_a_cancel_while_running_changes_nothing_not_even_later_retries() -> None:
    """AWS: CancelJob does nothing to a job past RUNNABLE; its retries go on."""
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    world.place("j")
    world.run("j")
    job = world.jobs["j"]
    world.request("j", "cancel", "stop")
    assert world.status_of("j") == S.RUNNING
    world.finish("j", 1)
    assert world.status_of("j") == S.RUNNABLE, "retried, as if no cancel had been asked"
    world.settle()
    assert world.status_of("j") == S.RUNNABLE, "the earlier cancel does not act on the retry"
    world.complete("j")
    assert (job.status, job.attempt_count) == (S.SUCCEEDED, 2)


def test_a_cancel_that_arrives_between_attempts_cancels() -> None:
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    world.complete("j", 1)
    job = world.jobs["j"]
    assert job.status == S.RUNNABLE
    world.request("j", "cancel", "stop")
    assert (job.status, job.reason) == (S.FAILED, "stop")


def test_a_cancel_seen_before_a_restart_does_not_act_again() -> None:
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    world.place("j")
    world.run("j")
    old = world.jobs["j"]
    world.request("j", "cancel", "stop")
    world.finish("j", 1)
    assert old.status == S.RUNNABLE
    saved = job_status(old, observed_generation=2)
    restored = restore_record(
        old.namespace, old.name, old.uid, old.spec, old.created_at, saved, generation=2
    )
    world.jobs["j"] = restored
    world.settle()
    assert restored.status == S.RUNNABLE


def test_terminated_job_is_never_retried_even_with_attempts_left() -> None:
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    world.place("j")
    world.run("j")
    job = world.jobs["j"]
    world.request("j", "terminate", "bye")
    world.lose("j")
    assert (job.status, job.reason, job.attempt_count) == (S.FAILED, "bye", 1)


def test_repeated_terminate_stops_the_pod_once() -> None:
    world = World()
    world.submit("j")
    world.place("j")
    job = world.jobs["j"]
    first = world.request("j", "terminate", "bye")
    second = job.update_spec(job.spec, world.now)
    assert len([a for a in first if isinstance(a, StopPod)]) == 1
    assert [a for a in second if isinstance(a, StopPod)] == []


# -- timeout ---------------------------------------------------------------------------


def test_timeout_clock_starts_when_the_attempt_starts() -> None:
    world = World()
    world.submit("j", timeout={"attemptDurationSeconds": 60})
    world.place("j")
    world.advance(100)  # STARTING for 100 s: not yet counted
    world.run("j")
    assert world.advance(59) == []
    (stop,) = world.advance(1)
    assert isinstance(stop, StopPod)
    assert (stop.grace_seconds, stop.reason) == (30, TIMED_OUT)


def test_timed_out_attempt_fails_and_is_not_retried() -> None:
    world = World()
    world.submit("j", timeout={"attemptDurationSeconds": 60}, retryStrategy=RETRY_3)
    world.place("j")
    world.run("j")
    world.advance(60)
    world.finish("j", 143)
    job = world.jobs["j"]
    assert (job.status, job.reason, job.attempt_count) == (S.FAILED, TIMED_OUT, 1)


def test_job_timeout_overrides_the_definitions() -> None:
    world = World()
    world.define("def", timeout={"attemptDurationSeconds": 600})
    world.submit("j", timeout={"attemptDurationSeconds": 60})
    world.place("j")
    world.run("j")
    assert world.jobs["j"].next_deadline() == world.now + timedelta(seconds=60)


def test_timeout_applies_per_attempt() -> None:
    world = World()
    world.submit("j", timeout={"attemptDurationSeconds": 60}, retryStrategy=RETRY_3)
    world.place("j")
    world.run("j")
    world.advance(50)
    world.finish("j", 1)  # failed within its time: retried
    world.place("j")
    world.run("j")
    assert world.advance(50) == []
    assert world.advance(10) != []


# -- pods that vanish or cannot start ----------------------------------------------------


def test_lost_pod_is_retryable_like_a_reclaimed_host() -> None:
    world = World()
    world.submit(
        "j",
        retryStrategy={
            "attempts": 2,
            "evaluateOnExit": [
                {"onStatusReason": "Host EC2*", "action": "RETRY"},
                {"onReason": "*", "action": "EXIT"},
            ],
        },
    )
    world.place("j")
    world.run("j")
    world.lose("j")
    job = world.jobs["j"]
    assert job.status == S.RUNNABLE
    assert job.history[-1].status_reason == "Host EC2 (instance node-1) terminated."


def test_image_pull_failure_fails_the_attempt_and_frees_the_node() -> None:
    world = World()
    world.submit("j")
    world.place("j")
    actions = world.observe(
        "j", None, PodPhase.PENDING, reason="ErrImagePull", message="no such image"
    )
    job = world.jobs["j"]
    assert job.status == S.FAILED
    assert job.history[-1].reason == "CannotPullContainerError: no such image"
    assert job.history[-1].status_reason == "Task failed to start"
    assert any(isinstance(a, StopPod) for a in actions)


def test_out_of_memory_is_reported_with_aws_wording() -> None:
    world = World()
    world.submit("j")
    world.place("j")
    world.run("j")
    world.finish("j", 137, reason="OOMKilled")
    attempt = world.jobs["j"].history[-1]
    assert (attempt.exit_code, attempt.reason) == (
        137,
        "OutOfMemoryError: Container killed due to memory usage",
    )


def test_placement_creates_one_deterministic_pod_per_attempt() -> None:
    world = World()
    world.submit("j", retryStrategy=RETRY_3)
    first = world.place("j")
    world.finish("j", 1)
    second = world.place("j")
    assert isinstance(first, CreatePod)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.pod_name != second.pod_name
    assert first.pod_name == world.jobs["j"].pod_name(None, 1)


def test_the_first_attempt_is_attempt_1() -> None:
    world = World()
    world.submit("j")
    assert world.place("j").attempt == 1
