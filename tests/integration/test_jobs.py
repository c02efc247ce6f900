"""From kubectl apply to a finished job: the operator, the simulated cluster and the API
server as separate processes over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tests.support.cluster import wait_for
from tests.support.system import Scenario

# A container that ends on SIGTERM (without a trap, PID 1 ignores it: SIGKILL after 30 s).
LONG = {"duration": "600", "sigterm-exit-code": "143"}


def started(scenario: Scenario, name: str) -> datetime:
    return datetime.fromisoformat(scenario.status(name)["startedAt"].replace("Z", "+00:00"))


def test_single_job_succeeds_and_sees_aws_batch_variables(scenario: Scenario) -> None:
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    scenario.job("hello", queue)
    status = scenario.wait("hello", "SUCCEEDED")
    assert status["attemptCount"] == 1
    assert status["computeEnvironment"] == ce
    (pod,) = scenario.pods("hello")
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    uid = scenario.get("hello")["metadata"]["uid"]
    assert env["AWS_BATCH_JOB_ID"] == uid
    assert env["AWS_BATCH_JQ_NAME"] == queue
    assert env["AWS_BATCH_CE_NAME"] == ce
    assert env["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert pod.spec.containers[0].args == ["echo", "hello"]
    wait_for(
        lambda: {"Runnable", "Starting", "Running", "Succeeded"} <= set(scenario.events("hello")),
        what="an event for every transition",
    )


def test_failures_are_retried_by_the_retry_strategy(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition(retryStrategy={"attempts": 3})
    scenario.job("flaky", queue, sim={"fail-attempts": "2", "exit-code": "3"})
    status = scenario.wait("flaky", "SUCCEEDED")
    assert status["attemptCount"] == 3
    assert [a["exitCode"] for a in status["attempts"]] == [3, 3, 0]
    assert len(scenario.pods("flaky")) == 3


def test_evaluate_on_exit_stops_retries(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition(
        retryStrategy={
            "attempts": 5,
            "evaluateOnExit": [
                {"onExitCode": "3", "action": "EXIT"},
                {"onExitCode": "*", "action": "RETRY"},
            ],
        }
    )
    scenario.job("exits", queue, sim={"exit-code": "3"})
    status = scenario.wait("exits", "FAILED")
    assert status["attemptCount"] == 1
    assert status["statusReason"] == "Essential container in task exited"


def test_dependency_chain_runs_in_order(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition()
    scenario.job("c", queue, dependsOn=[{"jobName": "b"}])
    # Times have one-second resolution: running longer than that makes the order visible.
    scenario.job("b", queue, dependsOn=[{"jobName": "a"}], sim={"duration": "1.1"})
    scenario.job("a", queue, sim={"duration": "1.1"})
    scenario.wait("c", "SUCCEEDED")
    assert started(scenario, "a") < started(scenario, "b") < started(scenario, "c")


def test_a_failed_dependency_fails_its_dependents(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition()
    scenario.job("a", queue, sim={"exit-code": "1"})
    scenario.job("b", queue, dependsOn=[{"jobName": "a"}])
    scenario.job("c", queue, dependsOn=[{"jobName": "b"}])
    assert scenario.wait("b", "FAILED")["statusReason"] == "Dependent job a failed"
    assert scenario.wait("c", "FAILED")["statusReason"] == "Dependent job b failed"
    assert scenario.pods("b") == []


def test_arrays_with_sequential_and_n_to_n_dependencies(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=32),))
    scenario.definition()
    scenario.job(
        "first",
        queue,
        arrayProperties={"size": 3},
        dependsOn=[{"type": "SEQUENTIAL"}],
        sim={"duration": "0.3"},
    )
    scenario.job(
        "second",
        queue,
        arrayProperties={"size": 3},
        dependsOn=[{"jobName": "first", "type": "N_TO_N"}],
    )
    status = scenario.wait("second", "SUCCEEDED")
    assert status["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    first = {int(p.metadata.labels["kubatch.io/array-index"]): p for p in scenario.pods("first")}
    second = {int(p.metadata.labels["kubatch.io/array-index"]): p for p in scenario.pods("second")}
    finished = {
        i: p.status.container_statuses[0].state.terminated.finished_at for i, p in first.items()
    }
    for i in (1, 2):
        assert first[i].metadata.creation_timestamp >= finished[i - 1], (
            "SEQUENTIAL runs in index order"
        )
    for i in range(3):
        assert second[i].metadata.creation_timestamp >= finished[i], (
            "N_TO_N waits for the same child"
        )
    env = {e.name: e.value for e in second[2].spec.containers[0].env}
    assert env["AWS_BATCH_JOB_ARRAY_INDEX"] == "2"
    assert env["AWS_BATCH_JOB_ID"].endswith(":2")


# -- cancel and terminate in every state -------------------------------------------------

Setup = Callable[[Scenario, str, str], None]


def _submitted(s: Scenario, queue: str, name: str) -> None:
    s.job(name, queue, definition="not-yet")


def _pending(s: Scenario, queue: str, name: str) -> None:
    s.job(f"{name}-dep", queue, sim=LONG)
    s.job(name, queue, dependsOn=[{"jobName": f"{name}-dep"}])


def _runnable(s: Scenario, queue: str, name: str) -> None:
    s.job(
        name, queue, containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "64"}]}
    )


def _starting(s: Scenario, queue: str, name: str) -> None:
    s.job(name, queue, sim={"start-delay": "600", "sigterm-exit-code": "143"})


def _running(s: Scenario, queue: str, name: str) -> None:
    s.job(name, queue, sim=LONG)


STATES: dict[str, Setup] = {
    "SUBMITTED": _submitted,
    "PENDING": _pending,
    "RUNNABLE": _runnable,
    "STARTING": _starting,
    "RUNNING": _running,
}


@pytest.mark.parametrize(
    ("request_kind", "state", "after"),
    [
        ("cancel", "SUBMITTED", "FAILED"),
        ("cancel", "PENDING", "FAILED"),
        ("cancel", "RUNNABLE", "FAILED"),
        ("cancel", "STARTING", "STARTING"),
        ("cancel", "RUNNING", "RUNNING"),
        ("terminate", "SUBMITTED", "FAILED"),
        ("terminate", "PENDING", "FAILED"),
        ("terminate", "RUNNABLE", "FAILED"),
        ("terminate", "STARTING", "FAILED"),
        ("terminate", "RUNNING", "FAILED"),
    ],
    ids=lambda v: v.lower() if isinstance(v, str) else "",
)
def test_cancel_and_terminate(
    scenario: Scenario, request_kind: str, state: str, after: str
) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition()
    STATES[state](scenario, queue, "job")
    scenario.wait("job", state)
    scenario.patch("job", {request_kind: {"reason": "not needed any more"}})
    if after == state:
        wait_for(
            lambda: scenario.get("job")["status"].get("observedGeneration") == 2,
            what="the operator to see the request",
        )
        assert scenario.status("job")["status"] == state
        return
    status = scenario.wait("job", after)
    assert status["statusReason"] == "not needed any more"
    if state in ("STARTING", "RUNNING"):
        # Stopped on its node, the pod stays (with its log), ended.
        wait_for(
            lambda: [p.status.phase for p in scenario.pods("job")] == ["Failed"],
            what="the stopped pod to end",
        )


# -- queues and environments ---------------------------------------------------------------


def test_higher_priority_queue_goes_first_on_a_shared_environment(scenario: Scenario) -> None:
    ce = scenario.environment(maxvCpus=4, spec={"state": "DISABLED"})
    low = scenario.queue("low", (ce,), priority=1)
    high = scenario.queue("high", (ce,), priority=100)
    scenario.definition(
        container={
            "resourceRequirements": [
                {"type": "VCPU", "value": "3"},
                {"type": "MEMORY", "value": "1024"},
            ]
        }
    )
    # One job at a time (maxvCpus 4), each longer than the one-second resolution of times.
    for name, queue in (("low1", low), ("low2", low), ("high1", high), ("high2", high)):
        scenario.job(name, queue, sim={"duration": "1.1"})
    for name in ("low1", "high1"):
        scenario.wait(name, "RUNNABLE")
    scenario.kube.custom.patch_cluster_custom_object(
        "kubatch.io", "v1alpha1", "computeenvironments", ce, {"spec": {"state": "ENABLED"}}
    )
    for name in ("low1", "low2", "high1", "high2"):
        scenario.wait(name, "SUCCEEDED")
    order = sorted(["low1", "low2", "high1", "high2"], key=lambda n: started(scenario, n))
    assert set(order[:2]) == {"high1", "high2"}


def test_environment_order_falls_back_to_the_next(scenario: Scenario) -> None:
    first = scenario.environment("first", maxvCpus=4)
    second = scenario.environment("second", maxvCpus=16)
    queue = scenario.queue(environments=(first, second))
    scenario.definition(
        container={
            "resourceRequirements": [
                {"type": "VCPU", "value": "3"},
                {"type": "MEMORY", "value": "1024"},
            ]
        }
    )
    for name in ("a", "b", "c"):
        scenario.job(name, queue, sim={"duration": "3"})
    places = sorted(scenario.wait(n, "SUCCEEDED")["computeEnvironment"] for n in ("a", "b", "c"))
    assert places == [first, second, second]


def test_a_disabled_queue_refuses_new_jobs(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),), state="DISABLED")
    scenario.definition()
    scenario.job("refused", queue)
    status = scenario.wait("refused", "FAILED")
    assert status["statusReason"] == f"JobQueue {queue} is DISABLED and accepts no new jobs"


def test_a_disabled_environment_takes_no_jobs_and_does_not_grow(scenario: Scenario) -> None:
    ce = scenario.environment(spec={"state": "DISABLED"})
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    scenario.job("waits", queue)
    wait_for(
        lambda: (
            scenario.status("waits").get("statusReason") == "CAPACITY:COMPUTE_ENVIRONMENT_DISABLED"
        ),
        what="the blocker to be reported",
    )
    nodes = scenario.kube.core.list_node(
        label_selector=f"kubatch.io/compute-environment={ce}"
    ).items
    assert nodes == []


def test_a_job_too_large_for_any_environment_says_why(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=16),))
    scenario.definition()
    scenario.job(
        "huge",
        queue,
        containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "64"}]},
    )
    scenario.job("small", queue)
    ce = scenario.name("ce")
    wait_for(
        lambda: (
            scenario.status("huge").get("statusReason")
            == "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - the job needs 64 vCPU, "
            f"1024 MiB; {ce}: maxvCpus 16, nodes of at most 4 vCPU, 15400 MiB"
        ),
        what="the blocker to be reported, with what was asked and what is there",
    )
    scenario.wait("small", "SUCCEEDED")
    assert scenario.status("huge")["status"] == "RUNNABLE"


def test_operator_restart_mid_run_loses_and_repeats_nothing(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=8),))
    scenario.definition()
    scenario.job("many", queue, arrayProperties={"size": 24}, sim={"duration": "1"})
    wait_for(
        lambda: (
            (scenario.status("many").get("arrayProperties") or {})
            .get("statusSummary", {})
            .get("SUCCEEDED", 0)
            >= 4
        ),
        what="a few children to finish",
    )
    scenario.system.stop_operator()
    scenario.system.start_operator()
    status = scenario.wait("many", "SUCCEEDED", timeout=90)
    pods = scenario.pods("many")
    indexes = sorted(int(p.metadata.labels["kubatch.io/array-index"]) for p in pods)
    assert indexes == list(range(24)), "one pod per child: none lost, none started twice"
    assert {p.metadata.labels["kubatch.io/attempt"] for p in pods} == {"1"}
    assert status["attemptCount"] == 24
