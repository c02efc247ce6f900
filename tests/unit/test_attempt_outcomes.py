"""What Kubernetes reports about a pod, in AWS Batch's words, matchable by evaluateOnExit."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import EvaluateOnExit
from kubatch.core.jobs.attempts import PodObservation, PodPhase, outcome_of
from kubatch.core.jobs.retry import decide_action


def obs(phase: PodPhase, **facts: Any) -> PodObservation:
    return PodObservation(
        pod_name="p", index=None, attempt=1, phase=phase, node_name="node-7", **facts
    )


@pytest.mark.parametrize(
    ("case", "observation", "exit_code", "reason", "status_reason", "rule"),
    [
        (
            "exit_code",
            obs(PodPhase.FAILED, exit_code=3, reason="Error"),
            3,
            None,
            "Essential container in task exited",
            {"onExitCode": "3"},
        ),
        (
            "out_of_memory",
            obs(PodPhase.FAILED, exit_code=137, reason="OOMKilled"),
            137,
            "OutOfMemoryError: Container killed due to memory usage",
            "Essential container in task exited",
            {"onReason": "OutOfMemoryError*"},
        ),
        (
            "image_pull",
            obs(PodPhase.PENDING, reason="ErrImagePull", message="pull access denied"),
            None,
            "CannotPullContainerError: pull access denied",
            "Task failed to start",
            {"onReason": "CannotPullContainerError*"},
        ),
        (
            "missing_secret",
            obs(PodPhase.PENDING, reason="CreateContainerConfigError", message="secret x"),
            None,
            "CannotStartContainerError: secret x",
            "Task failed to start",
            {"onStatusReason": "Task failed to start"},
        ),
        (
            "pod_deleted_or_node_lost",
            obs(PodPhase.GONE),
            None,
            None,
            "Host EC2 (instance node-7) terminated.",
            {"onStatusReason": "Host EC2*"},
        ),
        (
            "command_not_found",
            obs(PodPhase.FAILED, exit_code=128, reason="StartError", message="exec: nope"),
            None,
            "CannotStartContainerError: exec: nope",
            "Task failed to start",
            {"onReason": "CannotStartContainerError*"},
        ),
        (
            "node_removed",
            obs(PodPhase.FAILED, reason="DeletionByPodGC"),
            None,
            None,
            "Host EC2 (instance node-7) terminated.",
            {"onStatusReason": "Host EC2*"},
        ),
        (
            "node_shut_down",
            obs(PodPhase.FAILED, reason="Terminated"),
            None,
            None,
            "Host EC2 (instance node-7) terminated.",
            {"onStatusReason": "Host EC2*"},
        ),
        (
            "evicted",
            obs(PodPhase.FAILED, reason="Evicted"),
            None,
            None,
            "Host EC2 (instance node-7) terminated.",
            {"onStatusReason": "Host EC2*"},
        ),
    ],
    ids=lambda v: v if (isinstance(v, str) and "_" in v) or v in ("evicted",) else "",
)
def test_kubernetes_failures_in_aws_terms(
    case: str,
    observation: PodObservation,
    exit_code: int | None,
    reason: str | None,
    status_reason: str,
    rule: dict[str, str],
) -> None:
    outcome = outcome_of(observation, None)
    assert (outcome.exit_code, outcome.reason, outcome.status_reason) == (
        exit_code,
        reason,
        status_reason,
    )
    assert outcome.retryable
    entry = EvaluateOnExit.model_validate({**rule, "action": "EXIT"})
    assert decide_action([entry], outcome) == "EXIT", "a user's rule can match it"


def test_an_attempt_stopped_by_kubatch_fails_with_its_reason_and_no_retry() -> None:
    outcome = outcome_of(
        obs(PodPhase.FAILED, exit_code=143), "Job attempt duration exceeded timeout"
    )
    assert (outcome.status_reason, outcome.retryable) == (
        "Job attempt duration exceeded timeout",
        False,
    )
