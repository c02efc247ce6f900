"""Resource amounts written the AWS way or the Kubernetes way normalise to the same thing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubatch.api.resources import (
    MIB,
    ResourceKind,
    ResourceRequirement,
    Resources,
    format_cpu,
    format_memory,
    merge_requirements,
    parse_gpu,
    parse_memory,
    parse_vcpu,
    to_resources,
)


@pytest.mark.parametrize(
    ("written", "millicpu"),
    [("2", 2000), (2, 2000), ("0.25", 250), ("500m", 500), ("1.5", 1500), ("16", 16000)],
)
def test_vcpu_aws_numbers_and_millicores(written: int | str, millicpu: int) -> None:
    assert parse_vcpu(written) == millicpu


@pytest.mark.parametrize(
    ("written", "memory"),
    [
        ("2048", 2048 * MIB),
        (2048, 2048 * MIB),
        ("2Gi", 2 * 1024 * MIB),
        ("512Mi", 512 * MIB),
        ("1G", 10**9),
        ("1.5Gi", 1536 * MIB),
        ("0.5", MIB // 2),
    ],
)
def test_memory_mib_numbers_and_quantities(written: int | str, memory: int) -> None:
    assert parse_memory(written) == memory


@pytest.mark.parametrize("bad", ["two", "1.5m", "-1", "1e3"])
def test_vcpu_refuses_what_is_not_an_amount(bad: str) -> None:
    with pytest.raises(ValueError, match="vCPU"):
        parse_vcpu(bad)


@pytest.mark.parametrize("bad", ["0.5", "1Gi", "x"])
def test_gpu_is_a_whole_number(bad: str) -> None:
    with pytest.raises(ValueError, match="GPU"):
        parse_gpu(bad)


@pytest.mark.parametrize(
    ("millicpu", "text"), [(2000, "2"), (500, "500m"), (1500, "1500m"), (0, "0")]
)
def test_format_cpu(millicpu: int, text: str) -> None:
    assert format_cpu(millicpu) == text


@given(st.integers(min_value=1, max_value=10**6))
def test_cpu_round_trips(millicpu: int) -> None:
    assert parse_vcpu(format_cpu(millicpu)) == millicpu


@given(st.integers(min_value=1, max_value=2**30), st.sampled_from([1000, 1024, MIB]))
def test_memory_round_trips_with_a_unit(count: int, unit: int) -> None:
    memory = count * unit
    assert parse_memory(format_memory(memory)) == memory


def _req(kind: str, value: int | str) -> ResourceRequirement:
    return ResourceRequirement(type=ResourceKind(kind), value=value)


def test_overrides_replace_by_type_and_keep_the_rest() -> None:
    base = [_req("VCPU", "1"), _req("MEMORY", "2048")]
    merged = merge_requirements(base, [_req("MEMORY", "4Gi"), _req("GPU", "1")])
    assert to_resources(merged) == Resources(millicpu=1000, memory=4096 * MIB, gpus=1)


def test_fits_in_compares_every_dimension() -> None:
    node = Resources(4000, 8192 * MIB, 0)
    assert Resources(4000, 8192 * MIB, 0).fits_in(node)
    assert not Resources(100, MIB, 1).fits_in(node)
    assert not Resources(4001, MIB, 0).fits_in(node)
