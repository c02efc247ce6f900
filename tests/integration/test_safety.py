"""Safe by construction: a submitted job cannot be changed under the operator's feet, only
asked to cancel or terminate; the API server refuses anything else, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.support.cluster import wait_for
from tests.support.system import Scenario

G, V = "kubatch.io", "v1alpha1"


@pytest.mark.parametrize(
    ("patch", "field", "says"),
    [
        ({"jobQueue": "elsewhere"}, "spec.jobQueue", "jobQueue cannot change once the BatchJob"),
        ({"arrayProperties": {"size": 5}}, "spec", "cannot be added or removed"),
        ({"parameters": {"msg": "other"}}, "spec.parameters", "parameters cannot change"),
        ({"retryStrategy": None}, "spec", "cannot be added or removed"),
    ],
    ids=["queue", "array_size_added", "parameters", "retry_strategy_removed"],
)
def test_a_submitted_job_is_immutable_but_for_cancel_and_terminate(
    scenario: Scenario, patch: dict[str, Any], field: str, says: str
) -> None:
    scenario.job("j", "some-queue", parameters={"msg": "hi"}, retryStrategy={"attempts": 2})
    with pytest.raises(ApiException) as refused:
        scenario.patch("j", patch)
    assert refused.value.status == 422
    body = json.loads(refused.value.body)
    causes = body.get("details", {}).get("causes", [])
    assert any(c.get("field") == field and says in c.get("message", "") for c in causes), body
    assert scenario.get("j")["spec"]["jobQueue"] == "some-queue"
    scenario.patch("j", {"cancel": {"reason": "changed my mind"}})
    assert scenario.get("j")["spec"]["cancel"] == {"reason": "changed my mind"}


def test_a_revision_deregistered_after_acceptance_still_runs_its_jobs(
    scenario: Scenario,
) -> None:
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=8),))
    scenario.definition("render")
    scenario.job("long", queue, definition="render", sim={"duration": "4"})
    scenario.job("w", queue, definition="render", dependsOn=[{"jobName": "long"}])
    assert scenario.wait("w", "PENDING")["jobDefinitionRevision"] == 1
    scenario.kube.custom.patch_namespaced_custom_object(
        G,
        V,
        scenario.namespace,
        "jobdefinitions",
        "render",
        {"spec": {"deregisteredRevisions": [1]}},
    )
    assert scenario.wait("w", "SUCCEEDED", "FAILED", timeout=60)["status"] == "SUCCEEDED"
    scenario.job("late", queue, definition="render")
    status = scenario.wait("late", "FAILED")
    assert status["statusReason"] == "JobDefinition render has no ACTIVE revision"


def _gone(scenario: Scenario, plural: str, name: str) -> bool:
    try:
        scenario.get_cluster(plural, name)
    except ApiException as e:
        return bool(e.status == 404)
    return False


def test_a_deleted_queue_takes_no_new_jobs_and_goes_once_its_jobs_end(
    scenario: Scenario,
) -> None:
    queue = scenario.queue(environments=(scenario.environment(maxvCpus=8),))
    scenario.definition()
    scenario.job("long", queue, sim={"duration": "5"})
    scenario.job("after", queue, dependsOn=[{"jobName": "long"}], sim={"duration": "1"})
    scenario.wait("long", "RUNNING", timeout=60)
    assert "kubatch.io/in-use" in scenario.get_cluster("jobqueues", queue)["metadata"]["finalizers"]
    scenario.kube.custom.delete_cluster_custom_object(G, V, "jobqueues", queue)
    status = wait_for(
        lambda: (
            (s := scenario.get_cluster("jobqueues", queue).get("status", {})).get("status")
            == "DELETING"
            and s
        ),
        what="the queue to say it is being deleted",
    )
    assert status["statusReason"] == "waiting for 2 job(s) in the queue to end"
    scenario.job("new", queue)
    assert scenario.wait("new", "FAILED")["statusReason"] == (
        f"JobQueue {queue} is being deleted and accepts no new jobs"
    )
    for name in ("long", "after"):
        assert scenario.wait(name, "SUCCEEDED", timeout=60)["status"] == "SUCCEEDED"
    wait_for(lambda: _gone(scenario, "jobqueues", queue), what="the queue to be gone")


def test_a_deleted_environment_drains_gives_up_its_nodes_and_goes(scenario: Scenario) -> None:
    ce = scenario.environment(minvCpus=4, maxvCpus=8)
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    scenario.job("long", queue, sim={"duration": "5"})
    scenario.wait("long", "RUNNING", timeout=60)
    scenario.kube.custom.delete_cluster_custom_object(G, V, "computeenvironments", ce)
    status = wait_for(
        lambda: (
            (s := scenario.get_cluster("computeenvironments", ce).get("status", {})).get("status")
            == "DELETING"
            and s
        ),
        what="the environment to say it is being deleted",
    )
    assert status["statusReason"].startswith("waiting for the jobs on 1 node(s) to end")
    assert scenario.wait("long", "SUCCEEDED", timeout=60)["status"] == "SUCCEEDED"
    wait_for(lambda: _gone(scenario, "computeenvironments", ce), timeout=60, what="it to go")
    nodes = scenario.kube.core.list_node(label_selector=f"kubatch.io/compute-environment={ce}")
    assert nodes.items == [], "its nodes went before it (minvCpus no longer held)"


def test_an_arrays_started_at_is_its_first_childs_start(scenario: Scenario) -> None:
    """One vCPU for two children of one vCPU: they run one after the other."""
    queue = scenario.queue(
        environments=(scenario.environment(maxvCpus=1, instanceTypes=["m5.large"]),)
    )
    scenario.definition()
    scenario.job("a", queue, arrayProperties={"size": 2}, sim={"duration": "2"})
    status = scenario.wait("a", "SUCCEEDED", timeout=90)
    pods = scenario.pods("a")
    first = min(p.status.start_time for p in pods)
    assert status["startedAt"].rstrip("Z")[:19] == first.strftime("%Y-%m-%dT%H:%M:%S")
