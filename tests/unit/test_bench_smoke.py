"""The benchmarks keep running (on a small size; their figures are not asserted)."""

from __future__ import annotations

from bench.lifecycle_array import run


def test_lifecycle_benchmark_runs_an_array_to_success() -> None:
    result = run(50)
    assert result["final_status"] == "SUCCEEDED"
    assert result["attempts"] == 55  # every tenth child failed once and was retried
