"""eksProperties: a job definition written the way AWS Batch on Amazon EKS writes it, a pod's
properties (containers, init containers, volumes, the service account, host network, DNS
policy, labels and annotations), which map onto the attempt's pod directly."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .common import ENV_VAR_NAME, ApiModel, Labels, ListMapKey, ObjectName, Rule

RESERVED_ENV_PREFIX = "AWS_BATCH_"

EKS_RESOURCES = ("cpu", "memory", "nvidia.com/gpu")
"""The resources an EKS container may name in its limits and requests."""
Strings = Annotated[list[Annotated[str, Field(max_length=32768)]], Field(max_length=1000)]
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"


class ImagePullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class DnsPolicy(StrEnum):
    DEFAULT = "Default"
    CLUSTER_FIRST = "ClusterFirst"
    CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"


class EksEnvironmentVariable(ApiModel):
    name: str = Field(min_length=1, max_length=256, pattern=ENV_VAR_NAME)
    """The variable's name; names starting AWS_BATCH_ are reserved."""
    value: str | None = Field(default=None, max_length=32768)
    """The variable's value."""

    __rules__ = (
        Rule(
            f"name must not start with {RESERVED_ENV_PREFIX} (reserved for the variables "
            "Kubatch sets)",
            lambda e: not e.name.startswith(RESERVED_ENV_PREFIX),
            f"!self.name.startsWith('{RESERVED_ENV_PREFIX}')",
        ),
    )


Quantity = Annotated[str, Field(pattern=QUANTITY, max_length=32)]


class Quantities(ApiModel):
    """Amounts of the resources a container may name (Kubernetes quantities)."""

    cpu: Quantity | None = None
    """CPU: cores ("2") or millicores ("500m")."""
    memory: Quantity | None = None
    """Memory with a unit ("4Gi"); a bare number is bytes."""
    gpus: Quantity | None = Field(default=None, alias="nvidia.com/gpu")
    """NVIDIA GPUs, a whole number."""

    def amounts(self) -> dict[str, str]:
        """The amounts given, by their Kubernetes names."""
        return {k: v for k, v in self.wire().items() if v is not None}


class EksContainerResources(ApiModel):
    limits: Quantities = Field(default_factory=Quantities)
    """cpu, memory and nvidia.com/gpu the container may use at most (Kubernetes quantities)."""
    requests: Quantities = Field(default_factory=Quantities)
    """cpu, memory and nvidia.com/gpu the container is placed by (its limits when unset)."""


class EksVolumeMount(ApiModel):
    name: ObjectName
    """One of the pod's volumes."""
    mount_path: str = Field(pattern=r"^/", max_length=4096)
    """Where the container sees the volume (an absolute path)."""
    sub_path: str | None = Field(default=None, max_length=4096)
    """A path inside the volume to mount instead of its root."""
    read_only: bool = False
    """Mount it read-only."""


class EksSecurityContext(ApiModel):
    run_as_user: int | None = Field(default=None, ge=0)
    """The uid the container's processes run as."""
    run_as_group: int | None = Field(default=None, ge=0)
    """The gid the container's processes run as."""
    run_as_non_root: bool | None = None
    """Refuse to start the container as root."""
    privileged: bool | None = None
    """Run the container privileged."""
    allow_privilege_escalation: bool | None = None
    """Whether a process may gain more privileges than its parent."""
    read_only_root_filesystem: bool | None = None
    """Mount the container's root filesystem read-only."""


class EksContainer(ApiModel):
    name: ObjectName | None = None
    """The container's name (default: "default", and "default-<n>" after the first)."""
    image: str = Field(min_length=1, max_length=1024)
    """The container image."""
    image_pull_policy: ImagePullPolicy | None = None
    """Always, IfNotPresent or Never."""
    command: list[Annotated[str, Field(max_length=32768)]] = Field(
        default_factory=list, max_length=1000
    )
    """The entrypoint (the image's when empty)."""
    args: list[Annotated[str, Field(max_length=32768)]] = Field(
        default_factory=list, max_length=1000
    )
    """Its arguments (the image's CMD when empty); "Ref::name" is replaced by parameters."""
    env: Annotated[
        list[EksEnvironmentVariable],
        Field(default_factory=list, max_length=1000),
        ListMapKey("name"),
    ]
    """Environment variables of the container; names starting AWS_BATCH_ are reserved."""
    resources: EksContainerResources = Field(default_factory=EksContainerResources)
    """cpu, memory and nvidia.com/gpu: its limits and requests."""
    volume_mounts: list[EksVolumeMount] = Field(default_factory=list, max_length=64)
    """Where the container sees the pod's volumes."""
    security_context: EksSecurityContext | None = None
    """The container's security settings."""


class EksHostPath(ApiModel):
    path: str = Field(pattern=r"^/", max_length=4096)
    """A path on the node."""


class EksEmptyDir(ApiModel):
    medium: str | None = Field(default=None, pattern=r"^(|Memory)$")
    """Memory for a tmpfs; empty for the node's disk."""
    size_limit: str | None = Field(default=None, pattern=QUANTITY, max_length=32)
    """The most it may hold (a Kubernetes quantity)."""


class EksSecretVolume(ApiModel):
    secret_name: ObjectName
    """A Secret of the job's namespace, one file per key."""
    optional: bool | None = None
    """Start the pod even when the Secret does not exist."""


class EksClaim(ApiModel):
    claim_name: ObjectName
    """A PersistentVolumeClaim of the job's namespace."""
    read_only: bool | None = None
    """Mount it read-only."""


class EksVolume(ApiModel):
    name: ObjectName
    """The volume's name (volumeMounts name it)."""
    host_path: EksHostPath | None = None
    """A path on the node."""
    empty_dir: EksEmptyDir | None = None
    """An empty directory for the pod's life."""
    secret: EksSecretVolume | None = None
    """A Secret's keys as files."""
    persistent_volume_claim: EksClaim | None = None
    """A PersistentVolumeClaim."""

    __rules__ = (
        Rule(
            "a volume has exactly one source (hostPath, emptyDir, secret, persistentVolumeClaim)",
            lambda v: (
                sum(
                    s is not None
                    for s in (v.host_path, v.empty_dir, v.secret, v.persistent_volume_claim)
                )
                == 1
            ),
            "[has(self.hostPath), has(self.emptyDir), has(self.secret), "
            "has(self.persistentVolumeClaim)].filter(x, x).size() == 1",
        ),
    )


class EksMetadata(ApiModel):
    labels: Labels = Field(default_factory=dict)
    """Labels of the pod (Kubatch's own win)."""
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=64
    )
    """Annotations of the pod."""


class EksImagePullSecret(ApiModel):
    name: ObjectName
    """A Secret of the job's namespace with registry credentials."""


def _container_names(p: EksPodProperties) -> list[str]:
    return names_of(p.init_containers, "init") + names_of(p.containers, "default")


def names_of(containers: list[EksContainer], base: str) -> list[str]:
    """Each container's name: its own, or `base` for the first and `base-<n>` after."""
    return [c.name or (base if i == 0 else f"{base}-{i}") for i, c in enumerate(containers)]


class EksPodProperties(ApiModel):
    service_account_name: ObjectName | None = None
    """The ServiceAccount the pod runs as (the job role)."""
    host_network: bool | None = None
    """Use the node's network namespace."""
    dns_policy: DnsPolicy | None = None
    """Default, ClusterFirst or ClusterFirstWithHostNet."""
    image_pull_secrets: list[EksImagePullSecret] = Field(default_factory=list, max_length=16)
    """Secrets with registry credentials for the images."""
    containers: list[EksContainer] = Field(min_length=1, max_length=10)
    """The pod's containers; the first is the essential one, whose exit code is the job's."""
    init_containers: list[EksContainer] = Field(default_factory=list, max_length=10)
    """Containers that run to completion, one after another, before the others start."""
    volumes: Annotated[
        list[EksVolume], Field(default_factory=list, max_length=64), ListMapKey("name")
    ]
    """Volumes the containers can mount."""
    metadata: EksMetadata | None = None
    """Labels and annotations of the pod."""
    share_process_namespace: bool | None = None
    """The containers see one another's processes."""

    __rules__ = (
        Rule(
            "container names must be unique (init containers' too)",
            lambda p: len(set(_container_names(p))) == len(_container_names(p)),
        ),
    )


class EksProperties(ApiModel):
    pod_properties: EksPodProperties
    """The pod every attempt runs in."""


class EksContainerOverride(ApiModel):
    name: ObjectName | None = None
    """The container it changes (the first when unset)."""
    image: str | None = Field(default=None, min_length=1, max_length=1024)
    """Replaces the container's image."""
    command: list[Annotated[str, Field(max_length=32768)]] | None = Field(
        default=None, max_length=1000
    )
    """Replaces the container's entrypoint."""
    args: list[Annotated[str, Field(max_length=32768)]] | None = Field(
        default=None, max_length=1000
    )
    """Replaces the container's arguments."""
    env: list[EksEnvironmentVariable] = Field(default_factory=list, max_length=1000)
    """Variables added to (or replacing) the container's."""
    resources: EksContainerResources | None = None
    """Replaces the container's limits and requests."""


class EksPodPropertiesOverride(ApiModel):
    containers: list[EksContainerOverride] = Field(default_factory=list, max_length=10)
    """Changes of the pod's containers, each by name."""
    init_containers: list[EksContainerOverride] = Field(default_factory=list, max_length=10)
    """Changes of the pod's init containers, each by name."""
    metadata: EksMetadata | None = None
    """Labels and annotations added to the pod's."""


class EksPropertiesOverride(ApiModel):
    pod_properties: EksPodPropertiesOverride | None = None
    """What the job changes of the definition's pod."""
