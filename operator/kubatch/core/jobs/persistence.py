"""A job record to and from the BatchJob's status: what the operator writes, and how a
restarted operator rebuilds the record from it (pods are adopted afterwards, see
JobRecord.adopt and JobRecord.reconcile_missing)."""

from __future__ import annotations

from datetime import datetime

from ...api.batchjob import (
    ArrayStatus,
    AttemptDetail,
    BatchJobSpec,
    BatchJobStatus,
    NodeDetail,
    NodeStatus,
)
from ...api.common import IN_FLIGHT, JobCounts, JobStatus
from .attempts import Attempt, Child, counts_of, main_node_address
from .ranges import format_ranges, parse_ranges
from .record import MAX_CHILD_DETAILS, JobRecord

S = JobStatus


def job_status(record: JobRecord, observed_generation: int | None = None) -> BatchJobStatus:
    """The status to write: compact for arrays (counts and index ranges, attempt details
    only for children that are in flight, retried or failed)."""
    status = BatchJobStatus(
        status=record.status,
        status_reason=(
            f"{record.blocker} - {record.blocker_detail}"
            if record.blocker_detail
            else record.blocker
        )
        if record.status == S.RUNNABLE and record.blocker
        else record.reason,
        observed_generation=observed_generation,
        job_definition_revision=record.revision,
        created_at=record.created_at,
        runnable_at=record.runnable_at,
        started_at=record.started_at,
        stopped_at=record.stopped_at,
        attempt_count=record.attempt_count,
        position_in_queue=record.position if record.counts[S.RUNNABLE] else None,
    )
    if record.multinode:
        return _with_nodes(record, status)
    if not record.is_array:
        child = record.children[0]
        attempts = list(record.history)
        if child.current is not None:
            attempts.append(child.current)
        status.attempts = [a.detail(None) for a in attempts]
        latest = attempts[-1] if attempts else None
        status.compute_environment = latest.compute_environment if latest else None
        return status
    by_state: dict[JobStatus, list[int]] = {}
    details: list[AttemptDetail] = []
    for child in record.children:
        index = child.index if child.index is not None else 0
        by_state.setdefault(child.status, []).append(index)
        shown = child.current or (
            child.last if child.status != S.SUCCEEDED or child.attempts > 1 else None
        )
        if shown is not None and len(details) < MAX_CHILD_DETAILS:
            details.append(shown.detail(child.index))
    summary = JobCounts.model_validate({s.value: record.counts[s] for s in JobStatus})
    status.array_properties = ArrayStatus(
        size=len(record.children),
        status_summary=summary,
        indexes={s.value: format_ranges(v) for s, v in by_state.items()},
    )
    status.attempts = details
    return status


def _with_nodes(record: JobRecord, status: BatchJobStatus) -> BatchJobStatus:
    """A multi-node job's status: its attempts are its main node's; each node's latest
    attempt is listed by node index."""
    main = record.children[record.main_node]
    attempts = list(record.history) + ([main.current] if main.current is not None else [])
    status.attempts = [a.detail(None) for a in attempts]
    latest = attempts[-1] if attempts else None
    status.compute_environment = latest.compute_environment if latest else None
    nodes = []
    for child in record.children:
        index = child.index or 0
        shown = child.current or child.last
        detail = NodeDetail(
            node_index=index, is_main_node=index == record.main_node, status=child.status
        )
        if shown is not None:
            detail.attempt = shown.number
            detail.pod_name = shown.pod_name
            detail.node_name = shown.node_name
            detail.started_at = shown.started_at
            detail.stopped_at = shown.stopped_at
            detail.exit_code = shown.exit_code
            detail.reason = shown.reason
            detail.status_reason = shown.status_reason or shown.stop_reason
        nodes.append(detail)
    status.node_properties = NodeStatus(
        num_nodes=len(record.children),
        main_node=record.main_node,
        main_node_address=main_node_address(record.namespace, record.uid, record.main_node),
        nodes=nodes,
    )
    return status


def _attempt(
    number: int, pod: str, environment: str | None, detail: AttemptDetail | NodeDetail
) -> Attempt:
    """An attempt as a status recorded it (an attempt's or a node's detail)."""
    return Attempt(
        number=number,
        pod_name=pod,
        compute_environment=environment,
        node_name=detail.node_name,
        started_at=detail.started_at,
        stopped_at=detail.stopped_at,
        exit_code=detail.exit_code,
        reason=detail.reason,
        status_reason=detail.status_reason,
    )


def _restore_nodes(record: JobRecord, status: BatchJobStatus, nodes: NodeStatus) -> None:
    record.multinode = True
    record.main_node = nodes.main_node
    record.children = [
        Child(index=i, status=status.status or S.SUBMITTED) for i in range(nodes.num_nodes)
    ]
    for node in nodes.nodes:
        if not 0 <= node.node_index < nodes.num_nodes:
            continue
        child = record.children[node.node_index]
        child.status = node.status
        child.reason = node.status_reason
        child.attempts = node.attempt
        if node.attempt == 0:
            continue
        pod = node.pod_name or record.pod_name(child.index, node.attempt)
        attempt = _attempt(node.attempt, pod, status.compute_environment, node)
        if child.status in IN_FLIGHT and node.stopped_at is None:
            child.current = attempt
        else:
            child.last = attempt
    for detail in status.attempts:
        if detail.stopped_at is not None:
            pod = detail.pod_name or ""
            record.history.append(_attempt(detail.attempt, pod, detail.compute_environment, detail))
    record.counts = counts_of(record.children)
    for child in record.children:
        if child.status == S.RUNNABLE:
            child.runnable_since = status.runnable_at or record.created_at


def restore_record(
    namespace: str,
    name: str,
    uid: str,
    spec: BatchJobSpec,
    created_at: datetime,
    status: BatchJobStatus,
    generation: int | None = None,
) -> JobRecord:
    """Rebuild a record from the status it wrote. Pods are adopted afterwards with
    `adopt` (and attempts whose pods are gone are closed by `reconcile_missing`). A cancel
    request the status shows was seen (observedGeneration) does not act again."""
    record = JobRecord(namespace=namespace, name=name, uid=uid, spec=spec, created_at=created_at)
    if status.status is None:
        return record
    seen = status.observed_generation
    if generation is not None and seen is not None and seen >= generation:
        record.cancel_seen = spec.cancel
    record.evaluated = status.status != S.SUBMITTED
    record.revision = status.job_definition_revision
    record.runnable_at = status.runnable_at
    record.started_at = status.started_at
    record.stopped_at = status.stopped_at
    record.reason = status.status_reason
    if status.node_properties is not None and not record.is_array:
        _restore_nodes(record, status, status.node_properties)
        record.status = status.status
        return record
    if record.is_array and status.array_properties is not None:
        for state_name, ranges in status.array_properties.indexes.items():
            for i in parse_ranges(ranges, len(record.children)):
                record.children[i].status = JobStatus(state_name)
    else:
        record.children[0].status = status.status
        record.children[0].reason = status.status_reason
    for detail in status.attempts:
        child = record.children[detail.array_index or 0]
        pod = detail.pod_name or record.pod_name(child.index, detail.attempt)
        attempt = _attempt(detail.attempt, pod, detail.compute_environment, detail)
        child.attempts = max(child.attempts, detail.attempt)
        if child.status in IN_FLIGHT and detail.stopped_at is None:
            child.current = attempt
        elif not record.is_array:
            record.history.append(attempt)
        else:
            child.last = attempt
    if not record.is_array:
        record.children[0].attempts = max(record.children[0].attempts, status.attempt_count)
    for child in record.children:
        if child.status == S.SUCCEEDED and child.attempts == 0:
            child.attempts = 1  # succeeded at the first attempt: not listed, to stay compact
        if child.status == S.RUNNABLE:
            child.runnable_since = status.runnable_at or created_at
    record.counts = counts_of(record.children)
    record.status = status.status
    return record
