"""The operator's configuration: every setting, its environment variable, its default and its
rule, validated in one place. A bad value stops the operator at start with one line naming
the variable and the rule, e.g. `KUBATCH_WRITE_QPS: must be greater than 0 (got '-5')`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREFIX = "KUBATCH_"


class ConfigError(ValueError):
    """Names every variable that is wrong, and why."""


class OperatorConfig(BaseModel):
    """Each field is read from KUBATCH_<FIELD NAME IN UPPER CASE>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    write_qps: float = Field(default=100.0, gt=0)
    """Kubernetes API writes per second (token bucket rate)."""
    write_burst: int = Field(default=200, ge=1)
    """Writes allowed at once above the rate."""
    default_provider: str = Field(default="simulated", min_length=1)
    """Autoscaling provider of MANAGED environments that name none."""
    scale_in_after_seconds: float = Field(default=300.0, ge=0)
    """How long a node stays idle before its pool gives it up."""
    gang_reservation_seconds: float = Field(default=600.0, ge=0)
    """How long a multi-node job may wait for capacity before the environments it can run on
    are held for it (no smaller job is placed there until it starts)."""
    metrics_port: int = Field(default=8000, ge=0, le=65535)
    """0 serves no metrics."""
    metrics_address: str = Field(default="0.0.0.0", min_length=1)
    """Where the metrics endpoint listens (127.0.0.1 outside a cluster)."""
    leader_election: bool = True
    namespace: str = Field(default="default", min_length=1)
    """Where the leader-election Lease lives (the operator's own namespace)."""
    lease_seconds: float = Field(default=15.0, ge=1)
    """How long a leader's lease lasts without renewal."""
    resync_seconds: float = Field(default=10.0, gt=0)
    """How long a pod that was created or stopped may stay unseen before the request is
    sent again."""
    pod_create_deadline_seconds: float = Field(default=120.0, gt=0)
    """How long an attempt may wait for its pod to be created before it fails."""
    pod_schedule_deadline_seconds: float = Field(default=300.0, gt=0)
    """How long an attempt's pod may stay unscheduled before the attempt fails."""
    kept_log_bytes: int = Field(default=256 * 1024, ge=0, le=768 * 1024)
    """How much of an ended attempt's log is kept beyond its pod: the whole log up to this
    many bytes, its tail past it (gzipped in a ConfigMap, which holds at most 1 MiB); 0 keeps
    none."""
    cluster_lost_after_seconds: float = Field(default=600.0, gt=0)
    """How long a worker cluster may not answer before the attempts running there are judged
    lost (retried as a lost host, as their retry strategy allows); until then they are kept."""
    cluster_probe_seconds: float = Field(default=5.0, gt=0)
    """How often each worker cluster is asked whether it answers (and its credentials work)."""
    log_format: Literal["text", "json"] = "text"
    profile_file: str | None = None
    """Where to write a cProfile of the whole run when the operator stops (pstats format;
    for finding where its CPU goes, e.g. under a benchmark). Unset: no profiling."""

    @classmethod
    def variable(cls, field: str) -> str:
        return PREFIX + field.upper()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> OperatorConfig:
        values = {
            name: environ[cls.variable(name)]
            for name in cls.model_fields
            if environ.get(cls.variable(name), "") != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            lines = []
            for error in e.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                got = values.get(field)
                message = (
                    error["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
                )
                lines.append(f"{cls.variable(field)}: must be {message} (got {got!r})")
            raise ConfigError("; ".join(lines)) from None

    @property
    def scale_in_after(self) -> timedelta:
        return timedelta(seconds=self.scale_in_after_seconds)

    @property
    def gang_reservation(self) -> timedelta:
        return timedelta(seconds=self.gang_reservation_seconds)
