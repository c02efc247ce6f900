"""Multi-node parallel jobs end to end, on both tiers: a gang of pods placed together and
started main node first, AWS Batch's node variables, the main node deciding the outcome, and
the CLI's view of the nodes."""

from __future__ import annotations

from typing import Any

from tests.integration.test_cli import run
from tests.support.cluster import wait_for
from tests.support.system import Scenario

WORKERS_RUN = {"duration": "600", "sigterm-exit-code": "143"}
"""Nodes other than the main run until they are stopped (the main node's durations-by-index
and exit-codes-by-index say how it ends)."""


def container(image: str, cpu: str) -> dict[str, Any]:
    return {
        "image": image,
        "command": ["train", "--epochs", "Ref::epochs"],
        "resourceRequirements": [
            {"type": "VCPU", "value": cpu},
            {"type": "MEMORY", "value": "1024"},
        ],
    }


def multinode(scenario: Scenario, worker_cpu: str = "1", **nodes: Any) -> str:
    """numNodes 4, main node 0 ("0"), and two ranges of workers ("1:2", "3:")."""
    scenario.apply(
        {
            "kind": "JobDefinition",
            "metadata": {"name": "mnp"},
            "spec": {
                "type": "multinode",
                "parameters": {"epochs": "3"},
                "nodeProperties": {
                    "numNodes": 4,
                    "mainNode": 0,
                    "nodeRangeProperties": [
                        {"targetNodes": "0", "container": container("main-image", "1")},
                        {"targetNodes": "1:2", "container": container("worker", worker_cpu)},
                        {"targetNodes": "3:", "container": container("last", worker_cpu)},
                    ],
                    **nodes,
                },
            },
        }
    )
    return "mnp"


def env_of(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env if e.value is not None}


def by_node(scenario: Scenario, job: str) -> dict[int, Any]:
    return {int(p.metadata.labels["kubatch.io/node-index"]): p for p in scenario.pods(job)}


def all_stopped(scenario: Scenario, job: str) -> bool:
    """Every pod of the job ended or is gone."""
    return all(
        p.status.phase in ("Succeeded", "Failed") or p.metadata.deletion_timestamp
        for p in scenario.pods(job)
    )


def test_a_four_node_job_succeeds_with_its_main_node_and_every_node_saw_its_variables(
    scenario: Scenario,
) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario, distinctNodes=True)
    main_ends = {**WORKERS_RUN, "durations-by-index": "0=4"}
    scenario.job("train", queue, definition="mnp", sim=main_ends)
    scenario.wait("train", "RUNNING", timeout=90)
    pods = by_node(scenario, "train")
    assert all(p.status.phase == "Running" for p in pods.values())
    status = scenario.wait("train", "SUCCEEDED", timeout=60)
    assert status["attemptCount"] == 1
    nodes = status["nodeProperties"]
    assert (nodes["numNodes"], nodes["mainNode"]) == (4, 0)
    assert nodes["nodes"][0]["status"] == "SUCCEEDED"
    assert nodes["nodes"][0]["exitCode"] == 0
    assert sorted(pods) == [0, 1, 2, 3]
    uid = scenario.get("train")["metadata"]["uid"]
    service = f"kubatch-{uid.replace('-', '')[:12]}"
    address = f"node-0.{service}.{scenario.namespace}.svc"
    assert nodes["mainNodeAddress"] == address
    for index, pod in pods.items():
        env = env_of(pod)
        assert env["AWS_BATCH_JOB_ID"] == f"{uid}#{index}"
        assert env["AWS_BATCH_JOB_NODE_INDEX"] == str(index)
        assert env["AWS_BATCH_JOB_NUM_NODES"] == "4"
        assert env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] == "0"
        assert env.get("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS") == (
            address if index else None
        )
        assert pod.spec.hostname == f"node-{index}"
        assert pod.spec.subdomain == service
        assert pod.spec.containers[0].args == ["train", "--epochs", "3"]
    images = [pods[i].spec.containers[0].image for i in range(4)]
    assert images == ["main-image", "worker", "worker", "last"]
    assert len({pods[i].spec.node_name for i in range(4)}) == 4  # distinctNodes
    headless = scenario.kube.core.read_namespaced_service(service, scenario.namespace)
    assert headless.spec.cluster_ip == "None"
    assert headless.spec.selector == {"kubatch.io/job-uid": uid}
    wait_for(lambda: all_stopped(scenario, "train") or None, what="the other nodes stopped")
    described = run(scenario, "describe", "train#2")
    assert described.exit_code == 0, described.output
    assert "Nodes:         4, main node 0" in described.output
    assert f"{pods[2].metadata.name}" in described.output
    assert pods[1].metadata.name not in described.output
    logs = run(scenario, "logs", "train", "--node-index", "0")
    assert logs.exit_code == 0, logs.output
    assert "AWS_BATCH_JOB_NODE_INDEX=0" in logs.output
    # The nodes stopped when the main node ended keep their pods, and their logs.
    assert len(scenario.pods("train")) == 4
    stopped = run(scenario, "logs", "train", "--node-index", "2")
    assert stopped.exit_code == 0, stopped.output
    assert "AWS_BATCH_JOB_NODE_INDEX=2" in stopped.output
    missing = run(scenario, "logs", "train#7")
    assert missing.exit_code != 0
    assert "train has no node 7: its nodes are 0-3" in missing.output


def test_the_other_nodes_start_once_the_main_node_runs(scenario: Scenario) -> None:
    """As in AWS Batch: the main node starts first, the others once it is RUNNING (their
    pods wait gated, their room held, until then)."""
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario)
    slow = {**WORKERS_RUN, "durations-by-index": "0=6", "start-delay": "4"}
    scenario.job("train", queue, definition="mnp", sim=slow)
    scenario.wait("train", "STARTING", "RUNNING", timeout=60)
    early = by_node(scenario, "train")
    assert not early[0].spec.scheduling_gates
    for index in (1, 2, 3):
        assert [g.name for g in early[index].spec.scheduling_gates] == ["kubatch.io/main-node"]
        assert early[index].spec.node_name is None
    scenario.wait("train", "RUNNING", timeout=90)
    pods = by_node(scenario, "train")
    started = {i: p.status.container_statuses[0].state.running.started_at for i, p in pods.items()}
    for index in (1, 2, 3):
        assert not pods[index].spec.scheduling_gates
        assert (started[index] - started[0]).total_seconds() >= 3, started
    assert scenario.wait("train", "SUCCEEDED", timeout=60)["attemptCount"] == 1


def test_a_non_main_node_that_fails_fails_the_job_and_every_node_is_stopped(
    scenario: Scenario,
) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario)
    node_two_fails = {**WORKERS_RUN, "durations-by-index": "2=3", "exit-codes-by-index": "2=5"}
    scenario.job(
        "broken", queue, definition="mnp", sim=node_two_fails, retryStrategy={"attempts": 3}
    )
    status = scenario.wait("broken", "FAILED", timeout=90)
    reason = "node 2 failed: Essential container in task exited (exit code 5)"
    assert status["statusReason"] == reason
    assert status["attemptCount"] == 1
    assert status["nodeProperties"]["nodes"][2]["exitCode"] == 5
    wait_for(lambda: all_stopped(scenario, "broken") or None, what="every node stopped")
    assert len(scenario.pods("broken")) <= 4


def test_terminate_stops_every_pod_of_the_job(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario)
    scenario.job("long", queue, definition="mnp", sim=WORKERS_RUN)
    scenario.wait("long", "RUNNING", timeout=90)
    assert len(scenario.pods("long")) == 4
    scenario.patch("long", {"terminate": {"reason": "stopped by the test"}})
    status = scenario.wait("long", "FAILED")
    assert status["statusReason"] == "stopped by the test"
    wait_for(lambda: all_stopped(scenario, "long") or None, what="every node stopped")


def test_a_gang_larger_than_its_environment_waits_and_says_why(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario, worker_cpu="8")

    def refused() -> str | None:
        reason = scenario.status("huge").get("statusReason") or ""
        return reason if reason.startswith("MISCONFIGURATION") else None

    scenario.job("huge", queue, definition="mnp")
    reason = wait_for(refused, what="the reason the gang cannot run")
    assert reason.startswith(
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - the multi-node job needs 4 nodes, "
        "25 vCPU"
    )
    assert "maxvCpus 16" in reason
    assert scenario.status("huge")["status"] == "RUNNABLE"
    assert scenario.pods("huge") == []


def test_a_definition_whose_ranges_leave_a_node_out_is_invalid(scenario: Scenario) -> None:
    scenario.apply(
        {
            "kind": "JobDefinition",
            "metadata": {"name": "gap"},
            "spec": {
                "type": "multinode",
                "nodeProperties": {
                    "numNodes": 3,
                    "nodeRangeProperties": [
                        {"targetNodes": "0", "container": container("x", "1")},
                        {"targetNodes": "2", "container": container("x", "1")},
                    ],
                },
            },
        }
    )

    def reason() -> str | None:
        found = scenario.kube.custom.get_namespaced_custom_object(
            "kubatch.io", "v1alpha1", scenario.namespace, "jobdefinitions", "gap"
        )
        status = found.get("status") or {}
        return status.get("statusReason") if status.get("status") == "INVALID" else None

    text = wait_for(reason, what="the definition reported INVALID")
    assert "node 1 is in no range" in text
