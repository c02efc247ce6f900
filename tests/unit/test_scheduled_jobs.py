"""Scheduled jobs through the operator's world, with an injected clock: runs fire on time (in
their time zone), concurrency policies, suspend, missed deadlines, history limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubatch.api import JobStatus
from kubatch.core.engine import Engine, EngineConfig
from kubatch.core.outbox.effects import CreateObject, DeleteObject, PatchObject
from tests.support.manifests import compute_environment, job_definition, job_queue
from tests.unit.test_engine import server

T0 = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)  # a Monday, 30 s after the minute


def scheduled(**spec: Any) -> dict[str, Any]:
    body = {
        "jobTemplate": {
            "metadata": {"labels": {"team": "x"}},
            "spec": {"jobQueue": "q1", "jobDefinition": "def1"},
        },
        **spec,
    }
    return {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": body,
    }


class Clock:
    def __init__(self, **spec: Any) -> None:
        self.world = Engine(EngineConfig())
        self.world.upsert_environment(server(compute_environment()), T0)
        self.world.upsert_queue(server(job_queue()), T0)
        self.world.upsert_definition(server(job_definition()), T0)
        obj = server(scheduled(**spec))
        obj["metadata"]["creationTimestamp"] = T0.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.world.upsert_cron(obj, T0)
        self.world.start(T0)
        self.writes: list[Any] = []

    def at(self, seconds: float) -> list[str]:
        """Step at T0 + seconds; the jobs it creates come back from the 'API'; their names."""
        writes = self.world.step(T0 + timedelta(seconds=seconds))
        self.writes += writes
        made = []
        for write in writes:
            if isinstance(write, CreateObject) and write.plural == "batchjobs":
                self.world.upsert_job(server(write.body), T0 + timedelta(seconds=seconds))
                made.append(write.body["metadata"]["name"])
        self.world.step(T0 + timedelta(seconds=seconds))
        return made

    def finish(self, name: str) -> None:
        record = self.world.store.record(("default", name))
        assert record is not None
        record.cancel("done", T0)
        assert record.status == JobStatus.FAILED

    def status(self) -> dict[str, Any]:
        found = self.world.last_status("scheduledjobs", "default", "nightly")
        assert found is not None
        return found


def test_a_cron_schedule_fires_every_time_it_is_due_and_not_before() -> None:
    clock = Clock(schedule="* * * * *")
    assert clock.at(0) == []
    assert clock.at(29) == []
    first = clock.at(30)  # 12:01:00
    assert first == [f"nightly-{int((T0 + timedelta(seconds=30)).timestamp()) // 60}"]
    assert clock.at(60) == []
    assert len(clock.at(90)) == 1  # 12:02:00
    body = next(
        w.body for w in clock.writes if isinstance(w, CreateObject) and w.plural == "batchjobs"
    )
    assert body["metadata"]["labels"] == {"team": "x", "kubatch.io/scheduled-job": "nightly"}
    assert body["metadata"]["ownerReferences"][0]["kind"] == "ScheduledJob"
    assert body["spec"]["jobQueue"] == "q1"


def test_the_schedule_is_read_in_its_time_zone() -> None:
    clock = Clock(schedule="0 14 * * *", timeZone="Europe/Paris")  # 13:00 UTC in winter
    assert clock.at(3600 - 31) == []
    assert len(clock.at(3600 - 30)) == 1
    assert clock.status()["nextScheduleTime"] == "2026-01-06T13:00:00Z"


def test_a_fixed_time_fires_once() -> None:
    clock = Clock(at=(T0 + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert clock.at(9) == []
    assert len(clock.at(10)) == 1
    assert clock.at(3600) == []
    assert "nextScheduleTime" not in clock.status()


def test_forbid_waits_for_the_previous_run() -> None:
    clock = Clock(schedule="* * * * *", concurrencyPolicy="Forbid")
    (first,) = clock.at(30)
    assert clock.at(90) == [], "the previous run has not finished"
    assert clock.status()["active"] == [first]
    clock.finish(first)
    assert len(clock.at(91)) == 1


def test_replace_terminates_the_previous_run() -> None:
    clock = Clock(schedule="* * * * *", concurrencyPolicy="Replace")
    (first,) = clock.at(30)
    assert len(clock.at(90)) == 1
    patches = [w for w in clock.writes if isinstance(w, PatchObject) and w.plural == "batchjobs"]
    assert [p.name for p in patches] == [first]
    assert patches[0].patch["spec"]["terminate"]["reason"].startswith("replaced by the run of ")


def test_allow_runs_side_by_side() -> None:
    clock = Clock(schedule="* * * * *")
    clock.at(30)
    clock.at(90)
    assert len(clock.status()["active"]) == 2


def test_suspend_stops_the_runs() -> None:
    clock = Clock(schedule="* * * * *", suspend=True)
    assert clock.at(30) == []
    assert clock.at(600) == []


def test_a_run_missed_by_more_than_the_deadline_is_skipped() -> None:
    clock = Clock(schedule="0 * * * *", startingDeadlineSeconds=60)
    assert clock.at(3600 * 2 + 90) == [], "at 14:02, the 14:00 run is missed by 120 s > 60 s"
    assert clock.at(3600 * 2 + 100) == [], "and it is not tried again"
    assert len(clock.at(3600 * 3 - 30 + 10)) == 1, "15:00 is caught within the deadline"


@pytest.mark.parametrize(("succeeded", "failed"), [(2, 1)])
def test_history_limits_delete_old_runs(succeeded: int, failed: int) -> None:
    clock = Clock(
        schedule="* * * * *", successfulJobsHistoryLimit=succeeded, failedJobsHistoryLimit=failed
    )
    names = []
    for minute in range(4):
        (name,) = clock.at(30 + 60 * minute)
        names.append(name)
        clock.finish(name)
    clock.at(30 + 60 * 4 - 1)
    deleted = sorted(
        w.name for w in clock.writes if isinstance(w, DeleteObject) and w.plural == "batchjobs"
    )
    assert deleted == sorted(names[: 4 - failed])


def test_an_invalid_schedule_is_reported_and_never_runs() -> None:
    clock = Clock(schedule="every day at noon")
    assert clock.at(3600) == []
    status = clock.status()
    assert status["status"] == "INVALID"
    assert "schedule must be a cron expression" in status["statusReason"]
