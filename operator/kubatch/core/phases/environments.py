"""A compute environment's status: validity, desired and ready vCPUs and nodes, nodes by
type, the last scaling action; written from each dispatch pass (and from the registry when
an environment changes)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ...api import COMPUTEENVIRONMENTS
from ...api.common import State
from ...api.computeenvironment import AllocationStrategy, ComputeEnvironmentType
from ...autoscaling.types import NodeShape, PoolPlan, ResizeRequest
from ...keys import LABEL_COMPUTE_ENVIRONMENT
from ..outbox.statuses import StatusBook, timestamp, validity
from ..scheduling.catalog import PODS_PER_NODE
from ..scheduling.snapshot import CapacityPlan, Environment, Node
from ..state.objects import EnvState
from ..state.store import Store
from .finalizers import deleting_status, environment_holds, is_deleting


def write_environment_status(
    store: Store,
    book: StatusBook,
    env: EnvState,
    now: datetime,
    plan: CapacityPlan | None,
    previous: CapacityPlan | None,
) -> dict[str, Any]:
    """Want the environment's status written; returns its figures for the metrics."""
    nodes = store.pool_nodes(env.selector)
    ready = [n for n in nodes if n.ready]
    reason = env.reason or (
        f"provider {env.provider}: {env.provider_error}" if (env.provider_error) else None
    )
    status: dict[str, Any] = {
        **validity(env.obj, COMPUTEENVIRONMENTS, env.valid, env.reason, now, book),
        "desiredvCpus": plan.desired_vcpus
        if plan
        else sum(n.allocatable.millicpu for n in nodes) // 1000,
        "readyvCpus": sum(n.allocatable.millicpu for n in ready) // 1000,
        "allocatedvCpus": round(sum(n.ours.millicpu for n in nodes) / 1000, 3),
        "desiredNodes": sum(plan.desired.values()) if plan else len(nodes),
        "readyNodes": len(ready),
        "nodesByType": dict(Counter(n.shape or "unknown" for n in nodes)),
    }
    if reason and env.valid:
        status["statusReason"] = reason
    if is_deleting(env.obj):
        status = deleting_status(status, environment_holds(store, env))
    name = env.obj["metadata"]["name"]
    before = book.current(COMPUTEENVIRONMENTS, None, name) or {}
    last = before.get("lastScalingAction") or (env.obj.get("status") or {}).get("lastScalingAction")
    if plan is not None and plan.reason and (previous is None or previous.desired != plan.desired):
        last = {
            "time": timestamp(now),
            "fromvCpus": previous.desired_vcpus if previous else status["desiredvCpus"],
            "tovCpus": plan.desired_vcpus,
            "reason": plan.reason,
        }
    if last:
        status["lastScalingAction"] = last
    book.want(COMPUTEENVIRONMENTS, env.obj, status)
    return {
        "desired_vcpus": status["desiredvCpus"],
        "ready_vcpus": status["readyvCpus"],
        "allocated_vcpus": status["allocatedvCpus"],
        "desired_nodes": status["desiredNodes"],
        "ready_nodes": status["readyNodes"],
    }


def resize_request(store: Store, env: EnvState, plan: CapacityPlan) -> ResizeRequest:
    """What the environment's provider is asked for: the plan, the pool's nodes, its shapes."""
    assert env.model is not None
    resources = env.model.spec.compute_resources
    pool = store.pool_nodes(env.selector)
    return ResizeRequest(
        environment=env.model.name,
        provider=env.provider,
        settings=dict(env.model.spec.provider.settings) if env.model.spec.provider else {},
        plan=PoolPlan(
            desired=dict(plan.desired),
            desired_vcpus=plan.desired_vcpus,
            remove=tuple(plan.remove),
            reason=plan.reason,
        ),
        nodes=tuple((n.name, n.shape) for n in pool),
        labels={**env.selector, LABEL_COMPUTE_ENVIRONMENT: env.model.name},
        taints=tuple(t.wire() for t in resources.taints) if resources else (),
        shapes=tuple(
            NodeShape(
                name=s.name,
                vcpus=s.vcpus,
                memory=s.allocatable.memory,
                gpus=s.allocatable.gpus,
                pods=PODS_PER_NODE,
            )
            for s in env.shapes
        ),
    )


def environment_snapshot(store: Store, env: EnvState, now: datetime) -> Environment:
    """The environment as the scheduler sees it: its nodes with what is free on each, its
    bounds and strategy, and the shapes a provider could not supply lately (those past
    their time are forgotten here)."""
    assert env.model is not None
    resources = env.model.spec.compute_resources
    managed = env.model.spec.type == ComputeEnvironmentType.MANAGED and env.provider != "unmanaged"
    for shape, until in list(env.unavailable.items()):
        if until <= now:
            del env.unavailable[shape]
    pool = [n for n in store.pool_nodes(env.selector) if not n.deleting]
    nodes = tuple(
        Node(
            name=n.name,
            allocatable=n.allocatable,
            free=n.free,
            free_pods=max(n.pod_slots - n.pods, 0),
            shape=n.shape,
            ready=n.ready and n.schedulable,
            running=n.busy,
            idle_since=n.idle_since,
        )
        for n in pool
    )
    ours = sum(n.ours.millicpu for n in pool)
    max_vcpus = (
        resources.maxv_cpus if resources else sum(n.allocatable.millicpu for n in nodes) // 1000
    )
    return Environment(
        name=env.model.name,
        max_vcpus=max_vcpus,
        enabled=env.model.spec.state == State.ENABLED,
        valid=env.valid,
        managed=managed,
        min_vcpus=resources.minv_cpus if resources else 0,
        shapes=env.shapes,
        strategy=resources.allocation_strategy if resources else AllocationStrategy.BEST_FIT,
        nodes=nodes,
        allocated_millicpu=ours,
        unavailable_shapes=frozenset(env.unavailable),
        draining=is_deleting(env.obj),
    )
