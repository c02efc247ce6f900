"""The operator's engine with an injected clock: what only shows over minutes of real time
(time-limit actions) and the intake rules of fair-share queues."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubatch.api import JobStatus
from kubatch.core.engine import Engine, EngineConfig
from kubatch.core.jobs.persistence import job_status
from kubatch.core.outbox.effects import CreateObject
from kubatch.core.scheduling.placement import MAX_RESOURCE
from tests.support.manifests import batch_job, compute_environment, job_definition, job_queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_versions = itertools.count(1)


def server(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object as an API server returns it."""
    meta = manifest["metadata"]
    number = next(_versions)
    meta.update(
        uid=f"uid-{number}",
        resourceVersion=str(number),
        generation=1,
        creationTimestamp=T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return manifest


def world_with(
    queue: dict[str, Any], *jobs: dict[str, Any], policy: dict[str, Any] | None = None
) -> Engine:
    world = Engine(EngineConfig())
    world.upsert_environment(server(compute_environment()), T0)
    if policy is not None:
        world.upsert_policy(server(policy), T0)
    world.upsert_queue(server(queue), T0)
    world.upsert_definition(server(job_definition()), T0)
    for job in jobs:
        world.upsert_job(server(job), T0)
    world.start(T0)
    return world


def step(world: Engine, at: datetime) -> None:
    world.dispatch_needed = True  # the controller dispatches at least every few seconds
    world.step(at)


def status(world: Engine, name: str) -> tuple[JobStatus, str | None]:
    record = world.store.record(("default", name))
    assert record is not None
    return record.status, job_status(record).status_reason


def test_a_head_job_blocked_too_long_is_cancelled_by_the_time_limit_action() -> None:
    queue = job_queue(jobStateTimeLimitActions=[{"reason": MAX_RESOURCE, "maxTimeSeconds": 600}])
    huge = batch_job(
        "huge", containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "64"}]}
    )
    world = world_with(queue, huge)
    step(world, T0)
    state, reason = status(world, "huge")
    assert state == JobStatus.RUNNABLE
    assert reason is not None
    assert reason.startswith(f"{MAX_RESOURCE} - the job needs 64 vCPU, 512 MiB; ce1: maxvCpus 16")
    step(world, T0 + timedelta(seconds=599))
    assert status(world, "huge")[0] == JobStatus.RUNNABLE
    step(world, T0 + timedelta(seconds=600))
    state, reason = status(world, "huge")
    assert state == JobStatus.FAILED
    assert reason is not None
    assert reason.startswith(f"{MAX_RESOURCE}: canceled after 600s at the head of JobQueue q1")


def test_a_time_limit_action_for_another_reason_does_nothing() -> None:
    queue = job_queue(
        jobStateTimeLimitActions=[
            {"reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "maxTimeSeconds": 600}
        ]
    )
    huge = batch_job(
        "huge", containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "64"}]}
    )
    world = world_with(queue, huge)
    for seconds in (0, 700, 1400):
        step(world, T0 + timedelta(seconds=seconds))
    assert status(world, "huge")[0] == JobStatus.RUNNABLE


POLICY = {
    "apiVersion": "kubatch.io/v1alpha1",
    "kind": "SchedulingPolicy",
    "metadata": {"name": "fair"},
    "spec": {
        "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 0.5}]}
    },
}


@pytest.mark.parametrize(
    ("fair_queue", "share", "expected"),
    [
        (True, None, "shareIdentifier is required: JobQueue q1 has the scheduling policy fair"),
        (
            False,
            "team_a",
            "shareIdentifier is only for queues with a scheduling policy; JobQueue q1 has none",
        ),
        (True, "a", None),
    ],
    ids=["required_on_fair_share_queues", "refused_on_fifo_queues", "accepted"],
)
def test_share_identifier_rules(fair_queue: bool, share: str | None, expected: str | None) -> None:
    queue = job_queue(schedulingPolicy="fair") if fair_queue else job_queue()
    job = batch_job("j", **({"shareIdentifier": share} if share else {}))
    world = world_with(queue, job, policy=POLICY)
    step(world, T0)
    state, reason = status(world, "j")
    if expected is None:
        assert state != JobStatus.FAILED
    else:
        assert (state, reason) == (JobStatus.FAILED, expected)


def test_a_queue_naming_a_missing_policy_is_invalid() -> None:
    world = world_with(job_queue(schedulingPolicy="nowhere"))
    assert not world.store.queues["q1"].valid
    assert world.store.queues["q1"].reason == "SchedulingPolicy nowhere does not exist"


def test_jobs_asking_the_same_share_one_resolution_and_it_goes_with_them() -> None:
    import gc

    world = world_with(
        job_queue(), batch_job("a"), batch_job("b"), batch_job("c", parameters={"msg": "x"})
    )
    step(world, T0)
    records = {name: world.store.record(("default", name)) for name in "abc"}
    resolved = {name: r.resolved for name, r in records.items() if r is not None}
    assert resolved["a"] is resolved["b"]
    assert resolved["a"] is not resolved["c"]
    before = len(world.jobs.resolved_cache)
    for name in "ab":
        world.delete_job("default", name, T0)
    del records, resolved
    gc.collect()
    assert len(world.jobs.resolved_cache) == before - 1


def test_pods_are_pinned_by_the_nodes_hostname_label() -> None:
    world = world_with(job_queue(), batch_job("j"))
    node = {
        "metadata": {
            "name": "ip-10-0-0-1.ec2.internal",
            "resourceVersion": "1",
            "labels": {
                "kubatch.io/compute-environment": "ce1",
                "kubernetes.io/hostname": "ip-10-0-0-1",
            },
        },
        "status": {
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    world.upsert_node(node, T0)
    world.dispatch_needed = True
    writes = world.step(T0)
    (pod,) = [w.body for w in writes if isinstance(w, CreateObject) and w.plural == "pods"]
    assert pod["spec"]["nodeSelector"]["kubernetes.io/hostname"] == "ip-10-0-0-1"


@pytest.mark.parametrize(
    ("taint", "placed"),
    [
        (None, True),
        ({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}, False),
        ({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}, False),
        ({"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}, False),
        ({"key": "node.kubernetes.io/not-ready", "effect": "PreferNoSchedule"}, True),
        ({"key": "example.com/dedicated", "effect": "NoSchedule"}, True),
    ],
    ids=[
        "untainted",
        "not_ready_taint_left",
        "unreachable",
        "disk_pressure",
        "a_preference_only",
        "not_a_condition_taint",
    ],
)
def test_a_node_gets_pods_only_once_the_scheduler_would_bind_there(
    taint: dict[str, str] | None, placed: bool
) -> None:
    """Ready is not enough: while the node lifecycle controller's taint for a condition is on
    the node (it may outlast the condition: its lift can fail, and is not tried again before
    the node's next update), the scheduler binds nothing there, and a pod pinned to it would
    wait Pending. The job waits for a node instead; once the taint is lifted it is placed.
    (Not a condition taint: the environment's own, which its pods tolerate.)"""
    world = world_with(job_queue(), batch_job("j"))
    node: dict[str, Any] = {
        "metadata": {
            "name": "n1",
            "resourceVersion": "1",
            "labels": {"kubatch.io/compute-environment": "ce1", "kubernetes.io/hostname": "n1"},
        },
        "spec": {"taints": [taint] if taint else []},
        "status": {
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    world.upsert_node(node, T0)
    world.dispatch_needed = True
    pods = [w for w in world.step(T0) if isinstance(w, CreateObject) and w.plural == "pods"]
    assert bool(pods) == placed
    if not placed:
        world.upsert_node({**node, "spec": {"taints": []}}, T0 + timedelta(seconds=1))
        later = world.step(T0 + timedelta(seconds=1))
        assert [w for w in later if isinstance(w, CreateObject) and w.plural == "pods"]
