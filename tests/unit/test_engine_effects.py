"""Effects are level-triggered: what the engine wants is sent until the API shows it, and
capacity is what every pod on a node holds. Each test is a defect the old World had (or a
refusal a real API server makes), driven through the engine with an in-memory API."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from kubatch.api.common import JobStatus
from kubatch.core.jobs.attempts import PodPhase
from kubatch.core.jobs.persistence import job_status
from kubatch.core.jobs.retry import TIMED_OUT
from kubatch.core.outbox.effects import (
    CreateObject,
    DeleteObject,
    Effect,
    Failure,
    PatchObject,
    WriteStatus,
)
from kubatch.core.outbox.wanted import IntentTimes
from kubatch.core.scheduling.placement import INSUFFICIENT_CAPACITY
from tests.support.engine import (
    INVALID,
    SERVICE_ACCOUNT_MISSING,
    UNAVAILABLE,
    batch_job,
    cluster,
    foreign_pod,
    node,
    served,
)
from tests.support.manifests import job_definition

ONE_CPU = {"resourceRequirements": [{"type": "VCPU", "value": "1"}]}
TWO_CPUS = {"resourceRequirements": [{"type": "VCPU", "value": "2"}]}


def failing(kind: type, times: int, failure: Failure) -> Any:
    """Fail the first `times` effects of a kind (of pods only, for creates, deletes, patches)."""
    left = {"n": times}

    def fail(effect: Effect) -> Failure | None:
        if not isinstance(effect, kind):
            return None
        if (
            isinstance(effect, CreateObject | DeleteObject | PatchObject)
            and effect.plural != "pods"
        ):
            return None
        if left["n"] <= 0:
            return None
        left["n"] -= 1
        return failure

    return fail


def test_a_timeout_whose_stop_fails_is_sent_again() -> None:
    definition = job_definition(timeout={"attemptDurationSeconds": 60})
    api = cluster(batch_job("j"), nodes=(node("n1"),), definition=definition)
    api.step()
    pod = api.pod_of("j")
    api.run(pod)
    api.fail = failing(PatchObject, 2, UNAVAILABLE)
    api.step(61)
    assert api.deadlines(pod) == 1
    for _ in range(10):
        api.step(5)
    assert api.deadlines(pod) == 3, "the failed stops were sent again until one went through"
    assert api.deletes(pod) == 0
    assert api.status("j") == JobStatus.FAILED
    assert job_status(api.record("j")).status_reason == TIMED_OUT


@pytest.mark.parametrize(
    ("case", "bound", "refusal", "kubelet_acts", "by_deadline", "deleted"),
    [
        # The kubelet stops it (SIGTERM, then SIGKILL after the grace period): the pod stays,
        # with its container's log, as AWS keeps a stopped attempt's log.
        ("running_on_a_node", True, None, True, True, False),
        # Not on a node yet: nothing runs and nothing logged; it is deleted.
        ("not_on_a_node_yet", False, None, True, False, True),
        # A server that will not lower the deadline: deleted instead.
        ("deadline_refused", True, INVALID, True, True, True),
        # The node does not act (its kubelet is gone): deleted after the grace period and
        # a minute.
        ("its_node_does_not_act", True, None, False, True, True),
    ],
    ids=lambda v: v if isinstance(v, str) and "_" in v else "",
)
def test_a_terminated_attempt_is_stopped_on_its_node_and_keeps_its_pod(
    case: str,
    bound: bool,
    refusal: Failure | None,
    kubelet_acts: bool,
    by_deadline: bool,
    deleted: bool,
) -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.step()
    pod = api.pod_of("j")
    if bound:
        api.run(pod)
    api.kubelet_acts = kubelet_acts
    if refusal is not None:
        api.fail = failing(PatchObject, 1, refusal)
    api.request("j", "terminate", "not needed")
    for _ in range(20):
        api.step(5)
    assert (api.deadlines(pod) > 0, api.deletes(pod) > 0) == (by_deadline, deleted)
    assert (pod in api.pods) == (not deleted)
    assert api.status("j") == JobStatus.FAILED
    assert job_status(api.record("j")).status_reason == "not needed"


def test_a_refused_pod_frees_its_capacity_at_once() -> None:
    api = cluster(
        batch_job("a", containerOverrides=TWO_CPUS),
        batch_job("b", containerOverrides=TWO_CPUS),
        nodes=(node("n1", cpu="2"),),
    )
    api.fail = failing(CreateObject, 1, INVALID)
    api.step()
    assert api.status("b") == JobStatus.RUNNABLE, "a holds n1 while its pod is on its way"
    api.step(1)  # the refusal is read: in the same step, a fails and b takes n1
    assert api.status("a") == JobStatus.FAILED
    reason = job_status(api.record("a")).attempts[0].reason or ""
    assert reason.startswith("CannotCreateContainerError: the API server refused the pod: 422")
    assert api.status("b") == JobStatus.STARTING


def test_a_pod_refused_until_the_service_account_exists_is_sent_again() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.fail = failing(CreateObject, 2, SERVICE_ACCOUNT_MISSING)
    for _ in range(6):
        api.step(2)
    pod = api.pod_of("j")
    assert api.creates(pod) == 3
    assert pod in api.pods
    api.run(pod)
    api.step()
    assert api.status("j") == JobStatus.RUNNING
    assert api.record("j").attempt_count == 1


def test_a_create_that_keeps_failing_ends_the_attempt_at_the_deadline() -> None:
    times = IntentTimes(create_deadline=timedelta(seconds=30))
    api = cluster(batch_job("j"), nodes=(node("n1"),), times=times)
    api.fail = failing(CreateObject, 1000, UNAVAILABLE)
    api.step()
    for _ in range(5):
        api.step(5)
    assert api.status("j") == JobStatus.STARTING, "still trying within the deadline"
    api.step(10)
    assert api.status("j") == JobStatus.FAILED
    reason = job_status(api.record("j")).attempts[0].reason or ""
    assert "refused the pod: 503" in reason
    assert api.creates(api.pod_of("j")) == 3, "sent again after each failure, with back-off"


def test_a_pod_the_server_created_but_the_watch_shows_late_is_not_failed_at_the_deadline() -> None:
    """The create deadline is for pods the server refuses or never answers for: one it
    created (and confirms again at each resync, AlreadyExists) waits for its watch event,
    as a watch running late under load delivers it."""
    times = IntentTimes(create_deadline=timedelta(seconds=30))
    api = cluster(batch_job("j"), nodes=(node("n1"),), times=times)
    api.late = lambda effect: isinstance(effect, CreateObject) and effect.plural == "pods"
    api.step()
    pod = api.pod_of("j")
    for _ in range(12):
        api.step(10)
    assert api.status("j") == JobStatus.STARTING, "two minutes unseen, and still waited for"
    assert api.creates(pod) > 1, "asked again at each resync: the server says it exists"
    api.reveal(pod)
    api.run(pod)
    api.step()
    assert api.status("j") == JobStatus.RUNNING
    assert api.record("j").attempt_count == 1


def test_a_pod_whose_create_was_lost_is_created_again_at_resync() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    lost = {"n": 0}

    def lose_first_create(effect: Effect) -> bool:
        if isinstance(effect, CreateObject) and effect.plural == "pods" and lost["n"] == 0:
            lost["n"] = 1
            return True
        return False

    api.lose = lose_first_create
    api.step()
    pod = api.pod_of("j")
    assert pod not in api.pods
    api.step(30)
    assert api.creates(pod) == 1, "no answer yet: nothing is sent twice at once"
    api.step(31)
    assert api.creates(pod) == 2, "unanswered for a minute: taken as lost and sent again"
    assert pod in api.pods


@pytest.mark.parametrize("restart", [False, True], ids=["same_operator", "after_a_restart"])
def test_a_pod_that_is_never_scheduled_fails_its_attempt_at_the_deadline(restart: bool) -> None:
    """The deadline counts from the pod's creation, also for an operator that started since."""
    times = IntentTimes(schedule_deadline=timedelta(seconds=30))
    api = cluster(batch_job("j", retryStrategy={"attempts": 2}), nodes=(node("n1"),), times=times)
    api.step()
    first = api.pod_of("j")
    assert first in api.pods, "created, and no scheduler ever binds it"
    api.step(20)
    if restart:
        api.restart()
        api.step()
    assert api.status("j") == JobStatus.STARTING
    api.step(11)
    detail = job_status(api.record("j")).attempts[0]
    assert detail.reason is not None
    assert detail.reason.startswith("ResourceInitializationError: the pod was not scheduled")
    assert first not in api.pods, "the unschedulable pod was deleted"
    api.step(1)
    assert api.pod_of("j", attempt=2) in api.pods, "the retry strategy gives it a second attempt"


@pytest.mark.parametrize(
    ("foreign_cpu", "daemonset", "placed"),
    [("3", False, False), ("3", True, False), ("1", False, True)],
    ids=["other_workload_fills_the_node", "daemonset_fills_the_node", "room_left"],
)
def test_a_pod_that_is_not_kubatchs_holds_capacity_on_its_node(
    foreign_cpu: str, daemonset: bool, placed: bool
) -> None:
    api = cluster(batch_job("j", containerOverrides=TWO_CPUS), nodes=(node("n1", cpu="4"),))
    api.engine.observe_pod(foreign_pod("web", "n1", foreign_cpu, daemonset), api.now)
    api.step()
    expected = JobStatus.STARTING if placed else JobStatus.RUNNABLE
    assert api.status("j") == expected
    if not placed:
        assert api.record("j").blocker == INSUFFICIENT_CAPACITY
        api.engine.observe_pod(foreign_pod("web", "n1", foreign_cpu, daemonset), api.now, True)
        api.step(1)
        assert api.status("j") == JobStatus.STARTING, "placed once the other pod is gone"


def test_a_daemonsets_pod_does_not_keep_a_node_from_being_idle() -> None:
    api = cluster(nodes=(node("n1"),))
    api.engine.observe_pod(foreign_pod("agent", "n1", "100m", daemonset=True), api.now)
    api.engine.observe_pod(foreign_pod("web", "n2", "100m"), api.now)
    n1 = api.engine.store.nodes["n1"]
    assert n1.busy == 0
    assert n1.idle_since is not None
    assert n1.used.millicpu == 100


def test_a_pod_waiting_for_the_scheduler_counts_on_the_node_it_is_pinned_to() -> None:
    api = cluster(
        *(batch_job(name, containerOverrides=ONE_CPU) for name in "abc"),
        nodes=(node("n1", cpu="2"),),
    )
    api.step()
    assert [api.status(n) for n in "abc"] == [
        JobStatus.STARTING,
        JobStatus.STARTING,
        JobStatus.RUNNABLE,
    ]
    # Both pods are now seen, not yet bound by the scheduler: they still hold n1.
    for _ in range(3):
        api.step(1)
    assert api.status("c") == JobStatus.RUNNABLE
    assert api.engine.store.nodes["n1"].free.millicpu == 0


def test_a_failed_status_write_is_sent_again() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.fail = failing(WriteStatus, 3, UNAVAILABLE)
    api.settle(steps=8, seconds=2)
    written = api.statuses[("batchjobs", "default/j")]
    assert written["status"] == JobStatus.STARTING.value


def test_a_status_changed_behind_the_engines_back_is_put_right() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.settle()
    obj: dict[str, Any] = {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": "j", "namespace": "default", "resourceVersion": "999999"},
        "status": {"status": "SUCCEEDED"},
    }
    api.engine.book.observed("batchjobs", obj, 999999)
    api.step(1)
    assert api.statuses[("batchjobs", "default/j")]["status"] == JobStatus.STARTING.value


def test_restart_judges_an_attempt_that_ended_meanwhile_with_its_retry_strategy() -> None:
    """Issue: a pod that failed while the operator was down was judged without the retry
    strategy (its definition was resolved after adoption), so the job FAILED."""
    first = cluster(batch_job("j", retryStrategy={"attempts": 2}), nodes=(node("n1"),))
    first.settle()
    pod = first.pod_of("j")
    first.run(pod)
    first.settle()
    # The operator goes away; the attempt fails meanwhile.
    first.finish(pod, exit_code=1)
    status = first.statuses[("batchjobs", "default/j")]
    assert status["status"] == JobStatus.RUNNING.value
    job = batch_job("j", retryStrategy={"attempts": 2})
    job["status"] = status
    job["metadata"]["uid"] = first.record("j").uid
    second = cluster(nodes=(node("n1"),))
    engine = second.engine
    engine.started = False
    engine.upsert_job(
        {**job, "metadata": {**job["metadata"], "resourceVersion": "5", "generation": 1}},
        second.now,
    )
    engine.observe_pod(first.pods[pod], second.now)
    engine.start(second.now)
    second.pods = dict(first.pods)
    second.settle()
    assert second.status("j") == JobStatus.STARTING, "retried, not FAILED"
    assert second.record("j").attempt_count == 2


def test_a_starting_attempt_whose_pod_never_existed_is_placed_again_under_its_number() -> None:
    first = cluster(batch_job("j"), nodes=(node("n1"),))
    first.lose = lambda effect: isinstance(effect, CreateObject)
    first.settle()
    status = first.statuses[("batchjobs", "default/j")]
    assert status["status"] == JobStatus.STARTING.value
    job = batch_job("j")
    job["status"] = status
    second = cluster(nodes=(node("n1"),))
    engine = second.engine
    engine.started = False
    uid = first.record("j").uid
    engine.upsert_job(
        {**job, "metadata": {**job["metadata"], "uid": uid, "resourceVersion": "5"}}, second.now
    )
    engine.start(second.now)
    second.settle()
    assert second.status("j") == JobStatus.STARTING
    assert second.record("j").attempt_count == 1
    assert second.pod_of("j") in second.pods


def test_every_step_leaves_the_indexes_sound() -> None:
    api = cluster(
        *(batch_job(f"j{i}", containerOverrides=ONE_CPU) for i in range(6)),
        nodes=(node("n1", cpu="2"), node("n2", cpu="2")),
    )
    for _ in range(6):
        api.step(1)
        for key in list(api.pods):
            if api.pods[key]["status"]["phase"] == PodPhase.PENDING:
                api.run(key)
            else:
                api.finish(key)
        assert api.engine.check() == []
    assert all(api.status(f"j{i}") == JobStatus.SUCCEEDED for i in range(6))


def test_a_restart_catches_up_with_an_attempt_whose_status_was_never_written() -> None:
    """Pods are created before the status that records them: a restart in between finds
    a pod of attempt 2 while the status still says attempt 1 runs. Attempts == pods after."""
    api = cluster(batch_job("j", retryStrategy={"attempts": 3}), nodes=(node("n1"),))
    api.settle()
    first = api.pod_of("j")
    api.run(first)
    api.settle()
    api.fail = lambda effect: UNAVAILABLE if isinstance(effect, WriteStatus) else None
    api.finish(first, exit_code=1)
    api.settle()
    second = api.pod_of("j", attempt=2)
    assert second in api.pods
    assert api.statuses[("batchjobs", "default/j")]["attemptCount"] == 1, "status behind"
    api.run(second)
    api.fail = lambda effect: None
    api.restart()
    api.settle()
    record = api.record("j")
    assert (record.status, record.attempt_count) == (JobStatus.RUNNING, 2)
    assert api.creates(api.pod_of("j", attempt=3)) == 0
    assert api.deletes(second) == 0, "the running attempt is adopted, not stopped"
    assert api.statuses[("batchjobs", "default/j")]["attemptCount"] == 2
    api.finish(second)
    api.settle()
    assert api.status("j") == JobStatus.SUCCEEDED
    pods = [k for k in api.pods if k.startswith("default/j-")]
    assert len(pods) == api.record("j").attempt_count == 2


def test_a_restart_before_any_status_was_written_still_judges_with_the_retry_strategy() -> None:
    """Found by the chaos test: the job was placed and its pod created, but no status was
    written before the operator died; the attempt failed meanwhile."""
    api = cluster(batch_job("j", retryStrategy={"attempts": 2}), nodes=(node("n1"),))
    api.fail = lambda effect: UNAVAILABLE if isinstance(effect, WriteStatus) else None
    api.settle()
    pod = api.pod_of("j")
    api.run(pod)
    api.finish(pod, exit_code=1)
    assert ("batchjobs", "default/j") not in api.statuses
    api.fail = lambda effect: None
    api.restart()
    api.settle()
    record = api.record("j")
    assert (record.status, record.attempt_count) == (JobStatus.STARTING, 2)


def test_deregistering_a_revision_affects_only_new_submissions() -> None:
    api = cluster(
        batch_job("long"),
        batch_job("w", dependsOn=[{"jobName": "long"}]),
        nodes=(node("n1"),),
    )
    api.settle()
    assert api.record("w").revision == 1, "pinned when accepted"
    definition = copy.deepcopy(next(o for o in api.objects if o["kind"] == "JobDefinition"))
    definition["spec"]["deregisteredRevisions"] = [1]
    definition["metadata"]["resourceVersion"] = str(next(api.versions))
    definition["metadata"]["generation"] = 2
    api.engine.upsert_definition(definition, api.now)
    api.engine.upsert_job(served(batch_job("late")), api.now)
    pod = api.pod_of("long")
    api.run(pod)
    api.finish(pod)
    api.settle()
    assert api.status("w") == JobStatus.STARTING, "w keeps its pinned revision"
    late = api.record("late")
    assert late.status == JobStatus.FAILED
    assert late.reason == "JobDefinition def1 has no ACTIVE revision"


# -- a new listing after the watch was lost ----------------------------------------------------


def test_a_pod_deleted_while_nobody_watched_ends_its_attempt_at_the_next_listing() -> None:
    api = cluster(batch_job("j", retryStrategy={"attempts": 2}), nodes=(node("n1"),))
    api.step()
    pod = api.pod_of("j")
    api.run(pod)
    api.step(1)
    del api.pods[pod]  # deleted during a watch gap: no event came
    api.engine.unlisted("pods", set(api.pods), api.now)
    api.step(1)
    status = job_status(api.record("j"))
    assert status.attempts[0].status_reason == "Host EC2 (instance n1) terminated."
    assert (status.status, status.attempt_count) == ("STARTING", 2), "retried at once"
    assert pod not in api.engine.store.pods, "its capacity is free"


def test_a_job_deleted_while_nobody_watched_is_forgotten_at_the_next_listing() -> None:
    api = cluster(batch_job("a"), batch_job("b"), nodes=(node("n1"),))
    api.step()
    api.engine.unlisted("batchjobs", {"default/b"}, api.now)
    assert set(api.engine.store.jobs) == {("default", "b")}
    assert api.engine.check() == []


POLICY = {
    "apiVersion": "kubatch.io/v1alpha1",
    "kind": "SchedulingPolicy",
    "metadata": {"name": "fair"},
    "spec": {"fairsharePolicy": {}},
}
SCHEDULE = {
    "apiVersion": "kubatch.io/v1alpha1",
    "kind": "ScheduledJob",
    "metadata": {"name": "nightly", "namespace": "default"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {"jobQueue": "q1", "jobDefinition": "def1"},
    },
}


@pytest.mark.parametrize(
    ("plural", "held", "key"),
    [
        ("batchjobs", "jobs", ("default", "a")),
        ("scheduledjobs", "crons", ("default", "nightly")),
        ("jobdefinitions", "definitions", ("default", "def1")),
        ("computeenvironments", "envs", "ce1"),
        ("jobqueues", "queues", "q1"),
        ("schedulingpolicies", "policies", "fair"),
        ("nodes", "nodes", "n1"),
    ],
)
def test_every_kind_deleted_while_nobody_watched_is_forgotten_at_its_next_listing(
    plural: str, held: str, key: Any
) -> None:
    """A watch lost and listed again: what the list lacks went meanwhile, whatever its kind
    (kopf's watches, which once fed the platform's kinds, never said so)."""
    api = cluster(batch_job("a"), nodes=(node("n1"),))
    api.engine.upsert_policy(served(POLICY), api.now)
    api.engine.upsert_cron(served(SCHEDULE), api.now)
    api.step()
    store = getattr(api.engine.store, held)
    listed = key if isinstance(key, str) else "/".join(key)
    api.engine.unlisted(plural, {listed}, api.now)
    assert key in store, "a listed object stays"
    api.engine.unlisted(plural, set(), api.now)
    api.step(1)
    assert key not in store
    assert api.engine.check() == []


def test_a_pod_still_on_its_way_is_not_taken_as_deleted_by_a_listing() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.lose = lambda effect: isinstance(effect, CreateObject) and effect.plural == "pods"
    api.step()
    pod = api.pod_of("j")
    assert api.engine.store.pods[pod].assumed
    api.engine.unlisted("pods", set(api.pods), api.now)
    api.step(1)
    assert api.status("j") == JobStatus.STARTING
    assert pod in api.engine.store.pods, "the placement still holds its node"
