"""The benchmarks keep running (on a small size; their figures are not asserted)."""

from __future__ import annotations

from bench.lifecycle_array import run


def test_lifecycle_benchmark_runs_an_array_to_success() -> None:
    result = run(50)
    assert result["final_status"] == "SUCCEEDED"
    assert result["attempts"] == 55  # every tenth child failed once and was retried


def test_scheduler_benchmark_snapshot_schedules() -> None:
    from bench.scheduler_pass import measure, snapshot

    result = measure(snapshot(200, 1), repeat=1)
    assert result["placed"] == 200


def test_million_benchmark_holds_every_job_and_places_the_free_slots() -> None:
    from bench.million import run as million

    result = million(400, None, free_slots=32)
    assert (result["jobs"], result["queued_work"]) == (400, 400)
    assert result["placing_pass_cpu_ms"] > 0
    assert result["evaluation_steps"] == 1  # 400 jobs: within one step's budget


def test_restart_benchmark_adopts_the_running_and_creates_a_pod() -> None:
    from bench.restart import run as restart

    result = restart(300, 32)
    assert result["steps_to_first_pod"] >= 1
    assert result["leads_to_first_pod_cpu_s"] >= result["of_which_steps_cpu_s"] > 0


def test_operator_pass_benchmark_places_exactly_the_free_slots() -> None:
    from bench.scheduler_pass import engine_passes

    for multinode in (False, True):
        result = engine_passes(300, free_slots=32, multinode=multinode)
        assert (result["runnable_jobs"], result["placed"]) == (300, 32), result
        assert result["placing_pass_cpu_ms"] > 0
