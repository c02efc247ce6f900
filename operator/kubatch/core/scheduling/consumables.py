"""Consumable resources in a scheduling pass (pure): the units left of each, what a work item
may take of them, and why it waits when it may not."""

from __future__ import annotations

from collections.abc import Mapping

from .snapshot import WorkItem


class Consumables:
    """The units of consumable resources left in a pass: each job placed takes its own."""

    def __init__(self, left: dict[str, int], known: Mapping[str, tuple[int, int]]) -> None:
        self.left = left
        self.known = known

    def never(self, item: WorkItem) -> str | None:
        """Why the item's jobs can never have the units they need, or None."""
        for name, units in item.consumables:
            found = self.known.get(name)
            if found is None:
                return f"consumable resource {name} does not exist"
            if units > found[1]:
                return f"needs {units} of consumable resource {name}, which has {found[1]} in all"
        return None

    def allowance(self, item: WorkItem) -> int:
        """How many of the item's jobs the units left would let run now."""
        found = item.count
        for name, units in item.consumables:
            found = min(found, self.left.get(name, 0) // units)
        return found

    def take(self, item: WorkItem, jobs: int) -> None:
        for name, units in item.consumables:
            self.left[name] -= units * jobs

    def short(self, item: WorkItem) -> str:
        """Which resource the item waits for, in words."""
        for name, units in item.consumables:
            if self.left.get(name, 0) < units:
                left, total = self.left.get(name, 0), self.known[name][1]
                return f"needs {units} of consumable resource {name}: {left} of {total} left"
        return "consumable resources held by other jobs"
