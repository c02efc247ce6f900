"""retryStrategy: whether a failed attempt is tried again.

evaluateOnExit entries are checked in list order and the first whose conditions all match
decides (RETRY or EXIT, case-insensitive). A pattern is matched exactly, or as a prefix when
it ends with "*". When no entry matches, the attempt is retried while attempts remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...api.jobdefinition import EvaluateOnExit, RetryStrategy

# statusReasons that Kubatch writes; users can match them with onStatusReason.
ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
TASK_FAILED_TO_START = "Task failed to start"
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
CANNOT_PULL = "CannotPullContainerError"
# A stopped container gets SIGTERM, then SIGKILL this long after (the pod's grace period).
STOP_GRACE_SECONDS = 30


def host_terminated(node: str | None) -> str:
    """The statusReason of an attempt lost with its node (or its pod deleted), worded as AWS
    words a reclaimed host so that `onStatusReason: "Host EC2*"` rules keep working."""
    return f"Host EC2 (instance {node or 'unknown'}) terminated."


@dataclass(frozen=True, kw_only=True)
class AttemptOutcome:
    """How an attempt ended, in AWS Batch's terms."""

    exit_code: int | None = None
    reason: str | None = None
    """The container's reason, e.g. "OutOfMemoryError: ..." or "CannotPullContainerError: ..."."""
    status_reason: str = ESSENTIAL_CONTAINER_EXITED
    retryable: bool = True
    """False for timeouts, cancel and terminate: never retried whatever the rules say."""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.retryable and self.reason is None


def pattern_matches(pattern: str | None, value: str | None) -> bool:
    """An absent condition matches anything; a present one needs a value to match."""
    if pattern is None:
        return True
    if value is None:
        return False
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def entry_matches(entry: EvaluateOnExit, outcome: AttemptOutcome) -> bool:
    exit_code = None if outcome.exit_code is None else str(outcome.exit_code)
    return (
        pattern_matches(entry.on_exit_code, exit_code)
        and pattern_matches(entry.on_reason, outcome.reason)
        and pattern_matches(entry.on_status_reason, outcome.status_reason)
    )


def decide_action(rules: Sequence[EvaluateOnExit], outcome: AttemptOutcome) -> str:
    """RETRY or EXIT for a failed attempt, by the first matching rule; RETRY when none."""
    for entry in rules:
        if entry_matches(entry, outcome):
            return entry.action.upper()
    return "RETRY"


def should_retry(
    strategy: RetryStrategy | None, attempts_made: int, outcome: AttemptOutcome
) -> bool:
    """Whether a failed attempt is followed by another one."""
    if not outcome.retryable:
        return False
    limit = strategy.attempts if strategy else 1
    if attempts_made >= limit:
        return False
    rules = strategy.evaluate_on_exit if strategy else []
    return decide_action(rules, outcome) == "RETRY"
