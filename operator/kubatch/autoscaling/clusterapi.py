"""`cluster-api`: one MachineDeployment per node shape, sized through its scale subresource.

Settings (in the compute environment's spec.provider.settings):
  machineDeployments: {shape: name}   the MachineDeployment that makes nodes of each shape
  namespace: the MachineDeployments' namespace (default "default")
  apiVersion: cluster.x-k8s.io/v1beta1 (default)

The nodes the MachineDeployments make must carry the environment's node labels (set them in
the machine template), so that Kubatch sees them as the pool. Idle nodes Kubatch gives up are
marked for deletion on their Machine (cluster.x-k8s.io/delete-machine) before the replicas
go down, so that Cluster API removes those and not busy ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from ..kube.errors import ApiError
from .types import KubeClient, ResizeRequest, ResizeResult

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "cluster.x-k8s.io/v1beta1"
MACHINE_ANNOTATION = "cluster.x-k8s.io/machine"
NAMESPACE_ANNOTATION = "cluster.x-k8s.io/cluster-namespace"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def replicas_for(request: ResizeRequest, deployments: Mapping[str, str]) -> dict[str, int]:
    """MachineDeployment -> replicas: the plan's nodes per shape; shapes of the pool that
    the plan no longer wants go to zero."""
    return {name: request.plan.desired.get(shape, 0) for shape, name in sorted(deployments.items())}


class ClusterApiProvider:
    name = "cluster-api"
    tolerations: tuple[Mapping[str, str], ...] = ()

    def check(self, settings: Mapping[str, Any]) -> str | None:
        unknown = set(settings) - {"machineDeployments", "namespace", "apiVersion"}
        if unknown:
            known = "machineDeployments, namespace, apiVersion"
            return f"unknown settings: {', '.join(sorted(unknown))} (known: {known})"
        deployments = settings.get("machineDeployments")
        if not isinstance(deployments, Mapping) or not deployments:
            return "machineDeployments must map each instance type to a MachineDeployment name"
        bad = [str(v) for v in deployments.values() if not isinstance(v, str) or not _NAME.match(v)]
        if bad:
            return f"machineDeployments names must be DNS names: {', '.join(bad)}"
        namespace = settings.get("namespace", "default")
        if not isinstance(namespace, str) or not _NAME.match(namespace):
            return "namespace must be a DNS label"
        return None

    async def resize(self, request: ResizeRequest, client: KubeClient) -> ResizeResult:
        settings = request.settings
        api_version = str(settings.get("apiVersion", DEFAULT_API_VERSION))
        namespace = str(settings.get("namespace", "default"))
        deployments: Mapping[str, str] = settings.get("machineDeployments") or {}
        missing = sorted(shape for shape in request.plan.desired if shape not in deployments)
        errors: list[str] = []
        if missing:
            log.warning("%s: no MachineDeployment for %s", request.environment, ", ".join(missing))
        for node in request.plan.remove:
            await self._mark_for_deletion(client, api_version, node)
        for name, replicas in replicas_for(request, deployments).items():
            try:
                await client.patch(
                    api_version,
                    "machinedeployments",
                    name,
                    {"spec": {"replicas": replicas}},
                    namespace,
                    "scale",
                )
            except ApiError as e:
                log.warning(
                    "%s: could not scale MachineDeployment %s/%s: %s",
                    request.environment,
                    namespace,
                    name,
                    e,
                )
                errors.append(f"MachineDeployment {namespace}/{name}: {e.message}")
        return ResizeResult(
            unavailable=tuple(missing),
            error="; ".join(errors) or None,
        )

    async def _mark_for_deletion(
        self, client: KubeClient, api_version: str, node_name: str
    ) -> None:
        try:
            node = await client.get("v1", "nodes", node_name)
        except ApiError:
            return
        annotations = node["metadata"].get("annotations") or {}
        machine = annotations.get(MACHINE_ANNOTATION)
        if not machine:
            return
        namespace = annotations.get(NAMESPACE_ANNOTATION, "default")
        try:
            await client.patch(
                api_version,
                "machines",
                machine,
                {"metadata": {"annotations": {DELETE_MACHINE: "yes"}}},
                namespace,
            )
        except ApiError as e:
            log.warning("could not mark Machine %s/%s for deletion: %s", namespace, machine, e)
