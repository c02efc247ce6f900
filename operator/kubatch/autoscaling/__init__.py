"""Autoscaling: how a managed compute environment's pool is told what size to be.

A provider is found by name through the entry-point group `kubatch.autoscalers`; each entry
point names a class implementing `NodePoolProvider`. Kubatch ships `unmanaged` (never
scales), `simulated` (fake Node objects) and `cluster-api` arrives with its own backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from .types import KubeClient, NodeShape, PoolPlan, ResizeRequest, ResizeResult

ENTRY_POINT_GROUP = "kubatch.autoscalers"
__all__ = [
    "ENTRY_POINT_GROUP",
    "KubeClient",
    "NodePoolProvider",
    "NodeShape",
    "PoolPlan",
    "ResizeRequest",
    "ResizeResult",
    "load_providers",
]


@runtime_checkable
class NodePoolProvider(Protocol):
    """Turns a compute environment's capacity plan into changes of its node pool."""

    name: str
    tolerations: tuple[Mapping[str, str], ...]
    """Tolerations every pod of a pool managed by this provider needs."""

    def check(self, settings: Mapping[str, Any]) -> str | None:
        """Why these settings are unusable, or None."""

    async def resize(self, request: ResizeRequest, client: KubeClient) -> ResizeResult | None:
        """Make the pool match the plan: idempotent, safe to call again at any time. Return
        what scheduling should know (shapes unavailable, an error), or None."""


def load_providers() -> dict[str, NodePoolProvider]:
    """Every installed provider, by name."""
    found: dict[str, NodePoolProvider] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        provider = entry.load()()
        found[entry.name] = provider
    return found
