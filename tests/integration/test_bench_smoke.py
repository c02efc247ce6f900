"""The benchmarks keep running end to end (on a few jobs; figures not asserted), the
throughput benchmark on both tiers: the real one with the Job controller beside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bench import console_pages, scale
from bench.operator_throughput import run

from kubatch.sim.controlplane import assets_from_environment


@pytest.mark.parametrize("tier", ["emulator", "real"])
def test_operator_benchmark_runs(tmp_path: Path, tier: str) -> None:
    if tier == "real" and assets_from_environment() is None:
        pytest.skip("no control plane binaries (KUBEBUILDER_ASSETS)")
    result = asyncio.run(run(40, tmp_path, tier))
    assert result["jobs"] == 40
    assert result["dispatch_jobs_per_second"] > 0
    assert 0 < result["operator_cpu_seconds_per_job"] < 1
    assert result["api_calls_per_job"]["POST pods"] >= 1.0
    assert result["at_controller_qps_submit_to_pod_per_second"] > 0
    if tier == "real":
        assert result["job_controller_pods_per_second"] > 0


def test_scale_benchmark_runs(tmp_path: Path) -> None:
    result = asyncio.run(scale.run(1000, tmp_path))
    assert (result["jobs_and_children"], result["objects"], result["arrays"]) == (1000, 901, 1)
    assert result["queue_to_done_per_second"] > 0
    assert result["longest_scheduling_step_seconds"] > 0


def test_console_benchmark_runs(tmp_path: Path) -> None:
    result = asyncio.run(console_pages.run(200, tmp_path))
    assert (result["jobs"], result["arrays"]) == (200, 20)
    assert set(result["pages"]) >= {"dashboard", "jobs_first_page", "job_detail", "bad_query"}
    assert all(p["median_ms"] > 0 for p in result["pages"].values())
    assert result["console_rss_mib"] > 0


def test_node_latency_benchmark_runs() -> None:
    """On a real node of its own (skipped, with the reason, where none can run)."""
    from bench import node_latency

    from tests.support.cluster import _check_real_node

    _check_real_node()
    result = node_latency.run(2, 10.0)
    for method in ("plain_pods", "job_controller", "kubatch"):
        assert result[method]["started"] == 2, result
        assert 0 < result[method]["p50_s"] <= result[method]["p99_s"], result


def test_a_burst_of_submissions_reaches_a_server_that_sheds_load_without_an_error(
    tmp_path: Path,
) -> None:
    """The server answers 429 to writes beyond its limit; the CLI's client and the AWS API
    wait them out: every job is submitted, no caller sees an error."""
    if assets_from_environment() is None:
        pytest.skip("no control plane binaries (KUBEBUILDER_ASSETS)")
    from bench import submit_burst

    result = submit_burst.run(200, tmp_path)
    for path in ("cli", "aws_api"):
        assert (result[path]["submitted"], result[path]["errors_seen_by_caller"]) == (200, 0), (
            result
        )
    assert result["cli"]["throttled_by_server"] + result["aws_api"]["throttled_by_server"] > 0, (
        "the server shed no load: the case shows nothing"
    )
    assert result["cli_array_of_10000"] == {"exit_code": 0, "objects_created": 1}
