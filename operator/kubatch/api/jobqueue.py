"""JobQueue: where jobs wait, by priority, drawing on compute environments in order."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .common import (
    ApiModel,
    Condition,
    JobCounts,
    ListMapKey,
    ObjectName,
    Rule,
    State,
    StatusModel,
)


class QueueingStrategy(StrEnum):
    """How a queue treats a head item that cannot be placed yet.

    BEST_EFFORT_FIFO (default): later items that fit may pass it; STRICT_FIFO: it blocks the
    queue. Items that can never be placed (MISCONFIGURATION) never block, in either mode.
    """

    BEST_EFFORT_FIFO = "BEST_EFFORT_FIFO"
    STRICT_FIFO = "STRICT_FIFO"


class ComputeEnvironmentOrder(ApiModel):
    order: int = Field(ge=0, le=1000)
    """Environments are tried in ascending order."""
    compute_environment: ObjectName
    """The name of a ComputeEnvironment."""


class JobStateTimeLimitAction(ApiModel):
    """Cancels the job at the head of the queue after it was blocked by `reason` that long."""

    reason: str = Field(min_length=1, max_length=1024)
    """The blocking statusReason to act on, e.g. CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY."""
    state: Literal["RUNNABLE"] = "RUNNABLE"
    """The state the job waits in: RUNNABLE."""
    max_time_seconds: int = Field(ge=600, le=86400)
    """How long the job may wait for that reason, 600 to 86400 seconds."""
    action: Literal["CANCEL"] = "CANCEL"
    """What happens then: CANCEL."""


class JobQueueSpec(ApiModel):
    priority: int = Field(ge=0, le=1000)
    """Among queues that share a compute environment, higher is served first."""
    state: State = State.ENABLED
    """DISABLED: new jobs are refused; jobs already queued still run."""
    compute_environment_order: Annotated[
        list[ComputeEnvironmentOrder],
        Field(min_length=1, max_length=3),
        ListMapKey("computeEnvironment"),
    ]
    """Up to 3 compute environments, tried in ascending order: a job goes to the first VALID,
    ENABLED one that can fit it.
    """
    scheduling_policy: ObjectName | None = None
    """A SchedulingPolicy (fair share); without one the queue is FIFO."""
    queueing_strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    """BEST_EFFORT_FIFO (later jobs that fit may pass one that waits for capacity) or STRICT_FIFO
    (the head blocks every job behind it).
    """
    job_state_time_limit_actions: Annotated[
        list[JobStateTimeLimitAction],
        Field(default_factory=list, max_length=5),
        ListMapKey("reason"),
    ]
    """Cancel the job at the head of the queue once it has been RUNNABLE for maxTimeSeconds because
    of reason (up to 5).
    """
    allowed_namespaces: list[ObjectName] | None = Field(default=None, max_length=100)
    """Namespaces whose jobs this queue accepts; all when unset."""

    __rules__ = (
        Rule(
            "computeEnvironmentOrder must not repeat an order",
            lambda s: (
                len({o.order for o in s.compute_environment_order})
                == len(s.compute_environment_order)
            ),
            "self.computeEnvironmentOrder.all(a, "
            "self.computeEnvironmentOrder.exists_one(b, b.order == a.order))",
        ),
    )


class ShareUsage(StatusModel):
    share_identifier: str
    weight_factor: float = 1.0
    usage: float = 0.0
    """Decayed vCPU-seconds times the weight (with no decay: running vCPUs times the weight)."""
    runningv_cpus: float = Field(default=0.0, alias="runningvCpus")


class JobQueueStatusValue(StrEnum):
    CREATING = "CREATING"
    UPDATING = "UPDATING"
    DELETING = "DELETING"
    VALID = "VALID"
    INVALID = "INVALID"


class JobQueueStatus(StatusModel):
    status: JobQueueStatusValue | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    job_counts: JobCounts = Field(default_factory=JobCounts)
    oldest_runnable_time: datetime | None = None
    """When the job that has waited longest in RUNNABLE became RUNNABLE."""
    waiting_reason: str | None = None
    """Why the RUNNABLE jobs behind the first places of the queue (those whose status shows
    a positionInQueue) waited in the last scheduling pass, e.g.
    CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY. Those jobs' own statusReason is empty unless
    their request can never be placed: so a change of it rewrites one status, not the status
    of every job in a long queue."""
    runningv_cpus: float = Field(default=0.0, alias="runningvCpus")
    """The vCPUs the queue's STARTING and RUNNING jobs hold."""
    shares: list[ShareUsage] = Field(default_factory=list)
    """Fair share: each active share's weight and usage (what its turn is decided by)."""
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)
