"""An example autoscaling provider for Kubatch: it records each compute environment's wanted
size in a ConfigMap, for another system to act on. Install it (pip install .) and name it in
a compute environment: spec.provider: {name: configmap, settings: {namespace: default}}."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubatch.autoscaling import KubeClient, ResizeRequest, ResizeResult
from kubatch.kube.errors import ApiError


class ConfigMapProvider:
    name = "configmap"
    # Tolerations every pod of such a pool needs (none here).
    tolerations: tuple[Mapping[str, str], ...] = ()

    def check(self, settings: Mapping[str, Any]) -> str | None:
        """Say what is wrong with the settings, or None: the environment is INVALID otherwise."""
        unknown = set(settings) - {"namespace"}
        return f"unknown settings: {', '.join(sorted(unknown))}" if unknown else None

    async def resize(self, request: ResizeRequest, client: KubeClient) -> ResizeResult | None:
        """Make the pool match the plan. Called again and again: it must be idempotent.
        Return what scheduling should know (shapes unavailable, an error), or None."""
        namespace = str(request.settings.get("namespace", "default"))
        name = f"kubatch-{request.environment}-capacity"
        data = {
            "desired": json.dumps(request.plan.desired, sort_keys=True),
            "desiredvCpus": str(request.plan.desired_vcpus),
            "remove": json.dumps(sorted(request.plan.remove)),
        }
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
        try:
            await client.patch("v1", "configmaps", name, {"data": data}, namespace)
        except ApiError as e:
            if not e.not_found:
                raise
            await client.create("v1", "configmaps", body, namespace)
        return None
