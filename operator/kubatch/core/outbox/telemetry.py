"""What happened, for metrics: the engine counts; kubatch.metrics exports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ...api.common import JobStatus


@dataclass(kw_only=True)
class Telemetry:
    """What happened since it was last taken, for metrics (the engine keeps no clock)."""

    submitted: Counter[str] = field(default_factory=Counter)
    finished: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    waits: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds from RUNNABLE to placed)"""
    runs: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds an attempt ran)"""
    queue_counts: dict[str, Counter[JobStatus]] = field(default_factory=dict)
    environments: dict[str, dict[str, float]] = field(default_factory=dict)
    """environment -> desired/ready/allocated vCPUs and desired/ready nodes"""
