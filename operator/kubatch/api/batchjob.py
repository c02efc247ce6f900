"""BatchJob: one submission of a job definition to a queue (namespaced)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from ..keys import split_cluster
from .common import (
    DNS_LABEL_MAX,
    ApiModel,
    Condition,
    JobCounts,
    JobStatus,
    ListMapKey,
    ObjectName,
    Parameters,
    Rule,
    StatusModel,
    Tags,
    has,
)
from .consumableresource import ConsumableResourceProperties
from .eks import EksPropertiesOverride
from .jobdefinition import Command, Environment, JobTimeout, RetryStrategy
from .resources import LEGACY_RULES, ResourceList, ResourceRequirement, with_legacy

MAX_ARRAY_SIZE = 10_000
MAX_DEPENDENCIES = 20

DEFINITION_REF = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(:[1-9][0-9]*)?$"
JOB_REF = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(:(0|[1-9][0-9]*))?$"
INDEX_RANGES = r"^(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?(,(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?)*$"


class DependencyType(StrEnum):
    N_TO_N = "N_TO_N"
    """Child i waits for child i of the named array job (same size)."""
    SEQUENTIAL = "SEQUENTIAL"
    """This array's children run one after another in index order; names no job."""
    AFTER_ANY = "AFTER_ANY"
    """Kubatch addition: wait until the named job finished, whatever its outcome."""


class JobDependency(ApiModel):
    job_name: str | None = Field(default=None, max_length=DNS_LABEL_MAX + 6, pattern=JOB_REF)
    """A BatchJob in the same namespace, or one child of an array job as "name:index"."""
    type: DependencyType | None = None
    """Unset: the named job (or child) must succeed."""

    __rules__ = (
        Rule(
            "type SEQUENTIAL names no jobName; every other dependency needs a jobName",
            lambda d: (d.type == DependencyType.SEQUENTIAL) != has(d.job_name),
            "(has(self.type) && self.type == 'SEQUENTIAL') != has(self.jobName)",
        ),
        Rule(
            'type N_TO_N names a whole array job, not one child (no ":index")',
            lambda d: d.type != DependencyType.N_TO_N or ":" not in (d.job_name or ""),
            "!has(self.type) || self.type != 'N_TO_N' || !has(self.jobName) || "
            "!self.jobName.contains(':')",
        ),
    )


class ArrayProperties(ApiModel):
    size: int = Field(ge=2, le=MAX_ARRAY_SIZE)
    """How many children, 2 to 10000."""


class ContainerOverrides(ApiModel):
    command: Command | None = None
    """Replaces the definition's command ("Ref::name" placeholders are replaced)."""
    environment: Environment
    """Environment variables added to (or replacing) the definition's; names starting AWS_BATCH_
    are reserved.
    """
    resource_requirements: ResourceList = Field(default_factory=list)
    """VCPU, MEMORY or GPU that replace the definition's, type by type."""
    vcpus: int | None = Field(default=None, ge=1, le=10_000)
    """Whole vCPUs, in AWS's older field (kept as given): replaces the definition's VCPU."""
    memory: int | None = Field(default=None, ge=4, le=100_000_000)
    """MiB, in AWS's older field (kept as given): replaces the definition's MEMORY."""

    def requirements(self) -> list[ResourceRequirement]:
        """VCPU, MEMORY and GPU, in whichever field each was given."""
        return with_legacy(self.resource_requirements, self.vcpus, self.memory)

    __rules__ = LEGACY_RULES


class NodePropertyOverride(ApiModel):
    target_nodes: str = Field(pattern=r"^([0-9]+|[0-9]*:[0-9]*)$", max_length=16)
    """The nodes it changes: "0", "1:", ":3", "2:5" (as the definition's targetNodes)."""
    container_overrides: ContainerOverrides
    """What it changes of those nodes' containers."""


class NodeOverrides(ApiModel):
    """What a multi-node job changes of its definition's nodes (AWS's nodeOverrides)."""

    num_nodes: int | None = Field(default=None, ge=1, le=1000)
    """How many nodes instead of the definition's: a node range of the definition must be open
    at its end ("1:"), and the main node among them."""
    node_property_overrides: list[NodePropertyOverride] = Field(default_factory=list, max_length=5)
    """Container overrides by node range, applied in order."""


class StopRequest(ApiModel):
    """A cancel or terminate request, set by the user (kubectl patch or kubatch cancel)."""

    reason: str = Field(min_length=1, max_length=1024)
    """Why: the job's statusReason when it fails this way (up to 1024 characters)."""
    array_indexes: str | None = Field(default=None, max_length=4096, pattern=INDEX_RANGES)
    """Only these children of an array job ("3", "0-4,9"); all when unset."""


class BatchJobSpec(ApiModel):
    job_queue: ObjectName
    """The JobQueue the job is submitted to."""
    job_definition: str = Field(max_length=DNS_LABEL_MAX + 11, pattern=DEFINITION_REF)
    """A JobDefinition in the same namespace: "name" (latest active revision) or "name:3"."""
    parameters: Parameters = Field(default_factory=dict)
    """Values for "Ref::name" placeholders in the command; they win over the definition's."""
    container_overrides: ContainerOverrides | None = None
    """What this job changes of the definition's container."""
    consumable_resource_properties_override: ConsumableResourceProperties | None = None
    """The consumable resources this job holds instead of the definition's, resource by
    resource."""
    eks_properties_override: EksPropertiesOverride | None = None
    """What this job changes of an EKS definition's pod (containers by name, labels)."""
    node_overrides: NodeOverrides | None = None
    """What this job changes of a multi-node definition's nodes (their number, their
    containers)."""
    array_properties: ArrayProperties | None = None
    """Makes this an array job of size children, each with AWS_BATCH_JOB_ARRAY_INDEX."""
    depends_on: list[JobDependency] = Field(default_factory=list, max_length=MAX_DEPENDENCIES)
    """Jobs this one waits for (up to 20): it runs when they SUCCEEDED, and fails when one FAILED.
    """
    retry_strategy: RetryStrategy | None = None
    """Overrides the definition's retryStrategy."""
    timeout: JobTimeout | None = None
    """Overrides the definition's timeout."""
    scheduling_priority_override: int | None = Field(default=None, ge=0, le=9999)
    """Overrides the definition's schedulingPriority (0 to 9999; fair-share queues only)."""
    share_identifier: str | None = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9_]+$")
    """The fair-share identifier; required on a queue with a scheduling policy."""
    tags: Tags = Field(default_factory=dict)
    """Tags of the job (up to 50; values up to 256 characters)."""
    propagate_tags: bool | None = None
    """Copy the job's and the definition's tags to its pods (as annotations); defaults to the
    definition's.
    """
    cancel: StopRequest | None = None
    """Cancel: a job not yet STARTING fails with this reason; later states are unaffected."""
    terminate: StopRequest | None = None
    """Terminate: a STARTING or RUNNING job is stopped and fails; earlier states cancel."""

    __rules__ = (
        Rule(
            "dependsOn types N_TO_N and SEQUENTIAL require arrayProperties",
            lambda s: (
                has(s.array_properties)
                or all(
                    d.type not in (DependencyType.N_TO_N, DependencyType.SEQUENTIAL)
                    for d in s.depends_on
                )
            ),
            "has(self.arrayProperties) || !has(self.dependsOn) || self.dependsOn.all(d, "
            "!has(d.type) || (d.type != 'N_TO_N' && d.type != 'SEQUENTIAL'))",
        ),
        Rule(
            "dependsOn may hold at most one SEQUENTIAL entry",
            lambda s: sum(d.type == DependencyType.SEQUENTIAL for d in s.depends_on) <= 1,
            "!has(self.dependsOn) || self.dependsOn.filter(d, has(d.type) && "
            "d.type == 'SEQUENTIAL').size() <= 1",
        ),
        Rule(
            "cancel.arrayIndexes and terminate.arrayIndexes require arrayProperties",
            lambda s: (
                has(s.array_properties)
                or all(r is None or r.array_indexes is None for r in (s.cancel, s.terminate))
            ),
            "has(self.arrayProperties) || ((!has(self.cancel) || "
            "!has(self.cancel.arrayIndexes)) && (!has(self.terminate) || "
            "!has(self.terminate.arrayIndexes)))",
        ),
    )


class AttemptDetail(StatusModel):
    """One attempt: a pod that ran (or tried to run) the job or one array child."""

    attempt: int = Field(ge=1)
    array_index: int | None = None
    pod_name: str | None = None
    node_name: str | None = None
    compute_environment: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    """What the container reported, e.g. OutOfMemoryError or CannotPullContainerError: ..."""
    status_reason: str | None = None


class ArrayStatus(StatusModel):
    size: int
    status_summary: JobCounts = Field(default_factory=JobCounts)
    indexes: dict[str, str] = Field(default_factory=dict)
    """Children per state as compact index ranges ("0-4,7"), like Indexed Jobs."""


class NodeDetail(StatusModel):
    """One node of a multi-node parallel job: its latest attempt (AWS: the job "<id>#<index>")."""

    node_index: int
    is_main_node: bool = False
    status: JobStatus
    attempt: int = 0
    pod_name: str | None = None
    node_name: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    status_reason: str | None = None


class NodeStatus(StatusModel):
    """A multi-node parallel job's nodes."""

    num_nodes: int
    main_node: int
    main_node_address: str | None = None
    """The name the other nodes reach the main node by
    (AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS)."""
    nodes: list[NodeDetail] = Field(default_factory=list)


class BatchJobStatus(StatusModel):
    status: JobStatus | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    job_definition_revision: int | None = None
    compute_environment: str | None = None
    created_at: datetime | None = None
    runnable_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    attempt_count: int = 0
    """Attempts started so far (for an array job, over all children)."""
    attempts: list[AttemptDetail] = Field(default_factory=list)
    array_properties: ArrayStatus | None = None
    node_properties: NodeStatus | None = None
    """A multi-node parallel job's nodes (its attempts are its main node's)."""
    position_in_queue: int | None = None
    """Place among the RUNNABLE items of the queue (1 = next)."""
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)


def job_state(job: Mapping[str, Any]) -> JobStatus:
    """A BatchJob's state as the API serves it (SUBMITTED until the operator wrote one), read
    without the rest of its status: what filters over many jobs need. The key is the
    model's."""
    written = (job.get("status") or {}).get(_STATE_KEY)
    try:
        return JobStatus(written) if written else JobStatus.SUBMITTED
    except ValueError:
        return JobStatus.SUBMITTED


_STATE_KEY = BatchJobStatus.model_fields["status"].alias or "status"


def queue_position(job: Mapping[str, Any]) -> int | None:
    """A BatchJob's place among its queue's RUNNABLE work (1 = next; None when it has none),
    read without the rest of its status, as job_state is."""
    written = (job.get("status") or {}).get(_POSITION_KEY)
    return written if isinstance(written, int) and written > 0 else None


_POSITION_KEY = BatchJobStatus.model_fields["position_in_queue"].alias or "positionInQueue"


def worker_cluster_running(job: Mapping[str, Any], pod: str) -> str:
    """The worker cluster where the job's attempt with the pod `pod` runs (its node is
    `<cluster>:<node>` in the status), or "": in the operator's cluster, ended, or not the
    job's. Its log is read there only until it ends and is kept beside the job."""
    for detail in BatchJobStatus.of(job).attempts:
        if detail.pod_name == pod and detail.stopped_at is None:
            return split_cluster(detail.node_name or "")[0]
    return ""
