"""Consumable resources (AWS Batch's): what each has in all, what STARTING and RUNNING jobs
hold of it, what NON_REPLENISHABLE ones have used up, what is left for the scheduler, and
the statuses that say so.

A job holds its units while one of its children (each array child; a multi-node job once)
is STARTING or RUNNING. A NON_REPLENISHABLE resource's units are used up by every attempt
that ends; how many were used up is written in the resource's status and read back after a
restart (an attempt that ended in the moment before a crash, before its status was written,
is not counted)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ...api import CONSUMABLERESOURCES, ConsumableResource, ConsumableResourceType, parse
from ...api.common import IN_FLIGHT, JobStatus, Obj
from ...api.consumableresource import ConsumableResourceStatus
from ..jobs.record import JobRecord
from ..outbox.statuses import StatusBook
from ..state.objects import ConsumableState, JobKey
from ..state.store import Store


def _in_flight(record: JobRecord) -> int:
    """How many of the job's children hold their units now."""
    if record.multinode:
        return 1 if record.status in IN_FLIGHT else 0
    return record.counts[JobStatus.STARTING] + record.counts[JobStatus.RUNNING]


def ended_attempts(record: JobRecord) -> int:
    """How many of the job's attempts have ended (each used its units up, if they do)."""
    return record.attempt_count - _in_flight(record)


class Consumables:
    def __init__(self, store: Store, book: StatusBook) -> None:
        self.store = store
        self.book = book
        self.consumed: Counter[str] = Counter()
        """NON_REPLENISHABLE units used up, per resource."""
        self.counted: dict[JobKey, int] = {}
        """Per job needing NON_REPLENISHABLE units: the ended attempts counted in `consumed`."""
        self.started = False

    # -- intake ------------------------------------------------------------------------------

    def upsert(self, obj: Obj, version: int) -> None:
        name = obj["metadata"]["name"]
        self.book.observed(CONSUMABLERESOURCES, obj, version)
        try:
            model = parse(obj)
        except ValueError:
            return  # the API server refuses what the model refuses: nothing to count
        assert isinstance(model, ConsumableResource)
        if name not in self.store.consumables:
            # What was used up before (this operator, or the one before it, wrote it).
            self.consumed[name] = ConsumableResourceStatus.of(obj).consumed_quantity
        replenishable = model.spec.resource_type == ConsumableResourceType.REPLENISHABLE
        state = ConsumableState(
            obj=obj, total=model.spec.total_quantity, replenishable=replenishable
        )
        self.store.put_consumable(name, state)

    def delete(self, name: str) -> None:
        self.store.remove_consumable(name)
        self.consumed.pop(name, None)
        self.book.forget(CONSUMABLERESOURCES, None, name)

    # -- jobs --------------------------------------------------------------------------------

    def start(self) -> None:
        """After the initial listing: every attempt that ended before is counted already (in
        the statuses read back)."""
        for key, state in self.store.jobs.items():
            if state.record is not None and self._uses_up(state.record):
                self.counted[key] = ended_attempts(state.record)
        self.started = True

    def touched(self, key: JobKey, record: JobRecord) -> None:
        """A job changed: the attempts that ended since use their units up."""
        if not self.started or not self._uses_up(record):
            return
        ended = ended_attempts(record)
        new = ended - self.counted.get(key, 0)
        if new <= 0:
            return
        self.counted[key] = ended
        assert record.resolved is not None
        for name, units in record.resolved.consumables:
            found = self.store.consumables.get(name)
            if found is not None and not found.replenishable:
                self.consumed[name] += units * new

    def forget(self, key: JobKey) -> None:
        self.counted.pop(key, None)

    def _uses_up(self, record: JobRecord) -> bool:
        if record.resolved is None:
            return False
        for name, _ in record.resolved.consumables:
            found = self.store.consumables.get(name)
            if found is not None and not found.replenishable:
                return True
        return False

    # -- a pass ------------------------------------------------------------------------------

    def held(self) -> Counter[str]:
        """Units held by STARTING and RUNNING work, per resource (a walk of the jobs in
        flight, so none where no resource is defined)."""
        held: Counter[str] = Counter()
        if not self.store.consumables:
            return held
        for key in self.store.in_flight:
            record = self.store.record(key)
            if record is None or record.resolved is None:
                continue
            busy = _in_flight(record)
            for name, units in record.resolved.consumables:
                held[name] += units * busy
        return held

    def snapshot(self, held: Counter[str] | None = None) -> Mapping[str, tuple[int, int]]:
        """Each resource's (units left now, units in all), for a scheduling pass."""
        held = self.held() if held is None else held
        found: dict[str, tuple[int, int]] = {}
        for name, state in sorted(self.store.consumables.items()):
            total = max(state.total - self.consumed[name], 0)
            found[name] = (max(total - held[name], 0), total)
        return found

    def publish(self) -> None:
        """Each resource's status, as the pass left it."""
        held = self.held()
        for name, (left, _) in self.snapshot(held).items():
            state = self.store.consumables[name]
            status = {
                "inUseQuantity": held[name],
                "consumedQuantity": self.consumed[name],
                "availableQuantity": left,
                "observedGeneration": state.obj["metadata"].get("generation"),
            }
            self.book.want(CONSUMABLERESOURCES, state.obj, status)
