"""JobDefinition: what a job runs (namespaced). Every spec change is a new revision."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from .common import (
    DNS_SUBDOMAIN,
    ENV_VAR_NAME,
    Annotations,
    ApiModel,
    Condition,
    Labels,
    ListMapKey,
    Parameters,
    Rule,
    StatusModel,
    Tags,
    has,
)
from .consumableresource import ConsumableResourceProperties
from .eks import EksProperties
from .resources import (
    LEGACY_RULES,
    MemoryQuantity,
    ResourceList,
    ResourceRequirement,
    with_legacy,
)

RESERVED_ENV_PREFIX = "AWS_BATCH_"
# AWS Batch refuses job definitions larger than this; so does Kubatch.
MAX_DEFINITION_BYTES = 24 * 1024

ResourceName = Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)]


class KeyValuePair(ApiModel):
    """An environment variable."""

    name: str = Field(min_length=1, max_length=256, pattern=ENV_VAR_NAME)
    """The variable's name."""
    value: str = Field(default="", max_length=32768)
    """The variable's value."""

    __rules__ = (
        Rule(
            f"name must not start with {RESERVED_ENV_PREFIX} (reserved for the variables "
            "Kubatch sets)",
            lambda kv: not kv.name.startswith(RESERVED_ENV_PREFIX),
            f"!self.name.startsWith('{RESERVED_ENV_PREFIX}')",
        ),
    )


Environment = Annotated[
    list[KeyValuePair], Field(default_factory=list, max_length=200), ListMapKey("name")
]
Command = Annotated[list[Annotated[str, Field(max_length=32768)]], Field(max_length=512)]


class HostVolume(ApiModel):
    source_path: str = Field(pattern=r"^/", max_length=4096)
    """The absolute path on the node."""


class EmptyDirVolume(ApiModel):
    medium: Literal["", "Memory"] = ""
    """"" (the node's disk) or Memory (tmpfs)."""
    size_limit: MemoryQuantity | None = None
    """The most it may hold: MiB (1024) or a quantity ("1Gi")."""


class ClaimVolume(ApiModel):
    claim_name: ResourceName
    """The claim's name."""
    read_only: bool = False
    """Mount it read-only."""


class SecretVolume(ApiModel):
    secret_name: ResourceName
    """The Secret's name."""


class ConfigMapVolume(ApiModel):
    name: ResourceName
    """The ConfigMap's name."""


class Volume(ApiModel):
    """A volume; with no source it is an empty scratch directory (emptyDir)."""

    name: str = Field(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """The volume's name, as mountPoints[].sourceVolume names it."""
    host: HostVolume | None = None
    """A path of the node (hostPath)."""
    empty_dir: EmptyDirVolume | None = None
    """A scratch directory that lives as long as the attempt's pod."""
    persistent_volume_claim: ClaimVolume | None = None
    """A PersistentVolumeClaim of the job's namespace."""
    secret: SecretVolume | None = None
    """A Secret of the job's namespace, one file per key."""
    config_map: ConfigMapVolume | None = None
    """A ConfigMap of the job's namespace, one file per key."""

    __rules__ = (
        Rule(
            "a volume has at most one source (host, emptyDir, persistentVolumeClaim, secret, "
            "configMap)",
            lambda v: (
                sum(
                    has(s)
                    for s in (
                        v.host,
                        v.empty_dir,
                        v.persistent_volume_claim,
                        v.secret,
                        v.config_map,
                    )
                )
                <= 1
            ),
            "[has(self.host), has(self.emptyDir), has(self.persistentVolumeClaim), "
            "has(self.secret), has(self.configMap)].filter(x, x).size() <= 1",
        ),
    )


class MountPoint(ApiModel):
    source_volume: str = Field(max_length=63)
    """The name of one of volumes."""
    container_path: str = Field(pattern=r"^/", max_length=4096)
    """The absolute path in the container."""
    read_only: bool = False
    """Mount it read-only."""


class SecretRef(ApiModel):
    """An environment variable read from a Secret: valueFrom is "<secret>:<key>"."""

    name: str = Field(min_length=1, max_length=256, pattern=ENV_VAR_NAME)
    """The variable's name."""
    value_from: str = Field(
        max_length=507,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*:[-._a-zA-Z0-9]+$",
    )
    """"<secret>:<key>": the Secret and the key whose value the variable gets."""

    __rules__ = (KeyValuePair.__rules__[0],)


class LinuxParameters(ApiModel):
    shared_memory_size: int | None = Field(default=None, ge=1, le=1_048_576)
    """Size of /dev/shm in MiB."""
    init_process_enabled: bool = False
    """Share the process namespace so that an init process reaps children."""


def _volume_names(c: ContainerProperties) -> set[str]:
    return {v.name for v in c.volumes}


class ContainerProperties(ApiModel):
    image: str = Field(min_length=1, max_length=1024)
    """The container image."""
    command: Command | None = None
    """Replaces the image's entrypoint arguments; "Ref::name" is replaced by parameters."""
    environment: Environment
    """Environment variables of the container; names starting AWS_BATCH_ are reserved."""
    resource_requirements: ResourceList = Field(default_factory=list)
    """VCPU, MEMORY and GPU of the container, one entry each (MEMORY is also its limit)."""
    vcpus: int | None = Field(default=None, ge=1, le=10_000)
    """Whole vCPUs, in AWS's older field (kept as given): the same as resourceRequirements
    VCPU, which it may not be given beside."""
    memory: int | None = Field(default=None, ge=4, le=100_000_000)
    """MiB, in AWS's older field (kept as given): the same as resourceRequirements MEMORY,
    which it may not be given beside."""
    volumes: Annotated[list[Volume], Field(default_factory=list, max_length=64), ListMapKey("name")]
    """Volumes the container can mount (mountPoints name them)."""
    mount_points: list[MountPoint] = Field(default_factory=list, max_length=64)
    """Where the container sees the volumes."""
    secrets: Annotated[
        list[SecretRef], Field(default_factory=list, max_length=100), ListMapKey("name")
    ]
    """Environment variables from Secrets of the job's namespace (AWS: from Secrets Manager)."""
    service_account_name: ResourceName | None = None
    """The job role: the pod runs as this ServiceAccount."""
    privileged: bool = False
    """Run the container privileged."""
    readonly_root_filesystem: bool = False
    """Mount the container's root filesystem read-only."""
    user: str | None = Field(default=None, pattern=r"^[0-9]+(:[0-9]+)?$", max_length=32)
    """uid or uid:gid the container runs as."""
    linux_parameters: LinuxParameters | None = None
    """Linux settings of the container (shared memory size, init process)."""

    def requirements(self) -> list[ResourceRequirement]:
        """VCPU, MEMORY and GPU, in whichever field each was given."""
        return with_legacy(self.resource_requirements, self.vcpus, self.memory)

    __rules__ = (
        *LEGACY_RULES,
        Rule(
            "every mountPoints[].sourceVolume must name one of volumes",
            lambda c: all(m.source_volume in _volume_names(c) for m in c.mount_points),
            "!has(self.mountPoints) || self.mountPoints.all(m, has(self.volumes) && "
            "self.volumes.exists(v, v.name == m.sourceVolume))",
        ),
    )


class NodeRangeProperty(ApiModel):
    target_nodes: str = Field(pattern=r"^([0-9]+|[0-9]*:[0-9]*)$", max_length=16)
    """Node indexes this container applies to: "0", "1:", ":3", "2:5"."""
    container: ContainerProperties
    """The container of the nodes in targetNodes."""


def target_range(target: str, num_nodes: int) -> range:
    """The node indexes a targetNodes value names: "2" is node 2; "1:3" nodes 1 to 3
    (inclusive, as in AWS Batch); ":3" from 0, "2:" up to the last node."""
    if ":" not in target:
        return range(int(target), int(target) + 1)
    first, _, last = target.partition(":")
    return range(int(first) if first else 0, int(last) + 1 if last else num_nodes)


def range_problem(nodes: NodeProperties) -> str | None:
    """Why the node ranges do not give every node exactly one container, or None."""
    owner: dict[int, str] = {}
    for r in nodes.node_range_properties:
        covered = target_range(r.target_nodes, nodes.num_nodes)
        if covered.start >= covered.stop:
            return f"targetNodes {r.target_nodes!r} names no node"
        if covered.stop > nodes.num_nodes:
            return f"targetNodes {r.target_nodes!r} reaches past numNodes {nodes.num_nodes}"
        for i in covered:
            if i in owner:
                return f"node {i} is in two ranges: targetNodes {owner[i]!r} and {r.target_nodes!r}"
            owner[i] = r.target_nodes
    missing = [i for i in range(nodes.num_nodes) if i not in owner]
    if missing:
        return f"node {missing[0]} is in no range: nodeRangeProperties must cover 0 to numNodes-1"
    return None


class NodeProperties(ApiModel):
    """Multi-node parallel jobs."""

    num_nodes: int = Field(ge=1, le=1000)
    """How many nodes the job runs on, 1 to 1000."""
    main_node: int = Field(default=0, ge=0, le=999)
    """The index of the main node: the job's outcome is the main node's."""
    node_range_properties: list[NodeRangeProperty] = Field(min_length=1, max_length=5)
    """The container of each range of node indexes (up to 5 ranges); together they cover
    every node exactly once."""
    distinct_nodes: bool = False
    """Run every node of the job on a different Kubernetes node (AWS Batch runs one container
    per instance); when false, nodes may share a Kubernetes node that has room for them."""

    __rules__ = (
        Rule(
            "mainNode must be less than numNodes",
            lambda n: n.main_node < n.num_nodes,
            "!has(self.mainNode) || self.mainNode < self.numNodes",
        ),
    )

    @model_validator(mode="after")
    def _ranges_cover_nodes(self) -> NodeProperties:
        # Not expressible in the schema's CEL within its cost budget: the operator checks it
        # and reports it in the definition's status.
        problem = range_problem(self)
        if problem is not None:
            raise PydanticCustomError(
                "rule", "nodeRangeProperties: {problem}", {"problem": problem}
            )
        return self


EXIT_CODE_PATTERN = r"^[0-9]*\*?$"
REASON_PATTERN = r"^[A-Za-z0-9.: \t]*\*?$"


class EvaluateOnExit(ApiModel):
    """A retry rule: all given conditions must match; first matching entry wins."""

    action: str = Field(max_length=16, pattern=r"^([Rr][Ee][Tt][Rr][Yy]|[Ee][Xx][Ii][Tt])$")
    """RETRY or EXIT (case-insensitive)."""
    on_status_reason: str | None = Field(default=None, max_length=512, pattern=REASON_PATTERN)
    """Matches the attempt's statusReason (letters, digits, '.', ':' and spaces; a trailing '*'
    matches any rest).
    """
    on_reason: str | None = Field(default=None, max_length=512, pattern=REASON_PATTERN)
    """Matches the attempt's reason (same syntax as onStatusReason)."""
    on_exit_code: str | None = Field(default=None, max_length=512, pattern=EXIT_CODE_PATTERN)
    """Digits with an optional trailing "*" that matches any rest."""


class RetryStrategy(ApiModel):
    attempts: int = Field(default=1, ge=1, le=10)
    """Attempts in all, 1 to 10 (1: no retry). An attempt counts once its work was placed."""
    evaluate_on_exit: list[EvaluateOnExit] = Field(default_factory=list, max_length=5)
    """Up to 5 rules, checked in order, first match wins; when none matches, the attempt is retried
    while attempts remain.
    """


class JobTimeout(ApiModel):
    attempt_duration_seconds: int = Field(ge=60)
    """Per attempt, from the moment it starts; a timed-out attempt is not retried."""


class PodTemplateMetadata(ApiModel):
    labels: Labels = Field(default_factory=dict)
    """Labels of every pod (up to 64)."""
    annotations: Annotations = Field(default_factory=dict)
    """Annotations of every pod (up to 64)."""


class PodTemplate(ApiModel):
    """Merged last into every pod of the job, for Kubernetes power users."""

    metadata: PodTemplateMetadata | None = None
    """Labels and annotations added to every pod."""
    spec: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    """Fields of a Kubernetes PodSpec, merged into every pod's spec."""


class PlatformCapability(StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"


class JobDefinitionType(StrEnum):
    CONTAINER = "container"
    MULTINODE = "multinode"


class JobDefinitionSpec(ApiModel):
    type: JobDefinitionType = JobDefinitionType.CONTAINER
    """container (one container per attempt) or multinode (nodeProperties: several nodes started
    together).
    """
    parameters: Parameters = Field(default_factory=dict)
    """Defaults for "Ref::name" placeholders in command; a job's parameters override them."""
    container_properties: ContainerProperties | None = None
    """The container of every attempt (type container)."""
    node_properties: NodeProperties | None = None
    """The nodes of a multi-node parallel job (type multinode)."""
    eks_properties: EksProperties | None = None
    """The pod of every attempt, written as AWS Batch on Amazon EKS writes it (type container,
    instead of containerProperties)."""
    retry_strategy: RetryStrategy | None = None
    """How often a failed attempt is tried again, and when not (a job's own retryStrategy wins)."""
    timeout: JobTimeout | None = None
    """How long an attempt may run (a job's own timeout wins)."""
    scheduling_priority: int | None = Field(default=None, ge=0, le=9999)
    """Order within a fair-share queue's share (higher first)."""
    tags: Tags = Field(default_factory=dict)
    """Tags of the definition (up to 50; values up to 256 characters)."""
    propagate_tags: bool | None = None
    """Copy tags to the pods as labels or annotations (unset: no)."""
    platform_capabilities: list[PlatformCapability] = Field(default_factory=list, max_length=1)
    """EC2 or FARGATE (AWS's unset: EC2): what the AWS API says the definition was registered
    for. Every environment runs either on a cluster."""
    consumable_resource_properties: ConsumableResourceProperties | None = None
    """The consumable resources each job holds while it runs (licenses, seats)."""
    registration: str | None = Field(default=None, max_length=64)
    """Any token: a new value makes a new revision even when nothing else changed. The AWS
    API sets one at each RegisterJobDefinition, as AWS makes a revision at every call;
    applying an unchanged spec without it makes none."""
    pod_template: PodTemplate | None = None
    """Merged last into every pod, for what the AWS fields do not say (Kubernetes power users)."""
    deregistered_revisions: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, max_length=10000
    )
    """Revisions made INACTIVE: jobs can no longer name them. Not part of a revision."""

    __rules__ = (
        Rule(
            "type container requires containerProperties or eksProperties (one of them) and "
            "no nodeProperties",
            lambda s: (
                s.type != JobDefinitionType.CONTAINER
                or (
                    has(s.container_properties) != has(s.eks_properties)
                    and not has(s.node_properties)
                )
            ),
            "(has(self.type) && self.type == 'multinode') || "
            "(has(self.containerProperties) != has(self.eksProperties) && "
            "!has(self.nodeProperties))",
        ),
        Rule(
            "type multinode requires nodeProperties and no containerProperties or eksProperties",
            lambda s: (
                s.type != JobDefinitionType.MULTINODE
                or (
                    has(s.node_properties)
                    and not has(s.container_properties)
                    and not has(s.eks_properties)
                )
            ),
            "!has(self.type) || self.type != 'multinode' || "
            "(has(self.nodeProperties) && !has(self.containerProperties) && "
            "!has(self.eksProperties))",
        ),
        Rule(
            f"a job definition must not exceed {MAX_DEFINITION_BYTES} bytes",
            lambda s: len(json.dumps(s.wire(), separators=(",", ":"))) <= MAX_DEFINITION_BYTES,
        ),
    )


class RevisionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class RevisionSummary(StatusModel):
    revision: int
    status: RevisionStatus
    created_at: datetime | None = None
    hash: str = ""


class JobDefinitionStatus(StatusModel):
    status: Literal["VALID", "INVALID"] | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    latest_revision: int | None = None
    """The revision a job gets when it names the definition without one."""
    revisions: list[RevisionSummary] = Field(default_factory=list)
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)
