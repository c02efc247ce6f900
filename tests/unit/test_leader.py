"""A leader writes only while its last lease renewal is younger than the renew deadline, by
the monotonic clock: one paused past its deadline writes nothing when it wakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubatch.controller.leader import LeaderElector
from kubatch.controller.writer import Writer
from kubatch.core.outbox.effects import CreateObject, Outcome


class FakeLeases:
    """Just enough of the client for the elector (and a record of other writes)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.created: list[dict[str, Any]] = []

    async def get(self, api: str, plural: str, name: str, namespace: str | None = None) -> Any:
        from kubatch.kube.errors import ApiError

        if self.lease is None:
            raise ApiError(404, "NotFound", "no lease")
        return self.lease

    async def create(
        self, api: str, plural: str, body: dict[str, Any], namespace: Any = None
    ) -> Any:
        if plural == "leases":
            self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        else:
            self.created.append(body)
        return body

    async def patch(self, *args: Any, **kwargs: Any) -> Any:
        assert self.lease is not None
        self.lease["spec"].update(args[3]["spec"])
        return self.lease


@pytest.mark.parametrize(
    ("paused_seconds", "writes"),
    [(0.0, True), (9.0, True), (10.5, False), (25.0, False)],
    ids=["awake", "within_the_deadline", "just_past_it", "long_pause"],
)
def test_a_leader_writes_only_within_its_renew_deadline(
    monkeypatch: pytest.MonkeyPatch, paused_seconds: float, writes: bool
) -> None:
    clock = {"now": 1000.0}
    monkeypatch.setattr("kubatch.controller.leader.time.monotonic", lambda: clock["now"])
    client = FakeLeases()
    elector = LeaderElector(client, "ns", "me", lease_seconds=15)  # type: ignore[arg-type]
    reports: list[Outcome] = []

    async def scenario() -> None:
        await elector.acquire()
        writer = Writer(client, reports.append, resize=None, may_write=elector.may_write)  # type: ignore[arg-type]
        clock["now"] += paused_seconds  # the process was stopped, then continued
        body = {"metadata": {"name": "p"}}
        await writer.apply(
            [CreateObject(api_version="v1", plural="pods", namespace="ns", body=body)]
        )

    asyncio.run(scenario())
    assert elector.renew_deadline == 10
    assert bool(client.created) is writes
    (outcome,) = reports
    assert outcome.ok is writes
