"""retryStrategy: attempts and evaluateOnExit exactly as AWS Batch applies them."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import EvaluateOnExit, RetryStrategy
from kubatch.core.jobs.retry import (
    AttemptOutcome,
    decide_action,
    pattern_matches,
    should_retry,
)

OOM = "OutOfMemoryError: Container killed due to memory usage"


def rules(*entries: dict[str, Any]) -> list[EvaluateOnExit]:
    return [EvaluateOnExit.model_validate(e) for e in entries]


@pytest.mark.parametrize(
    ("rule", "entries", "outcome", "action"),
    [
        ("no_rules_means_retry", [], AttemptOutcome(exit_code=1), "RETRY"),
        (
            "no_matching_rule_means_retry",
            [{"onExitCode": "2", "action": "EXIT"}],
            AttemptOutcome(exit_code=1),
            "RETRY",
        ),
        (
            "first_match_wins_in_list_order",
            [{"onExitCode": "1", "action": "EXIT"}, {"onExitCode": "1", "action": "RETRY"}],
            AttemptOutcome(exit_code=1),
            "EXIT",
        ),
        (
            "later_entry_applies_when_earlier_do_not_match",
            [{"onExitCode": "2", "action": "EXIT"}, {"onExitCode": "1", "action": "EXIT"}],
            AttemptOutcome(exit_code=1),
            "EXIT",
        ),
        (
            "all_given_conditions_must_match",
            [{"onExitCode": "137", "onReason": "Other*", "action": "EXIT"}],
            AttemptOutcome(exit_code=137, reason=OOM),
            "RETRY",
        ),
        (
            "and_of_conditions_matches_when_all_do",
            [{"onExitCode": "137", "onReason": "OutOfMemory*", "action": "EXIT"}],
            AttemptOutcome(exit_code=137, reason=OOM),
            "EXIT",
        ),
        (
            "exit_code_glob_is_a_prefix",
            [{"onExitCode": "1*", "action": "EXIT"}],
            AttemptOutcome(exit_code=137),
            "EXIT",
        ),
        (
            "exit_code_without_glob_is_exact",
            [{"onExitCode": "13", "action": "EXIT"}],
            AttemptOutcome(exit_code=137),
            "RETRY",
        ),
        (
            "star_alone_matches_every_exit_code",
            [{"onExitCode": "*", "action": "EXIT"}],
            AttemptOutcome(exit_code=3),
            "EXIT",
        ),
        (
            "reason_condition_needs_a_reason",
            [{"onReason": "*", "action": "EXIT"}],
            AttemptOutcome(exit_code=3),
            "RETRY",
        ),
        (
            "status_reason_glob",
            [
                {"onStatusReason": "Host EC2*", "action": "RETRY"},
                {"onExitCode": "*", "action": "EXIT"},
            ],
            AttemptOutcome(status_reason="Host EC2 (instance n1) terminated."),
            "RETRY",
        ),
        (
            "action_is_case_insensitive",
            [{"onExitCode": "1", "action": "exit"}],
            AttemptOutcome(exit_code=1),
            "EXIT",
        ),
        (
            "mixed_case_retry",
            [{"onExitCode": "1", "action": "ReTrY"}],
            AttemptOutcome(exit_code=1),
            "RETRY",
        ),
        (
            "exit_code_condition_does_not_match_a_missing_code",
            [{"onExitCode": "*", "action": "EXIT"}],
            AttemptOutcome(
                reason="CannotPullContainerError: x", status_reason="Task failed to start"
            ),
            "RETRY",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_evaluate_on_exit(
    rule: str, entries: list[dict[str, Any]], outcome: AttemptOutcome, action: str
) -> None:
    assert decide_action(rules(*entries), outcome) == action


@pytest.mark.parametrize(
    ("rule", "attempts", "made", "outcome", "retry"),
    [
        ("default_is_one_attempt", None, 1, AttemptOutcome(exit_code=1), False),
        ("retries_while_attempts_remain", 3, 2, AttemptOutcome(exit_code=1), True),
        ("stops_at_the_attempt_limit", 3, 3, AttemptOutcome(exit_code=1), False),
        ("ten_attempts_at_most", 10, 10, AttemptOutcome(exit_code=1), False),
        (
            "timeouts_are_never_retried",
            3,
            1,
            AttemptOutcome(status_reason="Job attempt duration exceeded timeout", retryable=False),
            False,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_attempt_limits(
    rule: str, attempts: int | None, made: int, outcome: AttemptOutcome, retry: bool
) -> None:
    strategy = RetryStrategy(attempts=attempts) if attempts else None
    assert should_retry(strategy, made, outcome) is retry


def test_exit_rule_stops_retries_with_attempts_left() -> None:
    strategy = RetryStrategy.model_validate(
        {"attempts": 5, "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}]}
    )
    assert not should_retry(strategy, 1, AttemptOutcome(exit_code=2))
    assert should_retry(strategy, 1, AttemptOutcome(exit_code=1))


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (None, None, True),
        (None, "x", True),
        ("x", None, False),
        ("ab*", "abc", True),
        ("ab*", "a", False),
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("*", "", True),
    ],
)
def test_pattern_matching(pattern: str | None, value: str | None, matches: bool) -> None:
    assert pattern_matches(pattern, value) is matches
