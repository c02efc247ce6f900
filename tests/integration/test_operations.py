"""Running Kubatch: metrics scraped over HTTP, and one scheduler among several replicas."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from kubatch.sim.stack import Operator
from tests.support.cluster import wait_for
from tests.support.system import Scenario


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def scrape_until(port: int, check: Callable[[dict[str, float]], bool]) -> dict[str, float]:
    def ready() -> dict[str, float] | None:
        samples = scrape(port)
        return samples if check(samples) else None

    return wait_for(ready, what="the metrics to show it")


def _scrape_or_none(port: int) -> dict[str, float] | None:
    try:
        return scrape(port)
    except OSError:
        return None


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    for key, number in samples.items():
        metric, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and all(found.get(k) == v for k, v in labels.items()):
            return number
    return 0.0


def test_metrics_move_as_jobs_do(scenario: Scenario) -> None:
    port = scenario.system.operator.metrics_port
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    before = wait_for(lambda: _scrape_or_none(port), what="the metrics endpoint")
    assert value(before, "kubatch_build_info") == 1
    assert value(before, "kubatch_leader") == 1
    scenario.job("long", queue, sim={"duration": "600", "sigterm-exit-code": "143"})
    scenario.wait("long", "RUNNING")
    running = scrape_until(
        port, lambda s: value(s, "kubatch_jobs", queue=queue, status="RUNNING") == 1
    )
    assert value(running, "kubatch_jobs_submitted_total", queue=queue) == 1
    assert value(running, "kubatch_attempts_total", queue=queue) == 1
    assert value(running, "kubatch_job_wait_seconds_count", queue=queue) == 1
    assert value(running, "kubatch_compute_environment_vcpus", environment=ce, kind="ready") >= 4
    assert value(running, "kubatch_api_requests_total") > value(
        before, "kubatch_api_requests_total"
    )
    assert value(running, "kubatch_api_calls_total", verb="POST", resource="pods") >= 1
    assert value(running, "kubatch_api_calls_total", verb="PATCH", resource="batchjobs/status") >= 1
    scenario.patch("long", {"terminate": {"reason": "enough"}})
    scenario.wait("long", "FAILED")
    done = scrape_until(
        port, lambda s: value(s, "kubatch_jobs_finished_total", queue=queue, outcome="FAILED") == 1
    )
    assert value(done, "kubatch_jobs", queue=queue, status="RUNNING") == 0
    assert value(done, "kubatch_jobs", queue=queue, status="FAILED") == 1
    assert value(done, "kubatch_job_run_seconds_count", queue=queue) == 1
    assert value(done, "kubatch_scheduling_pass_seconds_count") > value(
        before, "kubatch_scheduling_pass_seconds_count"
    )


def _holder(scenario: Scenario) -> Any:
    try:
        found = client.CoordinationV1Api(scenario.kube.api).read_namespaced_lease(
            "kubatch-operator", "default"
        )
    except ApiException:
        return None
    return found.spec.holder_identity


def test_one_replica_schedules_and_another_takes_over(scenario: Scenario) -> None:
    system = scenario.system
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    first = wait_for(lambda: _holder(scenario), what="a leader")
    standby = Operator(
        kubeconfig=system.operator.kubeconfig,
        workdir=system.operator.workdir / "standby",
        env=dict(system.operator.env),
    )
    standby.workdir.mkdir(exist_ok=True)
    standby.start()
    try:
        wait_for(
            lambda: "waiting for leadership" in standby.log.read_text(), what="the standby to wait"
        )
        scenario.job("before", queue)
        scenario.wait("before", "SUCCEEDED")
        assert _holder(scenario) == first, "the standby did not take over while the leader lives"
        assert len(scenario.pods("before")) == 1
        system.stop_operator()
        wait_for(lambda: _holder(scenario) != first, timeout=30, what="the standby to lead")
        scenario.job("after", queue)
        scenario.wait("after", "SUCCEEDED")
    finally:
        standby.stop()
        system.start_operator()
    wait_for(
        lambda: "state rebuilt" in system.operator.log.read_text(),
        timeout=30,
        what="the test operator to lead again",
    )
