"""Fair share's state between passes: each share's usage (decayed vCPU-seconds times its
weight), what each share runs now, and a fair-share queue's items in fair order, its CPU cap
(computeReservation) and the CPU its jobs hold (the rules are in core/scheduling/fairshare.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ...api import SchedulingPolicy
from ...api.common import JobStatus
from ..outbox.statuses import shares_status
from ..scheduling.fairshare import decayed, reservation_cap, weight_for
from ..scheduling.placement import WorkItem
from ..scheduling.runqueues import RunQueues
from ..state.store import Store


class Shares:
    def __init__(self, store: Store, runq: RunQueues) -> None:
        self.store = store
        self.runq = runq
        self.usage: dict[str, dict[str, float]] = {}
        """Per fair-share queue, each share's usage."""
        self.running: dict[str, dict[str, int]] = {}
        """Per fair-share queue, the CPU (millicpu) each share's jobs hold now."""
        self.time: datetime | None = None
        """When usage was last brought up to date."""

    def items(
        self,
        queue: str,
        policy: SchedulingPolicy,
        order: tuple[str, ...],
        env_max: Mapping[str, int],
    ) -> tuple[Iterator[WorkItem], int, int]:
        """A fair-share queue's items in fair order, its CPU cap (computeReservation) and
        the CPU its jobs hold."""
        fair = policy.spec.fairshare_policy
        running = self.running.get(queue, {})
        shares = self.runq.shares(queue) | {s for s, held in running.items() if held}
        weights = {share: weight_for(share, fair) for share in shares}
        usage = self.usage.get(queue, {})
        total = sum(env_max.get(e, 0) for e in order)
        cap = reservation_cap(total, fair.compute_reservation, len(shares))
        return self.runq.fair(queue, usage, weights), cap, sum(running.values())

    def update(self, now: datetime) -> None:
        """Fold what each share ran since the last pass into its usage."""
        seconds = (now - self.time).total_seconds() if self.time else 0.0
        self.time = now
        fair_queues = {
            name: policy
            for name, q in self.store.queues.items()
            if q.model is not None
            and (policy := self.store.policies.get(q.model.spec.scheduling_policy or ""))
        }
        if not fair_queues:
            return  # no fair-share queue: nothing to count, and no job to look at
        running: dict[str, dict[str, int]] = {}
        for key in self.store.in_flight:  # not the jobs that wait: a pass costs what runs
            record = self.store.jobs[key].record
            if record is None or record.resolved is None or not record.spec.share_identifier:
                continue
            in_flight = record.counts[JobStatus.STARTING] + record.counts[JobStatus.RUNNING]
            if in_flight:
                shares = running.setdefault(record.spec.job_queue, {})
                share = record.spec.share_identifier
                held = in_flight * record.resolved.resources.millicpu
                if record.multinode:  # its nodes may ask for different amounts
                    gang = record.resolved.gang
                    held = sum(
                        gang[c.index or 0].millicpu
                        for c in record.children
                        if c.status in (JobStatus.STARTING, JobStatus.RUNNING)
                    )
                shares[share] = shares.get(share, 0) + held
        for name, policy in fair_queues.items():
            fair = policy.spec.fairshare_policy
            usage = self.usage.setdefault(name, {})
            now_running = running.get(name, {})
            for share in set(usage) | set(now_running):
                usage[share] = decayed(
                    usage.get(share, 0.0),
                    now_running.get(share, 0) / 1000,
                    weight_for(share, fair),
                    seconds,
                    fair.share_decay_seconds,
                )
        self.running = running

    def restore(self, queue: str, status: Mapping[str, Any]) -> None:
        """Usage survives a restart through the queue's status."""
        if queue in self.usage:
            return
        for share in status.get("shares") or []:
            usage = self.usage.setdefault(queue, {})
            usage[share["shareIdentifier"]] = float(share.get("usage", 0.0))

    def status(self, queue: str, policy: SchedulingPolicy) -> list[dict[str, Any]]:
        usage = self.usage.get(queue, {})
        fair = policy.spec.fairshare_policy
        weights = {share: weight_for(share, fair) for share in usage}
        return shares_status(usage, self.running.get(queue, {}), weights)
