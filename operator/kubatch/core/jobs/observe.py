"""What an attempt's pod reports, read from the pod as the API serves it (a plain dict):
the phase, the main container's state, and the reasons that outrank it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...api.batchjob import AttemptDetail
from ...api.times import parse_time
from ...keys import LABEL_ARRAY_INDEX, LABEL_ATTEMPT, LABEL_JOB_UID, LABEL_NODE_INDEX
from .attempts import (
    DISRUPTED,
    DISRUPTION_TARGET,
    POD_REASONS,
    PodObservation,
    PodPhase,
    essential_container,
    outcome_of,
)


def _started(value: object) -> datetime | None:
    """A container's start time; None for the zero time a container that never started
    reports (StartError: its command could not be run)."""
    found = parse_time(value)
    return found if found is not None and found.year > 1970 else None


def _int_label(labels: Mapping[str, str], key: str) -> int | None:
    value = labels.get(key)
    return int(value) if value is not None and value.isdigit() else None


def observe_pod(pod: Mapping[str, Any], gone: bool = False) -> PodObservation | None:
    """What an attempt's pod reports; None for a pod that is not an attempt of ours."""
    metadata = pod.get("metadata", {})
    labels = metadata.get("labels") or {}
    attempt = _int_label(labels, LABEL_ATTEMPT)
    if attempt is None or LABEL_JOB_UID not in labels:
        return None
    status = pod.get("status") or {}
    phase_text = status.get("phase", "Pending")
    if gone:
        phase = PodPhase.GONE
    elif phase_text in (PodPhase.RUNNING, PodPhase.SUCCEEDED, PodPhase.FAILED):
        phase = PodPhase(phase_text)
    else:
        phase = PodPhase.PENDING
    state: Mapping[str, Any] = {}
    essential = essential_container(pod)
    for container in status.get("containerStatuses") or []:
        if container.get("name") == essential:
            state = container.get("state") or {}
    terminated = state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    running = state.get("running") or {}
    reason = terminated.get("reason") or waiting.get("reason") or status.get("reason")
    message = terminated.get("message") or waiting.get("message") or status.get("message")
    if status.get("reason") in POD_REASONS:
        reason, message = status["reason"], status.get("message")
    for condition in status.get("conditions") or []:
        disrupted = condition.get("type") == DISRUPTION_TARGET and condition.get("status") == "True"
        if disrupted and condition.get("reason") in DISRUPTED and not terminated:
            reason, message = condition["reason"], condition.get("message")
    return PodObservation(
        pod_name=metadata.get("name", ""),
        index=_int_label(labels, LABEL_ARRAY_INDEX)
        if LABEL_NODE_INDEX not in labels
        else (_int_label(labels, LABEL_NODE_INDEX)),
        attempt=attempt,
        phase=phase,
        node_name=(pod.get("spec") or {}).get("nodeName"),
        started_at=_started(running.get("startedAt") or terminated.get("startedAt")),
        finished_at=parse_time(terminated.get("finishedAt")),
        exit_code=terminated.get("exitCode"),
        reason=reason,
        message=message,
        deleting=metadata.get("deletionTimestamp") is not None,
        gated=bool((pod.get("spec") or {}).get("schedulingGates")),
    )


def ended_attempt(pod: Mapping[str, Any]) -> AttemptDetail | None:
    """An ended attempt as its pod (or what is kept of it, see core/outbox/logs.py) says it,
    for the attempts a job's status does not list (an array child that succeeded at its
    first attempt, to keep the status small); None for a pod of no attempt, or one not ended."""
    obs = observe_pod(pod)
    if obs is None or not obs.finished:
        return None
    outcome = outcome_of(obs, None)
    return AttemptDetail(
        attempt=obs.attempt,
        array_index=obs.index,
        pod_name=obs.pod_name,
        node_name=obs.node_name,
        started_at=obs.started_at,
        stopped_at=obs.finished_at,
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        status_reason=outcome.status_reason,
    )
