"""ScheduledJob: submits BatchJobs from a template on a cron schedule or at a fixed time
(namespaced), following the conventions of Kubernetes' CronJob."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .batchjob import BatchJobSpec
from .common import ApiModel, Condition, ListMapKey, Rule, StatusModel, has
from .jobdefinition import PodTemplateMetadata


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    """Skip a run while the previous one has not finished."""
    REPLACE = "Replace"
    """Terminate the unfinished run and start the new one."""


class JobTemplate(ApiModel):
    metadata: PodTemplateMetadata | None = None
    """Labels and annotations of every BatchJob made."""
    spec: BatchJobSpec
    """The spec of each BatchJob, as a BatchJob's spec."""


def _valid_cron(expression: str) -> bool:
    from croniter import croniter

    return bool(croniter.is_valid(expression))


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class ScheduledJobSpec(ApiModel):
    schedule: str | None = Field(default=None, max_length=200)
    """Cron: "*/15 * * * *", "0 3 * * 1-5", "@hourly", "@daily"..."""
    at: datetime | None = None
    """Or one run at a fixed time (RFC 3339)."""
    time_zone: str | None = Field(default=None, max_length=64)
    """IANA time zone of the schedule, e.g. "Europe/Paris" (default UTC)."""
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    """What a run does while the previous one has not finished: Allow (run too), Forbid (skip until
    it has) or Replace (terminate it).
    """
    suspend: bool = False
    """Make no runs while true (runs missed meanwhile are not made up)."""
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    """A run missed by more than this is skipped."""
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=1000)
    """How many SUCCEEDED runs to keep (older ones are deleted)."""
    failed_jobs_history_limit: int = Field(default=1, ge=0, le=1000)
    """How many FAILED runs to keep (older ones are deleted)."""
    job_template: JobTemplate
    """The BatchJob each run submits."""

    __rules__ = (
        Rule(
            "exactly one of schedule and at is required",
            lambda s: has(s.schedule) != has(s.at),
            "has(self.schedule) != has(self.at)",
        ),
        Rule(
            "schedule must be a cron expression (5 fields, or @hourly, @daily, @weekly, "
            "@monthly, @yearly)",
            lambda s: s.schedule is None or _valid_cron(s.schedule),
        ),
        Rule(
            "timeZone must be an IANA time zone such as Europe/Paris",
            lambda s: s.time_zone is None or _valid_zone(s.time_zone),
        ),
    )


class ScheduledJobStatus(StatusModel):
    status: str | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    next_schedule_time: datetime | None = None
    active: list[str] = Field(default_factory=list)
    """The BatchJobs it made that have not finished."""
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)
