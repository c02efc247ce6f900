"""The Kubatch API (group kubatch.io, version v1alpha1): pydantic models of the resources.

These models are the one source of truth: crds/ is generated from them (`make crds`).
"""

from .batchjob import (
    ArrayProperties,
    AttemptDetail,
    BatchJobSpec,
    BatchJobStatus,
    ContainerOverrides,
    DependencyType,
    JobDependency,
    StopRequest,
)
from .common import API_VERSION, GROUP, VERSION, Condition, JobCounts, JobStatus, ObjectMeta, State
from .computeenvironment import (
    AllocationStrategy,
    ComputeEnvironmentSpec,
    ComputeEnvironmentStatus,
    ComputeEnvironmentType,
    ComputeResources,
    ComputeResourceType,
)
from .jobdefinition import (
    ContainerProperties,
    EvaluateOnExit,
    JobDefinitionSpec,
    JobDefinitionStatus,
    JobTimeout,
    RetryStrategy,
)
from .jobqueue import JobQueueSpec, JobQueueStatus, QueueingStrategy
from .kinds import (
    KINDS,
    BatchJob,
    ComputeEnvironment,
    InvalidManifest,
    JobDefinition,
    JobQueue,
    Resource,
    ScheduledJob,
    SchedulingPolicy,
    parse,
)
from .resources import ResourceRequirement, Resources

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "AllocationStrategy",
    "ArrayProperties",
    "AttemptDetail",
    "BatchJob",
    "BatchJobSpec",
    "BatchJobStatus",
    "ComputeEnvironment",
    "ComputeEnvironmentSpec",
    "ComputeEnvironmentStatus",
    "ComputeEnvironmentType",
    "ComputeResourceType",
    "ComputeResources",
    "Condition",
    "ContainerOverrides",
    "ContainerProperties",
    "DependencyType",
    "EvaluateOnExit",
    "InvalidManifest",
    "JobCounts",
    "JobDefinition",
    "JobDefinitionSpec",
    "JobDefinitionStatus",
    "JobDependency",
    "JobQueue",
    "JobQueueSpec",
    "JobQueueStatus",
    "JobStatus",
    "JobTimeout",
    "ObjectMeta",
    "QueueingStrategy",
    "Resource",
    "ResourceRequirement",
    "Resources",
    "RetryStrategy",
    "ScheduledJob",
    "SchedulingPolicy",
    "State",
    "StopRequest",
    "parse",
]
