"""The operator benchmark keeps running end to end (on a few jobs; figures not asserted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.operator_throughput import run


def test_operator_benchmark_runs(tmp_path: Path) -> None:
    result = asyncio.run(run(40, tmp_path))
    assert result["jobs"] == 40
    assert result["dispatch_jobs_per_second"] > 0
    assert result["operator_cpu_seconds_per_job"] >= 0
