"""Every attempt happens once, whatever happens to the operator: killed (SIGKILL) at any
moment, paused and resumed beside a standby, or cut off by an API server restart. At the end
every job has the outcome it would have had undisturbed, and its pods are its attempts."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from kubatch.sim.stack import Operator
from tests.support.cluster import wait_for
from tests.support.system import Scenario

G, V = "kubatch.io", "v1alpha1"
QUARTER = {"resourceRequirements": [{"type": "VCPU", "value": "0.25"}]}


def _flaky_running(scenario: Scenario, seconds: int) -> None:
    """The job "flaky": its first attempt runs `seconds` and exits 1, its second succeeds
    (retryStrategy attempts 2); returns once it is RUNNING."""
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=16),))
    scenario.definition()
    scenario.job(
        "flaky",
        queue,
        sim={"duration": str(seconds), "exit-code": "1", "fail-attempts": "1"},
        retryStrategy={"attempts": 2},
    )
    scenario.wait("flaky", "RUNNING", timeout=60)


def test_an_attempt_that_ends_while_the_operator_is_down_is_retried(scenario: Scenario) -> None:
    """The reproduction of issue 19: judged after the restart without the retry strategy,
    the job used to FAIL after one attempt."""
    _flaky_running(scenario, seconds=5)
    operator = scenario.system.operator
    operator.stop(kill=True)
    wait_for(
        lambda: any(p.status.phase == "Failed" for p in scenario.pods("flaky")),
        timeout=30,
        what="the first attempt to fail while the operator is down",
    )
    operator.start()
    status = scenario.wait("flaky", "SUCCEEDED", "FAILED", timeout=90)
    assert (status["status"], status["attemptCount"]) == ("SUCCEEDED", 2)
    assert len(scenario.pods("flaky")) == 2


def test_a_cancel_while_running_leaves_the_retries_alone(scenario: Scenario) -> None:
    _flaky_running(scenario, seconds=3)
    scenario.patch("flaky", {"cancel": {"reason": "not needed"}})
    status = scenario.wait("flaky", "SUCCEEDED", "FAILED", timeout=90)
    assert (status["status"], status["attemptCount"]) == ("SUCCEEDED", 2)


def test_jobs_fill_the_environment_exactly_under_a_real_scheduler(scenario: Scenario) -> None:
    """16 jobs of 1 vCPU on maxvCpus 16 run at once: no placement goes to a node that a pod
    waiting for the scheduler already holds (it used to, and waited Pending)."""
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=16),))
    scenario.definition()
    names = [f"j{i}" for i in range(16)]
    for name in names:
        scenario.job(name, queue, sim={"duration": "25"})

    def running() -> int:
        jobs = scenario.kube.custom.list_namespaced_custom_object(
            G, V, scenario.namespace, "batchjobs"
        )["items"]
        return sum((j.get("status") or {}).get("status") == "RUNNING" for j in jobs)

    wait_for(lambda: running() == 16, timeout=60, what="all 16 jobs to run at once")
    for name in names:
        assert scenario.wait(name, "SUCCEEDED", timeout=60)["attemptCount"] == 1


# -- chaos ---------------------------------------------------------------------------------


def _mix(scenario: Scenario, queue: str, count: int) -> dict[str, str]:
    """Submit `count` jobs (one of them an array of 100): singles that succeed, retried
    failures that succeed on their second attempt, failures for good. Returns the outcomes
    each should have."""
    rng = random.Random(count)
    expected: dict[str, str] = {}
    scenario.job(
        "array",
        queue,
        arrayProperties={"size": 100},
        containerOverrides=QUARTER,
        sim={"duration": "1"},
    )
    expected["array"] = "SUCCEEDED"
    for i in range(count - 1):
        name = f"j{i}"
        duration = str(rng.choice([1, 2, 3]))
        kind = i % 10
        if kind < 6:
            scenario.job(name, queue, containerOverrides=QUARTER, sim={"duration": duration})
            expected[name] = "SUCCEEDED"
        elif kind < 9:
            scenario.job(
                name,
                queue,
                containerOverrides=QUARTER,
                retryStrategy={"attempts": 2},
                sim={"duration": duration, "exit-code": "1", "fail-attempts": "1"},
            )
            expected[name] = "SUCCEEDED"
        else:
            scenario.job(
                name,
                queue,
                containerOverrides=QUARTER,
                sim={"duration": duration, "exit-code": "1"},
            )
            expected[name] = "FAILED"
    return expected


def _leader(operators: list[Operator]) -> Operator:
    def leading() -> Operator | None:
        for operator in operators:
            log = operator.log.read_text() if operator.log.exists() else ""
            if "leading as" in log and operator.proc is not None:
                return operator
        return None

    return wait_for(leading, timeout=60, what="a leader")


def _times_led(operator: Operator) -> int:
    return operator.log.read_text().count("leading as") if operator.log.exists() else 0


def _disrupt(scenario: Scenario, how: str, standby: Operator | None) -> Callable[[int], None]:
    system = scenario.system
    plane = scenario.kube.plane

    def once(moment: int) -> None:
        if how == "kill":
            operator = system.operator
            wait_for(
                lambda: operator.proc is not None and operator.proc.poll() is None,
                what="the operator to be up again",
            )
            operator.kill()
        elif how == "replicas":
            assert standby is not None
            leader = _leader([system.operator, standby])
            if moment % 2:
                leader.kill()
            else:
                other = standby if leader is system.operator else system.operator
                led = _times_led(other)
                leader.pause()
                wait_for(lambda: _times_led(other) > led, timeout=60, what="the standby to lead")
                leader.resume()
        else:
            assert plane is not None
            plane.restart_apiserver()

    return once


@pytest.mark.parametrize(
    ("how", "count", "moments"),
    [("kill", 300, 5), ("replicas", 150, 3), ("apiserver", 150, 2)],
    ids=["operator_killed", "leader_killed_and_paused", "api_server_restarted"],
)
def test_chaos_changes_no_outcome_and_repeats_no_attempt(
    scenario: Scenario, how: str, count: int, moments: int
) -> None:
    if how == "apiserver" and scenario.kube.plane is None:
        pytest.skip("the emulator keeps its objects in memory: a restart would lose them")
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=64),))
    scenario.definition()
    standby = None
    if how == "replicas":
        operator = scenario.system.operator
        standby = Operator(
            kubeconfig=operator.kubeconfig,
            workdir=operator.workdir / "standby",
            env=dict(operator.env),
        )
        standby.workdir.mkdir(exist_ok=True)
        standby.start()
    starts = scenario.system.operator.starts + (standby.starts if standby else 0)
    with _pods_seen(scenario) as seen:
        try:
            expected = _mix(scenario, queue, count)
            disrupt = _disrupt(scenario, how, standby)
            rng = random.Random(how)
            for moment in range(moments):
                time.sleep(rng.uniform(1.0, 4.0))
                disrupt(moment)
            outcomes = {
                name: scenario.wait(name, "SUCCEEDED", "FAILED", timeout=240) for name in expected
            }
            if how != "apiserver":
                # Every kill was a crash, and every paused leader exited on waking past its lease:
                # each came back (the last ones maybe after the jobs were done).
                wait_for(
                    lambda: (
                        scenario.system.operator.starts
                        + (standby.starts if standby else 0)
                        - starts
                        >= moments
                    ),
                    timeout=60,
                    what="every disrupted operator to start again",
                )
        finally:
            if standby is not None:
                standby.stop()
    wrong = {n: s for n, s in outcomes.items() if s["status"] != expected[n]}
    shown = list(wrong.items())[:3]
    assert not wrong, {n: (s["status"], s.get("statusReason"), s.get("attempts")) for n, s in shown}
    _pods_are_attempts(seen, outcomes)


Attempt = tuple[str, str | None, str]
"""(job, array index, attempt) as a pod's labels say them."""


@contextmanager
def _pods_seen(scenario: Scenario, interval: float = 0.5) -> Iterator[dict[str, Attempt]]:
    """Every pod of a job that exists at any moment of the run, by uid: the attempts made. A
    list at the end would miss those that the cluster removed since (the pod garbage
    collector deletes the pods of a node that scaled away); the API server may be down for a
    while, so a failed list is tried again."""
    seen: dict[str, Attempt] = {}
    done = threading.Event()

    def record() -> None:
        while True:
            try:
                pods = scenario.kube.core.list_namespaced_pod(
                    scenario.namespace, label_selector="kubatch.io/job-name", _request_timeout=10
                ).items
            except (ApiException, urllib3.exceptions.HTTPError, OSError):  # restarting
                pods = []
            for p in pods:
                labels = p.metadata.labels
                seen[p.metadata.uid] = (
                    labels["kubatch.io/job-name"],
                    labels.get("kubatch.io/array-index"),
                    labels["kubatch.io/attempt"],
                )
            if done.is_set():
                return
            done.wait(interval)

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(timeout=30)


def _pods_are_attempts(seen: dict[str, Attempt], outcomes: dict[str, dict[str, Any]]) -> None:
    runs = Counter(seen.values())
    assert [k for k, n in runs.items() if n > 1] == [], "a (job, index, attempt) ran twice"
    per_job = Counter(name for name, _, _ in runs)
    mismatched = {
        name: (per_job[name], status["attemptCount"])
        for name, status in outcomes.items()
        if per_job[name] != status["attemptCount"]
    }
    assert not mismatched, f"pods != attempts: {mismatched}"
