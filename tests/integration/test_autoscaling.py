"""Managed compute environments grow with demand and shrink when idle, through providers."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.rest import ApiException

from tests.support.cluster import Cluster, wait_for
from tests.support.system import Scenario

CAPI = "cluster.x-k8s.io"
MACHINE_DEPLOYMENT_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"machinedeployments.{CAPI}"},
    "spec": {
        "group": CAPI,
        "scope": "Namespaced",
        "names": {
            "kind": "MachineDeployment",
            "plural": "machinedeployments",
            "singular": "machinedeployment",
            "listKind": "MachineDeploymentList",
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                    },
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def pool(kube: Cluster, ce: str) -> list[Any]:
    nodes: list[Any] = kube.core.list_node(
        label_selector=f"kubatch.io/compute-environment={ce}"
    ).items
    return nodes


def test_pool_grows_from_zero_runs_the_jobs_and_shrinks_back(scenario: Scenario) -> None:
    ce = scenario.environment(minvCpus=0, maxvCpus=16)
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    assert pool(scenario.kube, ce) == []
    for i in range(4):
        scenario.job(f"j{i}", queue, sim={"duration": "1"})
    wait_for(lambda: pool(scenario.kube, ce), what="nodes to appear")
    for i in range(4):
        scenario.wait(f"j{i}", "SUCCEEDED")
    wait_for(
        lambda: not pool(scenario.kube, ce),
        timeout=60,
        what="the idle pool to shrink to minvCpus 0",
    )
    status = wait_for(
        lambda: (
            (s := scenario.get_cluster("computeenvironments", ce).get("status", {})).get(
                "readyvCpus"
            )
            == 0
            and s
        ),
        what="the status to show the empty pool",
    )
    assert status["status"] == "VALID"
    assert status["lastScalingAction"]["tovCpus"] == 0


def test_min_vcpus_is_kept_without_jobs(scenario: Scenario) -> None:
    ce = scenario.environment(minvCpus=4, maxvCpus=16)
    nodes = wait_for(lambda: pool(scenario.kube, ce), what="minvCpus worth of nodes")
    assert len(nodes) == 1
    status = wait_for(
        lambda: (
            (s := scenario.get_cluster("computeenvironments", ce).get("status", {})).get(
                "readyvCpus"
            )
            == 4
            and s
        ),
        what="the node to be ready",
    )
    assert status["nodesByType"] == {"m5.xlarge": 1}


def test_max_vcpus_is_exceeded_by_at_most_one_node(scenario: Scenario) -> None:
    ce = scenario.environment(maxvCpus=6)
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    for i in range(8):
        scenario.job(f"j{i}", queue, sim={"duration": "1.5"})
    most = 0

    def all_done() -> bool:
        nonlocal most
        most = max(most, len(pool(scenario.kube, ce)))
        return all(scenario.status(f"j{i}").get("status") == "SUCCEEDED" for i in range(8))

    wait_for(all_done, timeout=90, interval=0.1, what="every job to finish")
    assert most * 4 <= 6 + 4, f"{most} nodes of 4 vCPUs for maxvCpus 6"


def test_unknown_provider_makes_the_environment_invalid(scenario: Scenario) -> None:
    ce = scenario.environment(spec={"provider": {"name": "nowhere"}})
    status = wait_for(
        lambda: scenario.get_cluster("computeenvironments", ce).get("status"), what="a status"
    )
    assert status["status"] == "INVALID"
    assert "unknown autoscaling provider 'nowhere'" in status["statusReason"]


def _install_machine_deployments(kube: Cluster, namespace: str, names: list[str]) -> None:
    try:
        kube.crds.create_custom_resource_definition(MACHINE_DEPLOYMENT_CRD)
    except ApiException as e:
        if e.status != 409:
            raise
    wait_for(lambda: _served(kube, namespace), what="the MachineDeployment resource")
    for name in names:
        kube.custom.create_namespaced_custom_object(
            CAPI,
            "v1beta1",
            namespace,
            "machinedeployments",
            {
                "apiVersion": f"{CAPI}/v1beta1",
                "kind": "MachineDeployment",
                "metadata": {"name": name},
                "spec": {"replicas": 0, "clusterName": "test"},
            },
        )


def _served(kube: Cluster, namespace: str) -> bool:
    try:
        kube.custom.list_namespaced_custom_object(CAPI, "v1beta1", namespace, "machinedeployments")
    except ApiException:
        return False
    return True


def _replicas(kube: Cluster, namespace: str, name: str) -> int:
    md = kube.custom.get_namespaced_custom_object(
        CAPI, "v1beta1", namespace, "machinedeployments", name
    )
    return int(md["spec"].get("replicas", 0))


def test_cluster_api_replicas_follow_demand(scenario: Scenario) -> None:
    ns = scenario.namespace
    _install_machine_deployments(scenario.kube, ns, ["md-large", "md-xlarge"])
    settings = {
        "namespace": ns,
        "machineDeployments": {"m5.large": "md-large", "m5.xlarge": "md-xlarge"},
    }
    ce = scenario.environment(
        instanceTypes=["m5.large", "m5.xlarge"],
        maxvCpus=64,
        spec={"provider": {"name": "cluster-api", "settings": settings}},
    )
    queue = scenario.queue(environments=(ce,))
    scenario.definition(
        container={
            "resourceRequirements": [
                {"type": "VCPU", "value": "3"},
                {"type": "MEMORY", "value": "1024"},
            ]
        }
    )
    for i in range(3):
        scenario.job(f"j{i}", queue)
    # Nothing runs Cluster API here, so no node appears: the three jobs stay waiting and
    # the plan asks for one m5.xlarge (the cheapest shape that holds 3 vCPUs) for each.
    wait_for(lambda: _replicas(scenario.kube, ns, "md-xlarge") == 3, what="md-xlarge scaled to 3")
    assert _replicas(scenario.kube, ns, "md-large") == 0
    for i in range(3):
        scenario.patch(f"j{i}", {"cancel": {"reason": "done with it"}})
    wait_for(lambda: _replicas(scenario.kube, ns, "md-xlarge") == 0, what="md-xlarge back to 0")


def test_a_provider_installed_through_an_entry_point_is_used(scenario: Scenario) -> None:
    settings = {"namespace": scenario.namespace}
    ce = scenario.environment(
        minvCpus=8, spec={"provider": {"name": "configmap", "settings": settings}}
    )

    def recorded() -> dict[str, str] | None:
        try:
            cm = scenario.kube.core.read_namespaced_config_map(
                f"kubatch-{ce}-capacity", scenario.namespace
            )
        except ApiException:
            return None
        data: dict[str, str] = cm.data
        return data

    data = wait_for(recorded, what="the example provider's ConfigMap")
    assert json.loads(data["desired"]) == {"m5.xlarge": 2}
    assert data["desiredvCpus"] == "8"
