"""Kubatch's decisions, pure (no I/O, no clock reads: now is passed in). The layers, lowest
first; a module imports only from its own layer and the ones below (tests/unit/
test_architecture.py checks it, docs/architecture.md describes it):

- `jobs/` and `scheduling/`, independent of each other: one job's life; one scheduling pass;
- `state/`: the store and the intake of API objects into it;
- `outbox/`: effects, pods wanted, statuses to write, counters, until they are seen done;
- `phases/`: the steps of a pass, each changing what it owns and returning effects;
- `engine.py`: runs the phases in order.

This module is the one entry for everything outside core: the controller, the AWS API, the
console and the metrics import from `kubatch.core` alone."""

from .engine import Engine, EngineConfig
from .feed import listed_key
from .jobs.attempts import essential_container, pod_name
from .jobs.definitions import Refused, Revision, resolve_job, revision_hash
from .jobs.observe import ended_attempt
from .jobs.ranges import format_ranges, parse_ranges
from .outbox.effects import (
    CreateObject,
    DeleteObject,
    Effect,
    Failure,
    KeepLog,
    Outcome,
    PatchObject,
    PostEvent,
    ResizePool,
    WriteStatus,
)
from .outbox.logs import kept_body, kept_log, kept_pod, serve_kept_log, tail_within
from .outbox.patches import merge_diff
from .outbox.telemetry import Telemetry
from .outbox.wanted import IntentTimes
from .scheduling.catalog import UnknownInstanceType, resolve_shapes

__all__ = [
    "CreateObject",
    "DeleteObject",
    "Effect",
    "Engine",
    "EngineConfig",
    "Failure",
    "IntentTimes",
    "KeepLog",
    "Outcome",
    "PatchObject",
    "PostEvent",
    "Refused",
    "ResizePool",
    "Revision",
    "Telemetry",
    "UnknownInstanceType",
    "WriteStatus",
    "ended_attempt",
    "essential_container",
    "format_ranges",
    "kept_body",
    "kept_log",
    "kept_pod",
    "listed_key",
    "merge_diff",
    "parse_ranges",
    "pod_name",
    "resolve_job",
    "resolve_shapes",
    "revision_hash",
    "serve_kept_log",
    "tail_within",
]
