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
