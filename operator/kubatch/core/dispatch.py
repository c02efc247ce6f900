"""The dispatch phase of a step: RUNNABLE work to the scheduler, and its decisions back.

It builds the scheduler's snapshot from the store (queues in order, fair-share order where a
policy applies, each environment's nodes with what every pod on them holds), runs one pass,
and turns the decisions into placements (records' actions), blockers and queue positions,
time-limit cancellations, capacity plans for the providers and environment statuses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..api import SchedulingPolicy
from ..api.common import JobStatus, State
from ..api.computeenvironment import AllocationStrategy, ComputeEnvironmentType
from ..autoscaling.types import NodeShape, PoolPlan, ResizeRequest
from ..keys import LABEL_COMPUTE_ENVIRONMENT
from .catalog import PODS_PER_NODE
from .effects import ResizePool
from .fairshare import Candidate, decayed, fair_order, reservation_cap, weight_for
from .finalizers import deleting_status, environment_holds, is_deleting
from .jobs import Changes
from .lifecycle import JobRecord
from .scheduler import (
    NEVER_PLACEABLE,
    CapacityPlan,
    Decisions,
    Environment,
    Node,
    Queue,
    Snapshot,
    WorkItem,
    positions,
    schedule,
)
from .state import EnvState, JobKey, Store
from .statuses import StatusBook, shares_status, timestamp, validity

Ordered = list[tuple[tuple[Any, ...], WorkItem]]
UNAVAILABLE_FOR = timedelta(minutes=5)
"""How long a shape a provider could not supply is not asked for again."""
FAIR_SHARE_SPLIT = 2000
"""Array children taken one by one in a fair-share queue (the rest stays one item)."""


def work_items(key: JobKey, record: JobRecord) -> Ordered:
    """A job's RUNNABLE work with its place in the queue. Consecutive array children that
    were not retried share their place and become one item with a count."""
    assert record.resolved is not None
    queue, resources = record.spec.job_queue, record.resolved.resources
    problem = record.resolved.resource_problem
    found: Ordered = []
    run: list[Any] | None = None  # [first index, count, order]
    for child in record.runnable():
        groupable = record.is_array and not child.retried
        if groupable and run is not None and child.index == run[0] + run[1]:
            run[1] += 1
            continue
        if run is not None:
            found.append((run[2], WorkItem(key, run[0], queue, resources, run[1], problem)))
            run = None
        if groupable:
            run = [child.index, 1, record.queue_key(child)]
        else:
            found.append(
                (record.queue_key(child), WorkItem(key, child.index, queue, resources, 1, problem))
            )
    if run is not None:
        found.append((run[2], WorkItem(key, run[0], queue, resources, run[1], problem)))
    return found


def split_children(entries: Ordered) -> Ordered:
    """Work items of one child each, so that shares interleave child by child."""
    split: Ordered = []
    for order, item in entries:
        if item.count == 1 or item.index is None:
            split.append((order, item))
            continue
        first = min(item.count, FAIR_SHARE_SPLIT)
        split += [((*order, i), replace(item, index=item.index + i, count=1)) for i in range(first)]
        if item.count > first:
            split.append(
                ((*order, first), replace(item, index=item.index + first, count=item.count - first))
            )
    return split


@dataclass
class Dispatched:
    """What a pass did."""

    changes: Changes = field(default_factory=Changes)
    placements: list[tuple[JobKey, int | None, str, str | None]] = field(default_factory=list)
    """(job, index, environment, node) placed: the engine creates their pods."""
    resizes: list[ResizePool] = field(default_factory=list)
    waits: list[tuple[str, float]] = field(default_factory=list)
    """(queue, seconds from RUNNABLE to placed)"""
    cancellations: list[tuple[JobKey, str]] = field(default_factory=list)
    """Jobs a queue's jobStateTimeLimitActions cancel, with the reason."""


class Dispatcher:
    def __init__(self, store: Store, book: StatusBook, scale_in_after: timedelta) -> None:
        self.store = store
        self.book = book
        self.scale_in_after = scale_in_after
        self.item_cache: dict[JobKey, Ordered] = {}
        self.blocked: set[JobKey] = set()
        """Jobs whose status shows a blocker or a queue position."""
        self.share_usage: dict[str, dict[str, float]] = {}
        """Per fair-share queue, each share's usage (see core/fairshare.py)."""
        self.share_running: dict[str, dict[str, int]] = {}
        self.usage_time: datetime | None = None
        self.last_plans: dict[str, CapacityPlan] = {}
        self.environments: dict[str, dict[str, float]] = {}
        """environment -> desired/ready/allocated vCPUs and desired/ready nodes (metrics)"""

    def forget(self, key: JobKey) -> None:
        self.item_cache.pop(key, None)

    # -- the pass --------------------------------------------------------------------------

    def run(self, now: datetime) -> Dispatched:
        result = Dispatched()
        items = self._items()
        envs = {
            name: self._environment(e, now)
            for name, e in self.store.envs.items()
            if e.model is not None
        }
        env_max = {e.name: e.max_vcpus * 1000 for e in envs.values()}
        self._update_share_usage(now)
        queues = []
        for name, q in sorted(self.store.queues.items()):
            if q.model is None or not q.valid:
                continue
            spec = q.model.spec
            order = tuple(
                o.compute_environment
                for o in sorted(spec.compute_environment_order, key=lambda o: o.order)
            )
            entries = items.get(name, [])
            policy = self.store.policies.get(spec.scheduling_policy or "")
            if policy is None:
                ordered = tuple(i for _, i in entries)
                queues.append(Queue(name, spec.priority, order, spec.queueing_strategy, ordered))
                continue
            fair, cap, held = self._fair_share(name, policy, entries, order, env_max)
            queues.append(
                Queue(name, spec.priority, order, spec.queueing_strategy, fair, cap, held)
            )
        snapshot = Snapshot(tuple(queues), tuple(envs.values()), now, self.scale_in_after)
        decisions = schedule(snapshot)
        self._place(decisions, now, result)
        self._blockers(decisions, now, result)
        self._time_limits(decisions, now, result)
        for name, plan in decisions.plans.items():
            env = self.store.envs.get(name)
            if env is None or env.model is None:
                continue
            if env.provider != "unmanaged":
                result.resizes.append(ResizePool(self._request(env, plan)))
            self.environment_status(env, now, plan)
            self.last_plans[name] = plan
        return result

    def _place(self, decisions: Decisions, now: datetime, result: Dispatched) -> None:
        for placement in decisions.placements:
            record = self.store.record(placement.job)
            if record is None:
                continue
            child = record.child(placement.index)
            if child.runnable_since is not None:
                waited = (now - child.runnable_since).total_seconds()
                result.waits.append((record.spec.job_queue, waited))
            actions = record.place(placement.index, placement.environment, now, placement.node)
            result.changes.add(placement.job, actions)
            self.item_cache.pop(placement.job, None)

    def _blockers(self, decisions: Decisions, now: datetime, result: Dispatched) -> None:
        blockers: dict[JobKey, str] = {}
        details: dict[JobKey, str | None] = {}
        for waiting in decisions.waiting:
            blockers.setdefault(waiting.item.job, waiting.reason)
            details.setdefault(waiting.item.job, waiting.detail)
        best = positions(decisions.waiting)
        for key in self.blocked | blockers.keys():
            record = self.store.record(key)
            if record is None:
                continue
            blocker, position = (
                (None, None) if record.terminal else (blockers.get(key), best.get(key))
            )
            if record.blocker != blocker:
                record.blocked_since = now if blocker else None
            detail = details.get(key) if blocker else None
            if (record.blocker, record.blocker_detail, record.position) != (
                blocker,
                detail,
                position,
            ):
                record.blocker, record.blocker_detail = blocker, detail
                record.position = position
                result.changes.touched.add(key)
        self.blocked = set(blockers)

    def _time_limits(self, decisions: Decisions, now: datetime, result: Dispatched) -> None:
        """jobStateTimeLimitActions: cancel the job at the head of its queue that was blocked
        by the action's reason for maxTimeSeconds. Work that can never be placed does not
        block in Kubatch, so it counts as the head whatever its place."""
        for waiting in decisions.waiting:
            queue = self.store.queues.get(waiting.item.queue)
            record = self.store.record(waiting.item.job)
            if queue is None or queue.model is None or record is None:
                continue
            head = waiting.position == 1 or waiting.reason in NEVER_PLACEABLE
            if not head or record.blocked_since is None or record.terminal:
                continue
            waited = (now - record.blocked_since).total_seconds()
            for action in queue.model.spec.job_state_time_limit_actions:
                if action.reason == waiting.reason and waited >= action.max_time_seconds:
                    reason = (
                        f"{action.reason}: canceled after {action.max_time_seconds}s at the "
                        f"head of JobQueue {waiting.item.queue} (jobStateTimeLimitActions)"
                    )
                    result.changes.add(waiting.item.job, record.cancel(reason, now))
                    break

    # -- the snapshot ----------------------------------------------------------------------

    def _items(self) -> dict[str, Ordered]:
        """RUNNABLE work per queue, in queue order."""
        per_queue: dict[str, Ordered] = {}
        for key in self.store.runnable:
            record = self.store.record(key)
            if record is None or not record.counts[JobStatus.RUNNABLE] or not record.resolved:
                continue
            items = self.item_cache.get(key)
            if items is None:
                items = self.item_cache[key] = work_items(key, record)
            per_queue.setdefault(record.spec.job_queue, []).extend(items)
        for entries in per_queue.values():
            entries.sort(key=lambda e: e[0])
        return per_queue

    def _environment(self, env: EnvState, now: datetime) -> Environment:
        assert env.model is not None
        resources = env.model.spec.compute_resources
        managed = (
            env.model.spec.type == ComputeEnvironmentType.MANAGED and env.provider != "unmanaged"
        )
        for shape, until in list(env.unavailable.items()):
            if until <= now:
                del env.unavailable[shape]
        pool = [n for n in self.store.pool_nodes(env.selector) if not n.deleting]
        nodes = tuple(
            Node(
                n.name,
                n.allocatable,
                n.free,
                max(n.pod_slots - n.pods, 0),
                n.shape,
                n.ready and n.schedulable,
                n.busy,
                n.idle_since,
            )
            for n in pool
        )
        ours = sum(n.ours.millicpu for n in pool)
        max_vcpus = (
            resources.maxv_cpus if resources else sum(n.allocatable.millicpu for n in nodes) // 1000
        )
        return Environment(
            env.model.name,
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

    def _request(self, env: EnvState, plan: CapacityPlan) -> ResizeRequest:
        assert env.model is not None
        resources = env.model.spec.compute_resources
        pool = self.store.pool_nodes(env.selector)
        return ResizeRequest(
            environment=env.model.name,
            provider=env.provider,
            settings=dict(env.model.spec.provider.settings) if env.model.spec.provider else {},
            plan=PoolPlan(dict(plan.desired), plan.desired_vcpus, tuple(plan.remove), plan.reason),
            nodes=tuple((n.name, n.shape) for n in pool),
            labels={**env.selector, LABEL_COMPUTE_ENVIRONMENT: env.model.name},
            taints=tuple(t.wire() for t in resources.taints) if resources else (),
            shapes=tuple(
                NodeShape(s.name, s.vcpus, s.allocatable.memory, s.allocatable.gpus, PODS_PER_NODE)
                for s in env.shapes
            ),
        )

    def shapes_unavailable(self, environment: str, shapes: tuple[str, ...], now: datetime) -> None:
        env = self.store.envs.get(environment)
        if env is not None:
            for shape in shapes:
                env.unavailable[shape] = now + UNAVAILABLE_FOR

    # -- fair share ------------------------------------------------------------------------

    def _fair_share(
        self,
        queue: str,
        policy: SchedulingPolicy,
        entries: Ordered,
        order: tuple[str, ...],
        env_max: Mapping[str, int],
    ) -> tuple[tuple[WorkItem, ...], int, int]:
        """A fair-share queue's items in fair order, its CPU cap (computeReservation) and
        the CPU its jobs hold."""
        fair = policy.spec.fairshare_policy
        running = self.share_running.get(queue, {})
        entries = split_children(entries)
        candidates = []
        for order_key, item in entries:
            record = self.store.record(item.job)
            assert record is not None
            assert record.resolved is not None
            candidates.append(
                Candidate(
                    record.spec.share_identifier or "",
                    record.resolved.scheduling_priority,
                    item.resources.millicpu * item.count,
                    order_key,
                )
            )
        shares = {c.share for c in candidates} | {s for s, held in running.items() if held}
        weights = {share: weight_for(share, fair) for share in shares}
        usage = self.share_usage.get(queue, {})
        ordered = tuple(entries[i][1] for i in fair_order(candidates, usage, weights))
        total = sum(env_max.get(e, 0) for e in order)
        cap = reservation_cap(total, fair.compute_reservation, len(shares))
        return ordered, cap, sum(running.values())

    def _update_share_usage(self, now: datetime) -> None:
        """Fold what each share ran since the last pass into its usage."""
        seconds = (now - self.usage_time).total_seconds() if self.usage_time else 0.0
        self.usage_time = now
        fair_queues = {
            name: policy
            for name, q in self.store.queues.items()
            if q.model is not None
            and (policy := self.store.policies.get(q.model.spec.scheduling_policy or ""))
        }
        if not fair_queues:
            return  # no fair-share queue: nothing to count, and no job to look at
        running: dict[str, dict[str, int]] = {}
        for state in self.store.jobs.values():
            record = state.record
            if record is None or record.resolved is None or not record.spec.share_identifier:
                continue
            in_flight = record.counts[JobStatus.STARTING] + record.counts[JobStatus.RUNNING]
            if in_flight:
                shares = running.setdefault(record.spec.job_queue, {})
                share = record.spec.share_identifier
                held = in_flight * record.resolved.resources.millicpu
                shares[share] = shares.get(share, 0) + held
        for name, policy in fair_queues.items():
            fair = policy.spec.fairshare_policy
            usage = self.share_usage.setdefault(name, {})
            now_running = running.get(name, {})
            for share in set(usage) | set(now_running):
                usage[share] = decayed(
                    usage.get(share, 0.0),
                    now_running.get(share, 0) / 1000,
                    weight_for(share, fair),
                    seconds,
                    fair.share_decay_seconds,
                )
        self.share_running = running

    def restore_usage(self, queue: str, status: Mapping[str, Any]) -> None:
        """Usage survives a restart through the queue's status."""
        if queue in self.share_usage:
            return
        for share in status.get("shares") or []:
            usage = self.share_usage.setdefault(queue, {})
            usage[share["shareIdentifier"]] = float(share.get("usage", 0.0))

    def shares(self, queue: str, policy: SchedulingPolicy) -> list[dict[str, Any]]:
        usage = self.share_usage.get(queue, {})
        fair = policy.spec.fairshare_policy
        weights = {share: weight_for(share, fair) for share in usage}
        return shares_status(usage, self.share_running.get(queue, {}), weights)

    # -- environment statuses --------------------------------------------------------------

    def environment_status(self, env: EnvState, now: datetime, plan: CapacityPlan | None) -> None:
        nodes = self.store.pool_nodes(env.selector)
        ready = [n for n in nodes if n.ready]
        reason = env.reason or (
            f"provider {env.provider}: {env.provider_error}" if (env.provider_error) else None
        )
        status: dict[str, Any] = {
            **validity(env.obj, "computeenvironments", env.valid, env.reason, now, self.book),
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
            status = deleting_status(status, environment_holds(self.store, env))
        name = env.obj["metadata"]["name"]
        before = self.book.current("computeenvironments", None, name) or {}
        last = before.get("lastScalingAction") or (env.obj.get("status") or {}).get(
            "lastScalingAction"
        )
        previous = self.last_plans.get(name)
        if (
            plan is not None
            and plan.reason
            and (previous is None or previous.desired != plan.desired)
        ):
            last = {
                "time": timestamp(now),
                "fromvCpus": previous.desired_vcpus if previous else status["desiredvCpus"],
                "tovCpus": plan.desired_vcpus,
                "reason": plan.reason,
            }
        if last:
            status["lastScalingAction"] = last
        self.book.want("computeenvironments", env.obj, status)
        self.environments[name] = {
            "desired_vcpus": status["desiredvCpus"],
            "ready_vcpus": status["readyvCpus"],
            "allocated_vcpus": status["allocatedvCpus"],
            "desired_nodes": status["desiredNodes"],
            "ready_nodes": status["readyNodes"],
        }
