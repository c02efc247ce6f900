"""ComputeEnvironment: a pool of nodes that grows and shrinks with demand (cluster-scoped)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from .common import (
    DNS_LABEL,
    DNS_LABEL_MAX,
    DNS_SUBDOMAIN,
    LABEL_KEY,
    ApiModel,
    Condition,
    ListMapKey,
    Rule,
    State,
    StatusModel,
    has,
)
from .resources import MemoryQuantity

CLUSTER_NAME_MAX = 40


class ComputeEnvironmentType(StrEnum):
    MANAGED = "MANAGED"
    UNMANAGED = "UNMANAGED"


class ComputeResourceType(StrEnum):
    EC2 = "EC2"
    SPOT = "SPOT"
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


class AllocationStrategy(StrEnum):
    BEST_FIT = "BEST_FIT"
    BEST_FIT_PROGRESSIVE = "BEST_FIT_PROGRESSIVE"
    SPOT_CAPACITY_OPTIMIZED = "SPOT_CAPACITY_OPTIMIZED"
    SPOT_PRICE_CAPACITY_OPTIMIZED = "SPOT_PRICE_CAPACITY_OPTIMIZED"


SPOT_STRATEGIES = (
    AllocationStrategy.SPOT_CAPACITY_OPTIMIZED,
    AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
)


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(ApiModel):
    """A taint every node of the pool carries; the pool's pods tolerate it."""

    key: str = Field(max_length=316, pattern=LABEL_KEY)
    """The taint's key (a label key)."""
    value: str | None = Field(default=None, max_length=63)
    """The taint's value; omitted, the pods tolerate any value."""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE
    """NoSchedule, PreferNoSchedule or NoExecute."""


InstanceTypeName = Annotated[
    str, Field(max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9]+)?$")
]


class CustomInstanceType(ApiModel):
    """A node shape that is not in the built-in catalog."""

    name: InstanceTypeName
    """The shape's name, as instanceTypes and the nodes' node.kubernetes.io/instance-type label
    give it.
    """
    vcpus: int = Field(ge=1, le=1024)
    """vCPUs of a node of this shape."""
    memory: MemoryQuantity
    """MiB (16384) or a quantity ("16Gi")."""
    gpus: int = Field(default=0, ge=0, le=64)
    """GPUs of a node of this shape (nvidia.com/gpu)."""
    price: float = Field(default=0.0, ge=0)
    """On-demand price per hour, used to pick the cheapest shape that fits."""


class ComputeResources(ApiModel):
    """The shape and limits of a managed pool, as in AWS Batch's computeResources."""

    type: ComputeResourceType = ComputeResourceType.EC2
    """EC2, SPOT, FARGATE or FARGATE_SPOT, as in AWS Batch; SPOT enables bidPercentage and the
    SPOT_* allocation strategies.
    """
    minv_cpus: int = Field(default=0, ge=0, le=1_000_000, alias="minvCpus")
    """vCPUs kept even when idle or DISABLED."""
    desiredv_cpus: int | None = Field(default=None, ge=0, le=1_000_000, alias="desiredvCpus")
    """Initial desired vCPUs; afterwards Kubatch sets it from demand."""
    maxv_cpus: int = Field(ge=1, le=1_000_000, alias="maxvCpus")
    """Never exceeded by more than one node."""
    instance_types: list[InstanceTypeName] = Field(
        default_factory=lambda: ["optimal"], max_length=50
    )
    """Catalog names ("m5.large"), families ("m5") or "optimal"."""
    custom_instance_types: Annotated[
        list[CustomInstanceType], Field(default_factory=list, max_length=20), ListMapKey("name")
    ]
    """Node shapes beyond the built-in catalog, by name (up to 20); name them in instanceTypes."""
    allocation_strategy: AllocationStrategy = AllocationStrategy.BEST_FIT
    """How new nodes' shapes are chosen: BEST_FIT (the cheapest that fits; wait when unavailable),
    BEST_FIT_PROGRESSIVE (the next fitting one), SPOT_CAPACITY_OPTIMIZED or
    SPOT_PRICE_CAPACITY_OPTIMIZED (SPOT only).
    """
    bid_percentage: int | None = Field(default=None, ge=0, le=100)
    """SPOT only: the most to pay, as a percentage of the on-demand price."""
    node_labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    """Labels that select the pool's nodes (and that new nodes carry)."""
    taints: Annotated[list[Taint], Field(default_factory=list, max_length=16), ListMapKey("key")]
    """Taints every node of the pool carries; the pool's pods tolerate them."""

    __rules__ = (
        Rule(
            "minvCpus must not exceed maxvCpus",
            lambda c: c.minv_cpus <= c.maxv_cpus,
            "!has(self.minvCpus) || !has(self.maxvCpus) || self.minvCpus <= self.maxvCpus",
        ),
        Rule(
            "desiredvCpus must lie between minvCpus and maxvCpus",
            lambda c: c.desiredv_cpus is None or c.minv_cpus <= c.desiredv_cpus <= c.maxv_cpus,
            "!has(self.desiredvCpus) || ((!has(self.minvCpus) || self.minvCpus <= "
            "self.desiredvCpus) && (!has(self.maxvCpus) || self.desiredvCpus <= self.maxvCpus))",
        ),
        Rule(
            "bidPercentage applies only to type SPOT",
            lambda c: c.bid_percentage is None or c.type == ComputeResourceType.SPOT,
            "!has(self.bidPercentage) || (has(self.type) && self.type == 'SPOT')",
        ),
        Rule(
            "allocationStrategy SPOT_CAPACITY_OPTIMIZED and SPOT_PRICE_CAPACITY_OPTIMIZED "
            "apply only to type SPOT",
            lambda c: (
                c.allocation_strategy not in SPOT_STRATEGIES or c.type == ComputeResourceType.SPOT
            ),
            "!has(self.allocationStrategy) || !self.allocationStrategy.startsWith('SPOT_') "
            "|| (has(self.type) && self.type == 'SPOT')",
        ),
    )


class ProviderRef(ApiModel):
    """Which autoscaling backend manages the pool, and its settings."""

    name: str = Field(max_length=DNS_LABEL_MAX, pattern=DNS_LABEL)
    """An entry point of group kubatch.autoscalers: unmanaged, simulated, cluster-api, ..."""
    settings: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    """The provider's own settings (see its documentation); a provider refuses ones it does not
    know, and the environment is then INVALID.
    """


class SecretKeyRef(ApiModel):
    """A key of a Secret in the operator's namespace."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)
    """The Secret's name."""
    key: str = Field(default="kubeconfig", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """The key of its data that holds the kubeconfig."""


class ClusterRef(ApiModel):
    """Another cluster (a worker cluster) whose nodes make the pool: Kubatch creates the
    attempts' pods there and watches them and the nodes; jobs and their statuses stay in the
    cluster the operator runs in. The worker cluster needs no Kubatch install, only the job
    namespaces and the RBAC of the chart's worker template for the kubeconfig's user."""

    name: str = Field(max_length=CLUSTER_NAME_MAX, pattern=DNS_LABEL)
    """How the cluster is named where an attempt ran: its nodes show as `<name>:<node>`.
    Environments that name one cluster must give it the same kubeconfigSecret."""
    kubeconfig_secret: SecretKeyRef
    """A kubeconfig for the worker cluster (its current context is used)."""


class ComputeEnvironmentSpec(ApiModel):
    type: ComputeEnvironmentType = ComputeEnvironmentType.MANAGED
    """MANAGED (Kubatch sizes the pool between minvCpus and maxvCpus through its provider) or
    UNMANAGED (the pool is the nodes that carry nodeLabels; never scaled).
    """
    state: State = State.ENABLED
    """DISABLED: no new placements, running jobs continue, scale in to minvCpus."""
    compute_resources: ComputeResources | None = None
    """Required for MANAGED environments."""
    provider: ProviderRef | None = None
    """Defaults to the operator's default backend (MANAGED) or unmanaged (UNMANAGED)."""
    cluster: ClusterRef | None = None
    """The worker cluster whose nodes make the pool; absent: the operator's own cluster."""

    __rules__ = (
        Rule(
            "computeResources is required when type is MANAGED",
            lambda s: s.type != ComputeEnvironmentType.MANAGED or has(s.compute_resources),
            "(has(self.type) && self.type == 'UNMANAGED') || has(self.computeResources)",
        ),
    )


class ComputeEnvironmentStatusValue(StrEnum):
    CREATING = "CREATING"
    UPDATING = "UPDATING"
    DELETING = "DELETING"
    VALID = "VALID"
    INVALID = "INVALID"


class ScalingAction(StatusModel):
    time: datetime
    fromv_cpus: int = Field(alias="fromvCpus")
    tov_cpus: int = Field(alias="tovCpus")
    reason: str = ""


class ComputeEnvironmentStatus(StatusModel):
    status: ComputeEnvironmentStatusValue | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    desiredv_cpus: int = Field(default=0, alias="desiredvCpus")
    readyv_cpus: int = Field(default=0, alias="readyvCpus")
    allocatedv_cpus: float = Field(default=0.0, alias="allocatedvCpus")
    desired_nodes: int = 0
    ready_nodes: int = 0
    nodes_by_type: dict[str, int] = Field(default_factory=dict)
    last_scaling_action: ScalingAction | None = None
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)
