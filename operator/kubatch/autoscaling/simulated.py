"""`simulated`: fake Node objects of the chosen shapes, for the embedded default, tests and
benchmarks. They carry kwok's annotation and taint, so that on a real cluster kwok could run
them; without kwok, `kubatch.sim.kubelet` makes them Ready and runs their pods."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from ..api.resources import format_memory
from ..keys import (
    KWOK_KEY,
    LABEL_HOSTNAME,
    LABEL_INSTANCE_TYPE,
    LABEL_SIMULATED,
    SIM_READY_DELAY,
)
from ..kube.errors import ApiError
from .types import KubeClient, NodeShape, ResizeRequest, ResizeResult

log = logging.getLogger(__name__)

KWOK_TAINT = {"key": KWOK_KEY, "value": "fake", "effect": "NoSchedule"}


def node_manifest(
    name: str, shape: NodeShape, labels: Mapping[str, str], taints: tuple[Mapping[str, str], ...]
) -> dict[str, Any]:
    resources = {
        "cpu": str(shape.vcpus),
        "memory": format_memory(shape.memory),
        "pods": str(shape.pods),
    }
    if shape.gpus:
        resources["nvidia.com/gpu"] = str(shape.gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                **labels,
                LABEL_INSTANCE_TYPE: shape.name,
                LABEL_HOSTNAME: name,
                LABEL_SIMULATED: "true",
                "type": "kwok",
            },
            "annotations": {KWOK_KEY: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [*[dict(t) for t in taints], KWOK_TAINT]},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "KubeletNotReady",
                    "message": "the simulated kubelet has not started the node yet",
                }
            ],
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
                "kernelVersion": "simulated",
                "osImage": "kubatch simulated node",
                "containerRuntimeVersion": "sim://1.0",
                "kubeletVersion": "v1.31.0-kubatch-sim",
                "kubeProxyVersion": "v1.31.0-kubatch-sim",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


class SimulatedProvider:
    name = "simulated"
    tolerations: tuple[Mapping[str, str], ...] = (
        {"key": KWOK_KEY, "operator": "Exists", "effect": "NoSchedule"},
    )

    def __init__(self) -> None:
        self.creating: dict[str, dict[str, str]] = {}
        """Per environment, nodes asked for but not seen in the pool yet: name -> shape."""

    def check(self, settings: Mapping[str, Any]) -> str | None:
        unknown = set(settings) - {"readyDelaySeconds"}
        if unknown:
            return f"unknown settings: {', '.join(sorted(unknown))} (known: readyDelaySeconds)"
        delay = settings.get("readyDelaySeconds")
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            return "readyDelaySeconds must be a number of seconds, zero or more"
        return None

    async def resize(self, request: ResizeRequest, client: KubeClient) -> ResizeResult:
        creating = self.creating.setdefault(request.environment, {})
        to_create, to_delete, unknown = plan_nodes(request, creating)
        errors: list[str] = []
        delay = request.settings.get("readyDelaySeconds")
        for shape in to_create:
            name = f"{request.environment}-{shape.name.replace('.', '-')}-{uuid.uuid4().hex[:5]}"
            body = node_manifest(name, shape, request.labels, request.taints)
            if delay is not None:
                body["metadata"]["annotations"][SIM_READY_DELAY] = str(delay)
            try:
                await client.create("v1", "nodes", body)
                creating[name] = shape.name
            except ApiError as e:
                log.warning("could not create node %s: %s", name, e)
                errors.append(f"node {name}: {e.message}")
        for name in to_delete:
            try:
                await client.delete("v1", "nodes", name)
            except ApiError as e:
                if not e.not_found:
                    log.warning("could not delete node %s: %s", name, e)
                    errors.append(f"node {name}: {e.message}")
        requested: dict[str, int] = {}
        for shape_name in creating.values():
            requested[shape_name] = requested.get(shape_name, 0) + 1
        return ResizeResult(unknown, "; ".join(errors) or None, requested)


def plan_nodes(
    request: ResizeRequest, creating: dict[str, str]
) -> tuple[list[NodeShape], list[str], tuple[str, ...]]:
    """The nodes to create (their shapes) and to delete for a plan. `creating` holds the
    nodes asked for and not seen in the pool yet (name -> shape); seen ones leave it."""
    present = {name for name, _ in request.nodes}
    for name in present & creating.keys():
        del creating[name]
    have: dict[str, int] = {}
    for name, kind in [*request.nodes, *creating.items()]:
        if name not in request.plan.remove and kind is not None:
            have[kind] = have.get(kind, 0) + 1
    shapes = {s.name: s for s in request.shapes}
    to_create: list[NodeShape] = []
    unknown: list[str] = []
    for shape_name, wanted in sorted(request.plan.desired.items()):
        shape = shapes.get(shape_name)
        if shape is None:
            log.warning("no shape %s for environment %s", shape_name, request.environment)
            unknown.append(shape_name)
            continue
        to_create += [shape] * max(0, wanted - have.get(shape_name, 0))
    return to_create, [name for name in request.plan.remove if name in present], tuple(unknown)
