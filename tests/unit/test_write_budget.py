"""Events yield the write budget to pods and statuses: they wait while it is below half."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from kubatch.controller.writer import Writer
from kubatch.kube.client import TokenBucket


@pytest.mark.parametrize(
    ("taken", "waits"),
    [(0, False), (4, False), (6, True), (10, True)],
    ids=["full", "above_half", "below_half", "empty"],
)
def test_an_event_waits_while_the_budget_is_below_half(
    taken: int, waits: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    naps: list[float] = []
    sleep = asyncio.sleep

    async def nap(seconds: float, *args: Any) -> None:
        naps.append(seconds)
        await sleep(seconds, *args)

    async def scenario() -> float:
        bucket = TokenBucket(qps=2, burst=10)  # slow refill: a pause of the test changes nothing
        for _ in range(taken):
            await bucket.take()
        writer = Writer.__new__(Writer)
        writer.client = SimpleNamespace(bucket=bucket)  # type: ignore[assignment]
        monkeypatch.setattr(asyncio, "sleep", nap)
        await writer.spare_budget()
        return bucket.level()

    level = asyncio.run(scenario())
    assert level >= 5
    assert bool(naps) == waits
