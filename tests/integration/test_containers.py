"""AWS Batch's semantics with containers that really run: every test runs on the emulator's
simulated node and on a real node (containerd, runc and the kubelet), the same test, and
asserts the same outcome on both."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from kubatch.cli.main import cli as kubatch
from tests.support.cluster import wait_for
from tests.support.containers import IMAGE, Program
from tests.support.system import Scenario

pytestmark = pytest.mark.node


def cli(scenario: Scenario, *args: str) -> Result:
    base = ["--kubeconfig", str(scenario.kube.kubeconfig), "-n", scenario.namespace]
    return CliRunner().invoke(kubatch, [*base, *args], catch_exceptions=False)


def test_a_job_runs_its_command_and_succeeds(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("hello", queue, Program(prints="hello"))
    status = scenario.wait("hello", "SUCCEEDED", timeout=60)
    assert status["attempts"][0]["exitCode"] == 0


def test_a_job_that_ran_was_running_and_has_its_start_time(scenario: Scenario) -> None:
    """A quick container can end before its pod's phase ever says Running (the kubelet writes
    the container terminated while the phase is Pending): it ran all the same."""
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("quick", queue, Program(prints="hi"))
    status = scenario.wait("quick", "SUCCEEDED", timeout=60)
    (attempt,) = status["attempts"]
    assert attempt["startedAt"] is not None
    assert status["startedAt"] == attempt["startedAt"]
    assert attempt["startedAt"] <= attempt["stoppedAt"]
    wait_for(lambda: "Running" in scenario.events("quick"), what="the job's Running event")


def test_kubatch_logs_prints_the_log_as_text(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("talks", queue, Program(prints="hello from the container"))
    scenario.wait("talks", "SUCCEEDED", timeout=60)
    result = cli(scenario, "logs", "talks")
    assert result.exit_code == 0, result.output
    assert not result.output.startswith("b'"), result.output
    expected = "hello from the container\n"
    if scenario.kube.node is None:  # the simulated container prints its command
        expected = "echo hello from the container\n"
    assert expected in result.output, result.output


def test_a_terminated_attempt_keeps_its_log(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("stopped", queue, Program(prints="working", seconds=600, on_sigterm=0))
    scenario.wait("stopped", "RUNNING", timeout=60)
    scenario.patch("stopped", {"terminate": {"reason": "not needed"}})
    status = scenario.wait("stopped", "FAILED", timeout=60)
    assert status["statusReason"] == "not needed"
    result = cli(scenario, "logs", "stopped")
    assert result.exit_code == 0, result.output
    expected = "working\ngot SIGTERM\n" if scenario.kube.node else "echo working\n"
    assert expected in result.output, result.output


MAIN_LISTENS = (
    # The main node takes one message from each other node, then prints them.
    "for i in $(seq 2); do nc -l -p 5000 >> /tmp/got; done; sort /tmp/got"
)
OTHER_CALLS = (
    # Each other node reaches the main node by the address AWS Batch gives it (the name of
    # its pod under the job's headless Service), trying until the main node listens.
    'until echo "node $AWS_BATCH_JOB_NODE_INDEX" | nc $AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS'
    " 5000; do sleep 1; done"
)


def test_a_multi_node_jobs_nodes_reach_its_main_node(scenario: Scenario) -> None:
    small = [{"type": "VCPU", "value": "0.125"}, {"type": "MEMORY", "value": "64"}]

    def node_container(script: str) -> dict[str, object]:
        return {"image": IMAGE, "command": ["sh", "-c", script], "resourceRequirements": small}

    scenario.apply(
        {
            "kind": "JobDefinition",
            "metadata": {"name": "talk"},
            "spec": {
                "type": "multinode",
                "nodeProperties": {
                    "numNodes": 3,
                    "mainNode": 0,
                    "nodeRangeProperties": [
                        {"targetNodes": "0", "container": node_container(MAIN_LISTENS)},
                        {"targetNodes": "1:", "container": node_container(OTHER_CALLS)},
                    ],
                },
            },
        }
    )
    queue = scenario.queue(environments=(scenario.node_environment(),))
    # On the simulated node: the main node runs 2 s, the others until they are stopped.
    sim = {"duration": "600", "durations-by-index": "0=2", "sigterm-exit-code": "0"}
    scenario.job("talk", queue, "talk", sim=sim)
    status = scenario.wait("talk", "SUCCEEDED", timeout=120)
    assert status["attempts"][0]["exitCode"] == 0
    result = cli(scenario, "logs", "talk", "--node-index", "0")
    assert result.exit_code == 0, result.output
    if scenario.kube.node is not None:
        assert result.output == "node 1\nnode 2\n"
    else:
        assert "AWS_BATCH_JOB_NODE_INDEX=0" in result.output
