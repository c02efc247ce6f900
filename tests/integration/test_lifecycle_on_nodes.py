"""How attempts end, in AWS Batch's terms, with containers that really run: every case runs
on the emulator's simulated node and on a real node (containerd, runc, the kubelet), and
asserts the same outcome on both.

All the cases of a tier are submitted at once, when the tier's first scenario starts (a
timeout takes 60 s at least, SIGKILL 30 s more: they run while other tests do, see
conftest.py); each test here waits for its own job and checks its rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from kubatch.cli.main import cli as kubatch
from tests.integration.test_aws_api import REGION, add_key, endpoint
from tests.support.cluster import Cluster, wait_for
from tests.support.consoles import Consoles, get
from tests.support.containers import IMAGE, Program
from tests.support.system import Scenario, System

pytestmark = pytest.mark.node
__all__ = ["endpoint"]  # a fixture, shared with the API's tests (consoles: conftest)

TIMEOUT = {"attemptDurationSeconds": 60}
EXIT_ON_3 = {
    "attempts": 3,
    "evaluateOnExit": [
        {"onExitCode": "3", "action": "exit"},
        {"onExitCode": "*", "action": "RETRY"},
    ],
}
EXIT_ON_OOM = {
    "attempts": 3,
    "evaluateOnExit": [{"onReason": "OutOfMemoryError*", "action": "EXIT"}],
}


@dataclass(frozen=True)
class Case:
    program: Program
    spec: dict[str, Any] = field(default_factory=dict)
    terminate_when_running: bool = False


CASES: dict[str, Case] = {
    "exits-3": Case(Program(exit_code=3)),
    "exit-rule": Case(Program(exit_code=3), {"retryStrategy": EXIT_ON_3}),
    "retried": Case(
        Program(exit_code=5, fail_attempts=2, prints_attempt=True),
        {"retryStrategy": {"attempts": 3}},
    ),
    "oom": Case(Program(prints="filling", memory_mib=200), {"retryStrategy": EXIT_ON_OOM}),
    "no-image": Case(Program(pullable=False)),
    "no-command": Case(Program(runnable=False)),
    "timeout-trapped": Case(
        Program(prints="working", seconds=600, on_sigterm=0),
        {"timeout": TIMEOUT, "retryStrategy": {"attempts": 2}},
    ),
    "timeout-ignored": Case(Program(prints="working", seconds=600), {"timeout": TIMEOUT}),
    "terminate-ignored": Case(Program(prints="busy", seconds=600), terminate_when_running=True),
    "array": Case(Program(prints_index=True), {"arrayProperties": {"size": 3}}),
    "first": Case(Program(prints="first", seconds=2)),
    "second": Case(Program(prints="second"), {"dependsOn": [{"jobName": "first"}]}),
    "limits": Case(Program(prints_limits=True)),
    "log-kept": Case(Program(prints="kept for later")),
}


EKS_APP = Program(prints="from the app", exit_code=3)


class Batch:
    """One tier's cases, submitted together."""

    def __init__(self, system: System, namespace: str) -> None:
        self.scenario = Scenario(system, namespace)
        # One node that stays (minvCpus): the cases read their pods long after they ended,
        # and a node scaled in takes its pods with it (the pod garbage collector).
        environment = self.scenario.node_environment(minvCpus=4, maxvCpus=4)
        self.queue = self.scenario.queue(environments=(environment,))
        for name, case in CASES.items():
            self.scenario.run(name, self.queue, case.program, **case.spec)
        self._eks_job()
        for name, case in CASES.items():
            if case.terminate_when_running:
                self.scenario.wait(name, "RUNNING", timeout=90)
                self.scenario.patch(name, {"terminate": {"reason": "stopped by the test"}})

    def _eks_job(self) -> None:
        """A definition written the AWS Batch on EKS way: two containers, the first the
        essential one (it fails with 3; the second ends well)."""
        small = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
        self.scenario.apply(
            {
                "kind": "JobDefinition",
                "metadata": {"name": "eks-def"},
                "spec": {
                    "eksProperties": {
                        "podProperties": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": IMAGE,
                                    "command": EKS_APP.command(),
                                    "env": [{"name": "WHO", "value": "the app"}],
                                    "resources": small,
                                },
                                {
                                    "name": "sidecar",
                                    "image": IMAGE,
                                    "command": ["sh", "-c", "echo from the sidecar"],
                                    "resources": small,
                                },
                            ],
                            "metadata": {"labels": {"team": "eks"}},
                        }
                    }
                },
            }
        )
        self.scenario.job("eks", self.queue, "eks-def", sim=EKS_APP.sim())

    def wait(self, name: str, *states: str, timeout: float = 90) -> dict[str, Any]:
        return self.scenario.wait(name, *states, timeout=timeout)

    def log(self, name: str, *args: str) -> str:
        base = ["--kubeconfig", str(self.scenario.kube.kubeconfig), "-n", self.scenario.namespace]
        result = CliRunner().invoke(kubatch, [*base, "logs", name, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    @property
    def real(self) -> bool:
        return self.scenario.kube.node is not None


def submitted(kube: Cluster, system: System) -> Iterator[Batch | None]:
    """Every case, submitted at once in a namespace of their own (for the tiers with a node
    that runs them: the emulator's simulated one and the real one)."""
    if kube.tier not in ("emulator", "real-node"):
        yield None
        return
    namespace = kube.new_namespace()
    found = Batch(system, namespace)
    yield found
    found.scenario.cleanup()
    kube.delete_namespace(namespace)


@pytest.fixture
def batch(node_cases: Batch | None) -> Batch:
    assert node_cases is not None
    return node_cases


def seconds(start: str, stop: str) -> float:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(stop) - parse(start)).total_seconds()


def test_a_non_zero_exit_fails_the_job_with_its_exit_code(batch: Batch) -> None:
    status = batch.wait("exits-3", "FAILED")
    (attempt,) = status["attempts"]
    assert attempt["exitCode"] == 3
    assert status["statusReason"] == "Essential container in task exited"
    assert attempt.get("reason") is None


def test_evaluate_on_exit_matches_the_real_exit_code_and_exits(batch: Batch) -> None:
    status = batch.wait("exit-rule", "FAILED")
    assert status["attemptCount"] == 1
    assert status["attempts"][0]["exitCode"] == 3


def test_failed_attempts_are_retried_with_the_next_attempt_number(batch: Batch) -> None:
    status = batch.wait("retried", "SUCCEEDED")
    assert [a["exitCode"] for a in status["attempts"]] == [5, 5, 0]


def test_out_of_memory_is_aws_outofmemoryerror_and_matches_on_reason(batch: Batch) -> None:
    status = batch.wait("oom", "FAILED")
    (attempt,) = status["attempts"]  # the EXIT rule matched the reason: no retry
    assert attempt["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert attempt["exitCode"] == 137


def test_an_image_that_cannot_be_pulled_is_cannotpullcontainererror(batch: Batch) -> None:
    status = batch.wait("no-image", "FAILED")
    (attempt,) = status["attempts"]
    assert attempt["reason"].startswith("CannotPullContainerError: "), attempt
    assert "no-such-image" in attempt["reason"]
    assert status["statusReason"] == "Task failed to start"
    assert status.get("startedAt") is None, "it never ran"


def test_a_command_that_does_not_exist_is_cannotstartcontainererror(batch: Batch) -> None:
    status = batch.wait("no-command", "FAILED")
    (attempt,) = status["attempts"]
    assert attempt["reason"].startswith("CannotStartContainerError: "), attempt
    assert "no-such-command" in attempt["reason"]
    assert status["statusReason"] == "Task failed to start"
    assert status.get("startedAt") is None, "it never ran"


@pytest.mark.parametrize(
    ("name", "exit_code", "took", "logged"),
    [
        # SIGTERM at the timeout: a container that traps it ends at once...
        ("timeout-trapped", 0, (60, 75), "working\ngot SIGTERM\n"),
        # ...one that does not (PID 1 ignores it) is SIGKILLed 30 s later.
        ("timeout-ignored", 137, (90, 110), "working\n"),
    ],
    ids=["trapped", "ignored"],
)
def test_a_timed_out_attempt_gets_sigterm_then_sigkill_and_is_not_retried(
    batch: Batch, name: str, exit_code: int, took: tuple[float, float], logged: str
) -> None:
    status = batch.wait(name, "FAILED", timeout=180)
    assert status["statusReason"] == "Job attempt duration exceeded timeout"
    (attempt,) = status["attempts"]
    pods = [(p.status.phase, p.status.container_statuses) for p in batch.scenario.pods(name)]
    assert attempt.get("exitCode") == exit_code, (attempt, pods)
    assert took[0] <= seconds(attempt["startedAt"], attempt["stoppedAt"]) <= took[1]
    log = batch.log(name)
    assert (logged if batch.real else "echo working") in log, log


def test_terminate_of_a_container_that_ignores_sigterm_kills_it_after_the_grace(
    batch: Batch,
) -> None:
    status = batch.wait("terminate-ignored", "FAILED", timeout=120)
    assert status["statusReason"] == "stopped by the test"
    (attempt,) = status["attempts"]
    assert attempt["exitCode"] == 137
    assert "busy" in batch.log("terminate-ignored")


def test_array_children_read_their_index(batch: Batch) -> None:
    status = batch.wait("array", "SUCCEEDED")
    assert status["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    for index in range(3):
        log = batch.log("array", "--index", str(index))
        expected = f"index={index}\n" if batch.real else f"AWS_BATCH_JOB_ARRAY_INDEX={index}\n"
        assert expected in log, log


def test_a_dependent_job_starts_after_its_dependency_stopped(batch: Batch) -> None:
    second = batch.wait("second", "SUCCEEDED")
    first = batch.scenario.status("first")
    assert first["status"] == "SUCCEEDED"
    assert seconds(first["stoppedAt"], second["startedAt"]) >= 0


def test_the_kubelet_applies_the_jobs_memory_limit_and_cpu_share(batch: Batch) -> None:
    """MEMORY 64 (MiB) is a hard limit; VCPU 50m a share of 51 (of 1024 per core)."""
    batch.wait("limits", "SUCCEEDED")
    (pod,) = batch.scenario.pods("limits")
    resources = pod.spec.containers[0].resources
    assert resources.limits["memory"] == "64Mi"
    assert resources.requests["cpu"] == "50m"
    if batch.real:
        wait_for(lambda: "shares=" in batch.log("limits"), what="the container's log")
        log = batch.log("limits")
        assert f"memory={64 * 1024 * 1024}\n" in log, log
        assert "shares=51\n" in log, log


@pytest.mark.parametrize(
    ("name", "attempts", "expected", "pods_gone"),
    [
        (
            "retried",
            3,
            lambda real, n: f"attempt {n}\n" if real else f"AWS_BATCH_JOB_ATTEMPT={n}",
            False,
        ),
        # A stopped attempt keeps its log.
        ("timeout-trapped", 1, lambda real, n: "got SIGTERM\n" if real else "echo working", False),
        # An attempt whose pod is gone (its node removed, the pod garbage collector) keeps its
        # log: the operator kept it in a ConfigMap once the container ended.
        (
            "log-kept",
            1,
            lambda real, n: "kept for later\n" if real else "echo kept for later",
            True,
        ),
    ],
    ids=["every_attempt", "after_a_timeout", "after_its_pod_is_gone"],
)
def test_every_attempts_log_through_the_cli_the_console_and_the_aws_api(
    batch: Batch,
    consoles: Consoles,
    endpoint: str,
    name: str,
    attempts: int,
    expected: Any,
    pods_gone: bool,
) -> None:
    status = batch.wait(name, "SUCCEEDED", "FAILED", timeout=180)
    scenario = batch.scenario
    if pods_gone:
        _remove_pods_once_their_logs_are_kept(scenario, name)
    key = add_key(scenario.kube, scenario.namespace, admin=False)
    session = boto3.Session(
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        region_name=REGION,
    )
    aws_batch = session.client("batch", endpoint_url=endpoint)
    aws_logs = session.client("logs", endpoint_url=endpoint)
    uid = scenario.get(name)["metadata"]["uid"]
    (described,) = wait_for(
        lambda: aws_batch.describe_jobs(jobs=[uid])["jobs"] or None, what="DescribeJobs"
    )
    streams = [a["container"]["logStreamName"] for a in described["attempts"]]
    assert len(streams) == attempts == status["attemptCount"]
    for number, stream in enumerate(streams, start=1):
        text = expected(batch.real, number)
        assert text in batch.log(name, "--attempt", str(number))
        page = get(f"{consoles.read_only}/jobs/{scenario.namespace}/{name}/logs?attempt={number}")
        assert page.status == 200
        assert text.strip() in page.text, page.text
        events = aws_logs.get_log_events(
            logGroupName="/aws/batch/job", logStreamName=stream, startFromHead=True
        )["events"]
        messages = "\n".join(e["message"] for e in events) + "\n"
        assert text in messages, messages
        assert all(e["timestamp"] > 0 for e in events)


def _remove_pods_once_their_logs_are_kept(scenario: Scenario, name: str) -> None:
    """As the pod garbage collector does once their node is removed."""
    core = scenario.kube.core
    pods = [p.metadata.name for p in scenario.pods(name)]
    assert pods, "the attempt's pod"

    def kept() -> bool:
        selector = f"kubatch.io/job-name={name},kubatch.io/log-of"
        found = core.list_namespaced_config_map(scenario.namespace, label_selector=selector)
        return {c.metadata.name for c in found.items} == set(pods)

    wait_for(kept, timeout=60, what=f"the operator to keep the logs of {pods}")
    for pod in pods:
        core.delete_namespaced_pod(pod, scenario.namespace, grace_period_seconds=0)
    wait_for(lambda: not scenario.pods(name), timeout=60, what=f"{pods} to be gone")


def test_an_eks_style_pod_runs_its_containers_and_its_first_decides(
    batch: Batch, endpoint: str
) -> None:
    """eksProperties map onto the pod: its containers as given (AWS Batch's variables in
    each), its labels, and the first container's exit as the job's."""
    status = batch.wait("eks", "FAILED")
    (attempt,) = status["attempts"]
    assert attempt["exitCode"] == 3
    (pod,) = batch.scenario.pods("eks")
    assert [c.name for c in pod.spec.containers] == ["app", "sidecar"]
    assert pod.metadata.annotations["kubectl.kubernetes.io/default-container"] == "app"
    assert pod.metadata.labels["team"] == "eks"
    env = {e.name: e.value for e in pod.spec.containers[1].env}
    assert env["AWS_BATCH_JOB_ATTEMPT"] == "1"
    log = batch.log("eks")
    assert "from the app" in log, "the essential container's log"
    assert "sidecar" not in log
    scenario = batch.scenario
    key = add_key(scenario.kube, scenario.namespace, admin=False)
    aws = boto3.client(
        "batch",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )
    uid = scenario.get("eks")["metadata"]["uid"]
    (described,) = wait_for(lambda: aws.describe_jobs(jobs=[uid])["jobs"] or None, what="the job")
    pod_detail = described["eksProperties"]["podProperties"]
    assert [c["name"] for c in pod_detail["containers"]] == ["app", "sidecar"]
    assert pod_detail["containers"][0]["exitCode"] == 3
    assert described["eksAttempts"][0]["containers"] == [{"name": "app", "exitCode": 3}]
    assert "container" not in described
