"""The dispatch phase of a step: RUNNABLE work to the scheduler, and its decisions back.

It builds the scheduler's snapshot from the store (queues in order, fair-share order where a
policy applies, each environment's nodes with what every pod on them holds), runs one pass,
and turns the decisions into placements (records' actions), blockers and queue positions,
time-limit cancellations, capacity plans for the providers and environment statuses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from ...api import SchedulingPolicy
from ...api.common import JobStatus
from ...api.resources import Resources
from ...autoscaling.types import ResizeResult
from ..outbox.effects import ResizePool
from ..outbox.statuses import StatusBook
from ..scheduling.placement import (
    JOB_RESOURCE_REQUIREMENT,
    MAX_RESOURCE,
    NEVER_PLACEABLE,
    CapacityPlan,
    Decisions,
    Queue,
    Snapshot,
    Tail,
    WorkItem,
    schedule,
)
from ..scheduling.runqueues import RunQueues
from ..state.objects import EnvState, JobKey
from ..state.store import Store
from .environments import environment_snapshot, resize_request, write_environment_status
from .shares import Shares
from .work import Dispatched, work_items

UNAVAILABLE_FOR = timedelta(minutes=5)
"""How long a shape a provider could not supply is not asked for again."""
POSITIONS_SHOWN = 100
"""Waiting places numbered in each queue (status.positionInQueue); behind them a job says
only why it waits, so that placing one job does not rewrite the status of every job behind
it."""


class Dispatcher:
    def __init__(
        self,
        store: Store,
        book: StatusBook,
        scale_in_after: timedelta,
        positions_shown: int = POSITIONS_SHOWN,
        gang_reservation: timedelta | None = timedelta(minutes=10),
        taken_per_pass: int | None = None,
    ) -> None:
        self.store = store
        self.taken_per_pass = taken_per_pass
        """Changed jobs a pass takes into its run queues at most (None: all)."""
        self.behind = False
        """Whether the last pass left changed jobs for the next one."""
        self.gang_reservation = gang_reservation
        self.book = book
        self.scale_in_after = scale_in_after
        self.positions_shown = positions_shown
        self.runq = RunQueues()
        """RUNNABLE work per queue, in order, kept between passes."""
        self.pending: set[JobKey] = set()
        """Jobs changed since the last pass: their items in `runq` may be out of date."""
        self.visited: set[JobKey] = set()
        """Jobs the last pass placed or left waiting by name (not in a queue's tail)."""
        self.shown: set[JobKey] = set()
        """Jobs whose status shows a queue position."""
        self.tails: dict[str, tuple[str, frozenset[tuple[Resources, str]]]] = {}
        """Per queue, why its tail waited in the last pass."""
        self.fair = Shares(store, self.runq)
        self.last_plans: dict[str, CapacityPlan] = {}
        self.environments: dict[str, dict[str, float]] = {}
        """environment -> desired/ready/allocated vCPUs and desired/ready nodes (metrics)"""

    def settled(self, keys: set[JobKey]) -> None:
        """Jobs whose change the pass has already taken in (relabeled in place: their place in
        the queue is the same), so the next pass need not look at them again."""
        self.pending -= keys

    def forget_environment(self, name: str) -> None:
        """An environment deleted: its figures and last plan go."""
        self.environments.pop(name, None)
        self.last_plans.pop(name, None)

    def forget(self, key: JobKey) -> None:
        """A job changed: its items are read again before the next pass."""
        self.pending.add(key)

    def sync(self, most: int | None = None) -> set[JobKey]:
        """Bring `runq` up to date with the jobs changed since the last pass (returned): at
        most `most` of them, the earliest submitted (the rest stay pending, for the next)."""
        if most is None:
            pending, self.pending = self.pending, set()
        else:
            pending = self.store.oldest(self.pending, most)
        self.behind = bool(self.pending)
        for key in pending:
            record = self.store.record(key)
            if (
                key not in self.store.runnable
                or record is None
                or record.resolved is None
                or not record.counts[JobStatus.RUNNABLE]
            ):
                self.runq.remove(key)
                continue
            items = work_items(key, record)
            if self.runq.holds(key, items):
                continue  # changed otherwise (its blocker, say): its place is the same
            self.runq.put(
                key,
                record.spec.job_queue,
                record.spec.share_identifier or "",
                record.resolved.scheduling_priority,
                items,
            )
        return pending

    def check(self) -> list[str]:
        """Whether `runq` holds exactly the RUNNABLE work of the store (after a sync)."""
        self.pending |= self.runq.entries.keys() ^ self.store.runnable
        self.sync()
        problems = []
        for key in self.store.runnable | self.runq.entries.keys():
            record = self.store.record(key)
            expected: tuple[WorkItem, ...] = ()
            if record is not None and record.resolved is not None:
                expected = tuple(item for _, item in work_items(key, record))
            if self.runq.items_of(key) != expected:
                problems.append(f"run queue: {key} out of step with its job")
        return problems

    # -- the pass --------------------------------------------------------------------------

    def run(
        self, now: datetime, consumables: Mapping[str, tuple[int, int]] | None = None
    ) -> Dispatched:
        """A scheduling pass; `consumables`: each consumable resource's (units left, in all)."""
        result = Dispatched()
        changed = self.sync(self.taken_per_pass)
        envs = {
            name: environment_snapshot(self.store, e, now)
            for name, e in self.store.envs.items()
            if e.model is not None
        }
        env_max = {e.name: e.max_vcpus * 1000 for e in envs.values()}
        self.fair.update(now)
        queues = []
        for name, q in sorted(self.store.queues.items()):
            if q.model is None or not q.valid:
                continue
            spec = q.model.spec
            order = tuple(
                o.compute_environment
                for o in sorted(spec.compute_environment_order, key=lambda o: o.order)
            )
            policy = self.store.policies.get(spec.scheduling_policy or "")
            # The requests a walk that stops early counts as still ahead, and the multi-node
            # jobs it judges behind the stop (in FIFO order, under fair share too).
            sizes, gangs = self.runq.sizes(name), self.runq.gangs(name)
            strategy = spec.queueing_strategy
            if policy is None:
                fifo = self.runq.fifo(name)
                queues.append(
                    Queue(
                        name=name,
                        priority=spec.priority,
                        environments=order,
                        strategy=strategy,
                        items=fifo,
                        sizes=sizes,
                        gangs=gangs,
                    )
                )
                continue
            fair, cap, held = self.fair.items(name, policy, order, env_max)
            queues.append(
                Queue(
                    name=name,
                    priority=spec.priority,
                    environments=order,
                    strategy=strategy,
                    items=fair,
                    sizes=sizes,
                    gangs=gangs,
                    cap_millicpu=cap,
                    allocated_millicpu=held,
                )
            )
        snapshot = Snapshot(
            queues=tuple(queues),
            environments=tuple(envs.values()),
            now=now,
            scale_in_after=self.scale_in_after,
            positions_shown=self.positions_shown,
            gang_reservation=self.gang_reservation,
            consumables=consumables or {},
        )
        decisions = schedule(snapshot)
        self._place(decisions, now, result)
        self._blockers(decisions, now, result, changed)
        self._time_limits(decisions, now, result)
        acted = {key for key, _ in result.changes.actions}
        result.relabeled = result.changes.touched - acted - {p.job for p in decisions.placements}
        for name, plan in decisions.plans.items():
            env = self.store.envs.get(name)
            if env is None or env.model is None:
                continue
            if env.provider != "unmanaged":
                result.resizes.append(ResizePool(resize_request(self.store, env, plan)))
            self.environment_status(env, now, plan)
            self.last_plans[name] = plan
        return result

    def _place(self, decisions: Decisions, now: datetime, result: Dispatched) -> None:
        for placement in decisions.placements:
            record = self.store.record(placement.job)
            if record is None:
                continue
            gang = bool(placement.nodes)  # a multi-node job waited as its main node did
            child = record.children[record.main_node] if gang else record.child(placement.index)
            if child.runnable_since is not None:
                waited = (now - child.runnable_since).total_seconds()
                result.waits.append((record.spec.job_queue, waited))
            if gang:
                actions = record.place_gang(placement.environment, placement.nodes, now)
            else:
                actions = record.place(placement.index, placement.environment, now, placement.node)
            result.changes.add(placement.job, actions)
            self.pending.add(placement.job)

    def _blockers(
        self, decisions: Decisions, now: datetime, result: Dispatched, changed: set[JobKey]
    ) -> None:
        """Each job's blocker and queue position. Only jobs the pass visited, visited the
        last time, showed a position, changed, or stand in a tail whose reason changed are
        looked at: the rest of a long queue keeps what its status says."""
        found: dict[JobKey, tuple[str, str | None, int | None]] = {}
        for waiting in decisions.waiting:
            shown = waiting.position
            if shown is not None and shown > self.positions_shown:
                shown = None
            before = found.get(waiting.item.job)
            if before is None:
                found[waiting.item.job] = (waiting.reason, waiting.detail, shown)
            elif shown is not None and (before[2] is None or shown < before[2]):
                found[waiting.item.job] = (before[0], before[1], shown)
        visited = set(found) | {p.job for p in decisions.placements}
        look = visited | self.visited | self.shown | changed
        tails = {
            name: (tail.reason, frozenset(tail.never.items()))
            for name, tail in decisions.tails.items()
        }
        for name in self.tails.keys() | tails.keys():
            # A tail's own reason is the queue's (status.waitingReason), not its jobs': only
            # the jobs whose request became, or stopped being, one that can never be placed
            # read differently. So a pass costs what it visits, however long the queue.
            old_tail, new_tail = self.tails.get(name), tails.get(name)
            never = (old_tail[1] if old_tail else frozenset()) ^ (
                new_tail[1] if new_tail else frozenset()
            )
            for resources, _ in never:
                look.update(self.runq.jobs_of_size(name, resources))
            if (old_tail and old_tail[0]) != (new_tail and new_tail[0]):
                result.tails_changed.add(name)
        self.tails = tails
        for key in look:
            record = self.store.record(key)
            if record is None:
                continue
            if record.terminal or not record.counts[JobStatus.RUNNABLE]:
                blocker, detail, position = None, None, None  # placed, or no longer waiting
            else:
                blocker, detail, position = found.get(key) or self._in_tail(key, decisions.tails)
            if record.mark_waiting(blocker, detail, position, now):
                result.changes.touched.add(key)
        self.visited = visited
        self.shown = {key for key, (_, _, position) in found.items() if position is not None}

    def _in_tail(
        self, key: JobKey, tails: Mapping[str, Tail]
    ) -> tuple[str | None, str | None, int | None]:
        """Why a job the pass did not visit waits, when that is its own: a request that can
        never be placed, or cannot be used; otherwise nothing of its own (the queue's status
        says why its tail waits)."""
        queue = self.runq.queue_of(key)
        tail = tails.get(queue) if queue is not None else None
        items = self.runq.items_of(key)
        if tail is None or not items:
            return None, None, None
        item = items[0]
        if item.problem is not None:
            return JOB_RESOURCE_REQUIREMENT, item.problem, None
        if item.resources in tail.never:
            return MAX_RESOURCE, tail.never[item.resources], None
        return None, None, None

    def _time_limits(self, decisions: Decisions, now: datetime, result: Dispatched) -> None:
        """jobStateTimeLimitActions: cancel the job at the head of its queue that was blocked
        by the action's reason for maxTimeSeconds. Work that can never be placed does not
        block in Kubatch, so it counts as the head whatever its place."""
        for name, key, blocker in self._heads(decisions):
            queue = self.store.queues.get(name)
            record = self.store.record(key)
            if queue is None or queue.model is None or record is None:
                continue
            if record.blocked_since is None or record.terminal:
                continue
            waited = (now - record.blocked_since).total_seconds()
            for action in queue.model.spec.job_state_time_limit_actions:
                if action.reason == blocker and waited >= action.max_time_seconds:
                    reason = (
                        f"{action.reason}: canceled after {action.max_time_seconds}s at the "
                        f"head of JobQueue {name} (jobStateTimeLimitActions)"
                    )
                    result.changes.add(key, record.cancel(reason, now))
                    break

    def _heads(self, decisions: Decisions) -> Iterator[tuple[str, JobKey, str]]:
        """(queue, job, reason) of the work at the head of its queue, and of work that can
        never be placed (in a queue's tail too, for queues with actions for it)."""
        for waiting in decisions.waiting:
            if waiting.position == 1 or waiting.reason in NEVER_PLACEABLE:
                yield waiting.item.queue, waiting.item.job, waiting.reason
        for name, tail in decisions.tails.items():
            queue = self.store.queues.get(name)
            if not tail.never or queue is None or queue.model is None:
                continue
            if not any(
                a.reason == MAX_RESOURCE for a in queue.model.spec.job_state_time_limit_actions
            ):
                continue
            for size in tail.never:
                for key in self.runq.jobs_of_size(name, size):
                    if key not in self.visited:
                        yield name, key, MAX_RESOURCE

    def resized(self, environment: str, result: ResizeResult, now: datetime) -> bool:
        """What came of a pool's resize: its error for the status, and shapes that cannot be
        had for a while. Returns whether a pass should plan around them."""
        env = self.store.envs.get(environment)
        if env is not None:
            env.provider_error = result.error
            for shape in result.unavailable:
                env.unavailable[shape] = now + UNAVAILABLE_FOR
        return bool(result.unavailable)

    # -- fair share (core/phases/shares.py) ----------------------------------------------------

    def restore_usage(self, queue: str, status: Mapping[str, Any]) -> None:
        self.fair.restore(queue, status)

    def waiting_reason(self, queue: str) -> str | None:
        """Why the queue's jobs behind its first `positions_shown` places waited in the last
        pass (None: the pass walked the whole queue)."""
        tail = self.tails.get(queue)
        return tail[0] if tail else None

    def shares(self, queue: str, policy: SchedulingPolicy) -> list[dict[str, Any]]:
        return self.fair.status(queue, policy)

    # -- environment statuses --------------------------------------------------------------

    def environment_status(self, env: EnvState, now: datetime, plan: CapacityPlan | None) -> None:
        name = env.obj["metadata"]["name"]
        self.environments[name] = write_environment_status(
            self.store, self.book, env, now, plan, self.last_plans.get(name)
        )
