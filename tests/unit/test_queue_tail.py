"""A long queue's tail: the jobs behind the places a pass numbers wait for their queue's
reason, which the queue's status says (status.waitingReason). Their own status carries only
what is theirs (a request that can never be placed), so that a change of the queue's reason
rewrites the statuses of the jobs the pass looks at, not of every job in the queue."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from kubatch.api import JobStatus
from kubatch.api.batchjob import BatchJobStatus
from kubatch.core.jobs.persistence import job_status
from kubatch.core.outbox.effects import WriteStatus
from kubatch.core.scheduling.placement import (
    ENVIRONMENTS_UNAVAILABLE,
    INSUFFICIENT_CAPACITY,
    MAX_RESOURCE,
)
from tests.support.engine import FakeApi, cluster, node
from tests.support.manifests import batch_job

SHOWN = 3
JOBS = 12


def _queue_of(shown: int, *extra: dict[str, object]) -> FakeApi:
    jobs = [batch_job(f"j{i:02d}") for i in range(JOBS)]
    api = cluster(*jobs, *extra, nodes=(node("n1", cpu="1"),))
    api.engine.dispatcher.positions_shown = shown
    api.settle()
    return api


def _status(api: FakeApi, name: str) -> BatchJobStatus:
    return job_status(api.record(name))


def _job_statuses(effects: Sequence[object]) -> set[str]:
    return {e.name for e in effects if isinstance(e, WriteStatus) and e.plural == "batchjobs"}


def test_the_jobs_behind_the_numbered_places_carry_no_reason_and_the_queue_says_why() -> None:
    api = _queue_of(SHOWN)
    assert _status(api, "j00").status == JobStatus.STARTING
    shown = [_status(api, f"j{i:02d}") for i in range(1, 1 + SHOWN)]
    assert [(s.position_in_queue, s.status_reason) for s in shown] == [
        (1, INSUFFICIENT_CAPACITY),
        (2, INSUFFICIENT_CAPACITY),
        (3, INSUFFICIENT_CAPACITY),
    ]
    behind = [_status(api, f"j{i:02d}") for i in range(1 + SHOWN, JOBS)]
    assert {(s.status, s.position_in_queue, s.status_reason) for s in behind} == {
        (JobStatus.RUNNABLE, None, None)
    }
    assert api.statuses[("jobqueues", "None/q1")]["waitingReason"] == INSUFFICIENT_CAPACITY


def test_a_request_that_can_never_be_placed_is_named_on_the_job_even_behind() -> None:
    huge = batch_job(
        "zz-huge", containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "64"}]}
    )
    api = _queue_of(SHOWN, huge)
    found = _status(api, "zz-huge")
    assert found.position_in_queue is None
    assert found.status_reason is not None
    assert found.status_reason.startswith(MAX_RESOURCE)


@pytest.mark.parametrize("shown", [SHOWN, 100])
def test_a_change_of_the_queues_reason_rewrites_only_the_jobs_the_pass_looks_at(
    shown: int,
) -> None:
    api = _queue_of(shown)
    environment = copy.deepcopy(api.objects[0])
    environment["spec"]["state"] = "DISABLED"
    environment["metadata"]["resourceVersion"] = "999999"
    environment["metadata"]["generation"] = 2
    api.engine.upsert_environment(environment, api.now)
    rewritten = _job_statuses(api.step(1.0))
    waiting = JOBS - 1
    numbered = {f"j{i:02d}" for i in range(1, 1 + min(shown, waiting))}
    assert rewritten == numbered, "the jobs behind keep their status as it was"
    expected = ENVIRONMENTS_UNAVAILABLE if shown < waiting else None  # no tail: no reason
    assert api.statuses[("jobqueues", "None/q1")].get("waitingReason") == expected
    assert {_status(api, j).status_reason for j in numbered} == {ENVIRONMENTS_UNAVAILABLE}
