"""Each autoscaling backend's translation from a capacity plan to API changes."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.autoscaling import NodeShape, PoolPlan, ResizeRequest, load_providers
from kubatch.autoscaling.clusterapi import ClusterApiProvider, replicas_for
from kubatch.autoscaling.simulated import SimulatedProvider, node_manifest, plan_nodes
from kubatch.core.scheduling.catalog import CATALOG, PODS_PER_NODE


def shape(name: str) -> NodeShape:
    found = CATALOG[name]
    allocatable = found.allocatable
    return NodeShape(
        name=name,
        vcpus=found.vcpus,
        memory=allocatable.memory,
        gpus=allocatable.gpus,
        pods=PODS_PER_NODE,
    )


SHAPES = (shape("m5.large"), shape("m5.xlarge"))


def request(
    desired: dict[str, int],
    nodes: tuple[tuple[str, str | None], ...] = (),
    remove: list[str] | None = None,
    **settings: Any,
) -> ResizeRequest:
    plan = PoolPlan(
        desired=desired,
        desired_vcpus=sum(CATALOG[s].vcpus * n for s, n in desired.items() if s in CATALOG),
        remove=tuple(remove or ()),
    )
    return ResizeRequest(
        environment="ce",
        provider="simulated",
        settings=settings,
        plan=plan,
        nodes=nodes,
        labels={"pool": "a"},
        taints=(),
        shapes=SHAPES,
    )


def test_simulated_creates_the_missing_nodes_per_shape() -> None:
    creates, deletes, unknown = plan_nodes(
        request({"m5.large": 2, "m5.xlarge": 1}, (("n1", "m5.large"),)), {}
    )
    assert [s.name for s in creates] == ["m5.large", "m5.xlarge"]
    assert deletes == []
    assert unknown == ()


def test_simulated_reports_shapes_it_cannot_make() -> None:
    _, _, unknown = plan_nodes(request({"z9.huge": 1}), {})
    assert unknown == ("z9.huge",)


def test_simulated_counts_nodes_still_being_created() -> None:
    creating = {"pending-1": "m5.large"}
    creates, _, _ = plan_nodes(request({"m5.large": 2}), creating)
    assert [s.name for s in creates] == ["m5.large"]
    creates, _, _ = plan_nodes(request({"m5.large": 2}, (("pending-1", "m5.large"),)), creating)
    assert creating == {}, "a node seen in the pool is no longer pending"


def test_simulated_deletes_only_the_planned_idle_nodes_that_exist() -> None:
    nodes = (("a", "m5.large"), ("b", "m5.large"))
    creates, deletes, _ = plan_nodes(request({"m5.large": 1}, nodes, remove=["b", "gone"]), {})
    assert (creates, deletes) == ([], ["b"])


def test_simulated_nodes_carry_the_pool_and_kwok_marks() -> None:
    node = node_manifest(
        "n1", shape("m5.xlarge"), {"pool": "a"}, ({"key": "dedicated", "effect": "NoSchedule"},)
    )
    assert node["metadata"]["labels"]["pool"] == "a"
    assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "m5.xlarge"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert {t["key"] for t in node["spec"]["taints"]} == {"dedicated", "kwok.x-k8s.io/node"}
    assert node["status"]["allocatable"]["cpu"] == "4"


def test_cluster_api_replicas_follow_the_plan_and_zero_unwanted_shapes() -> None:
    deployments = {"m5.large": "md-large", "m5.xlarge": "md-xlarge"}
    assert replicas_for(request({"m5.xlarge": 3}), deployments) == {"md-large": 0, "md-xlarge": 3}


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"machineDeployments": {"m5.large": "md-a"}}, None),
        ({}, "machineDeployments must map"),
        ({"machineDeployments": {"m5.large": "Bad_Name"}}, "must be DNS names"),
        ({"machineDeployments": {"m5.large": "md"}, "namespace": "Not OK"}, "namespace must be"),
        ({"machineDeployments": {"m5.large": "md"}, "zone": "x"}, "unknown settings: zone"),
    ],
)
def test_cluster_api_settings_are_checked(settings: dict[str, Any], problem: str | None) -> None:
    found = ClusterApiProvider().check(settings)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("settings", "ok"),
    [
        ({}, True),
        ({"readyDelaySeconds": 2}, True),
        ({"readyDelaySeconds": -1}, False),
        ({"x": 1}, False),
    ],
)
def test_simulated_settings_are_checked(settings: dict[str, Any], ok: bool) -> None:
    assert (SimulatedProvider().check(settings) is None) is ok


def test_the_built_in_providers_are_found_through_entry_points() -> None:
    assert {"unmanaged", "simulated", "cluster-api"} <= set(load_providers())
