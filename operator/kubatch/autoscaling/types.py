"""What a provider is asked and what it answers: its own types, independent of the rest of
Kubatch (the engine builds requests and reads results; providers need nothing else)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class NodeShape:
    """A node shape a pool may grow by."""

    name: str
    vcpus: int
    memory: int
    """Bytes a node of this shape offers to pods."""
    gpus: int
    pods: int
    """How many pods a node of this shape holds."""


@dataclass(frozen=True, kw_only=True)
class PoolPlan:
    desired: Mapping[str, int]
    """Nodes wanted per shape name, existing ones included."""
    desired_vcpus: int
    remove: tuple[str, ...] = ()
    """Idle nodes to give up now."""
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ResizeRequest:
    """Make the pool of one compute environment match `plan`. Sent again and again (every
    scheduling pass that plans the pool): providers must be idempotent."""

    environment: str
    provider: str
    settings: Mapping[str, Any]
    plan: PoolPlan
    nodes: tuple[tuple[str, str | None], ...]
    """The pool's current nodes: (name, shape name)."""
    labels: Mapping[str, str]
    """Labels every node of the pool carries (how Kubatch finds the pool)."""
    taints: tuple[Mapping[str, str], ...] = ()
    shapes: tuple[NodeShape, ...] = ()


@dataclass(frozen=True)
class ResizeResult:
    """What came of a request, for scheduling to take into account."""

    unavailable: tuple[str, ...] = ()
    """Shapes that cannot be had now (no capacity, no MachineDeployment): the planner
    tries other shapes, or the jobs wait with CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY."""
    error: str | None = None
    """Why (part of) the request failed, for the environment's status."""
    requested: Mapping[str, int] = field(default_factory=dict)
    """Nodes asked for per shape and not yet in the pool."""


class KubeClient(Protocol):
    """The calls a provider makes (kubatch.kube.client.Client implements them). Errors are
    kubatch.kube.errors.ApiError."""

    async def get(
        self, api_version: str, plural: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(
        self, api_version: str, plural: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    async def delete(
        self,
        api_version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
    ) -> dict[str, Any]: ...
