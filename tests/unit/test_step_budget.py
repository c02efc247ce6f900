"""A step evaluates at most `evaluations_per_step` jobs, the earliest submitted first, and
asks for the next step at once while jobs are left: a burst of submissions spreads over
short steps instead of one long one, and no job is skipped or taken twice."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from kubatch.api import JobStatus
from kubatch.core.engine import Engine, EngineConfig
from kubatch.core.outbox.effects import Outcome, WriteStatus
from tests.support.engine import served
from tests.support.manifests import batch_job, compute_environment, job_definition, job_queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VERSIONS = itertools.count(10_000)


def _burst(budget: int, jobs: int) -> Engine:
    engine = Engine(EngineConfig(evaluations_per_step=budget))
    engine.upsert_environment(served(compute_environment()), T0)
    engine.upsert_queue(served(job_queue()), T0)
    engine.upsert_definition(served(job_definition()), T0)
    engine.start(T0)
    engine.step(T0)
    for i in range(jobs):  # named against their order: the budget goes by submission time
        engine.upsert_job(served(batch_job(f"j{jobs - i:03d}"), T0 + timedelta(seconds=i)), T0)
    return engine


def _runnable(engine: Engine) -> set[str]:
    return {
        key[1]
        for key, state in engine.store.jobs.items()
        if state.record is not None and state.record.status == JobStatus.RUNNABLE
    }


@pytest.mark.parametrize(("budget", "jobs", "steps"), [(3, 10, 4), (5, 10, 2), (50, 10, 1)])
def test_a_burst_is_evaluated_over_steps_of_at_most_the_budget_oldest_first(
    budget: int, jobs: int, steps: int
) -> None:
    engine = _burst(budget, jobs)
    now = T0 + timedelta(seconds=1)
    seen: list[set[str]] = []
    for _ in range(steps):
        wake = engine.next_wake()
        assert wake is not None
        assert wake <= now, "jobs are left: the next step is due at once"
        before = _runnable(engine)
        engine.step(now)
        seen.append(_runnable(engine) - before)
    oldest_first = [f"j{jobs - i:03d}" for i in range(jobs)]
    assert [len(s) for s in seen] == [min(budget, jobs - budget * k) for k in range(steps)]
    assert [sorted(s, reverse=True) for s in seen] == [
        oldest_first[k * budget : (k + 1) * budget] for k in range(steps)
    ]
    last = engine.next_wake()
    assert last is None or last > now, "nothing is left to evaluate"


def test_a_step_writes_at_most_the_budget_of_job_statuses_and_the_pass_catches_up() -> None:
    """Statuses and the run queues follow the budget too; in the end every job's status
    says RUNNABLE and the run queues hold every RUNNABLE job (the engine's invariants)."""
    budget, jobs = 3, 10
    engine = _burst(budget, jobs)
    now = T0 + timedelta(seconds=1)
    for _ in range(20):
        effects = engine.step(now)
        statuses = [e for e in effects if isinstance(e, WriteStatus) and e.plural == "batchjobs"]
        assert len(statuses) <= budget
        for effect in effects:
            engine.report(Outcome(effect=effect, version=next(VERSIONS)))
        wake = engine.next_wake()
        if not engine.dispatcher.behind and (wake is None or wake > now):
            break
        now += timedelta(seconds=1)
    written = {
        name: (engine.book.current("batchjobs", "default", name) or {}).get("status")
        for name in (f"j{i:03d}" for i in range(1, jobs + 1))
    }
    assert set(written.values()) == {"RUNNABLE"}, written
    assert engine.check() == []
    assert len(engine.dispatcher.runq) == jobs
