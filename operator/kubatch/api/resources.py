"""Resource amounts: AWS-style numbers or Kubernetes quantities, normalised one way.

A resourceRequirements value may be written either way:

- VCPU: a number of vCPUs as AWS writes it ("2", "0.25", 2) or Kubernetes millicores ("500m");
- MEMORY: a number of MiB as AWS writes it ("2048", 2048) or a Kubernetes quantity with a unit
  ("2Gi", "512Mi", "1G");
- GPU: a whole number of GPUs ("1", 1).

Everything is normalised to `Resources`: millicores, bytes and whole GPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from .common import ApiModel, ListMapKey, Rule

MIB = 1024 * 1024

VCPU_PATTERN = r"^([0-9]+(\.[0-9]{1,3})?|[0-9]+m)$"
MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
GPU_PATTERN = r"^[0-9]+$"
# All zeros, whatever the unit: not a usable amount.
ZERO_PATTERN = r"^[0.]+[A-Za-z]*$"

_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


# Bounds that keep the API server's CEL cost estimate within budget: it sizes an unbounded
# string (and every int-or-string, whatever its maxLength) at the whole request size.
AMOUNT_MAX_LENGTH = 32


def _quantity(value: object) -> int | str:
    """An amount as Kubernetes declares quantities: an integer or a string (int-or-string)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("int_or_string", "must be an integer or a string")
    if isinstance(value, int) and value < 0:
        raise PydanticCustomError("quantity", "must be greater than or equal to 0")
    if isinstance(value, str):
        if len(value) > AMOUNT_MAX_LENGTH:
            raise PydanticCustomError(
                "quantity", "must be at most {max} characters", {"max": AMOUNT_MAX_LENGTH}
            )
        if not re.match(MEMORY_PATTERN, value):
            raise PydanticCustomError(
                "quantity",
                'must be a number of MiB such as 16384, or a quantity such as "16Gi"',
            )
    return value


MemoryQuantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "minimum": 0,
            "maxLength": AMOUNT_MAX_LENGTH,
            "pattern": MEMORY_PATTERN,
        }
    ),
]
"""MiB (16384) or a quantity with a unit ("16Gi"). Single-field rules, so they are OpenAPI
keywords (pattern and maxLength apply to strings, minimum to integers), not CEL."""


class ResourceKind(StrEnum):
    VCPU = "VCPU"
    MEMORY = "MEMORY"
    GPU = "GPU"


def parse_vcpu(value: int | str) -> int:
    """vCPUs ("2", "0.25") or millicores ("500m") -> millicores."""
    text = str(value)
    if not re.match(VCPU_PATTERN, text):
        raise ValueError(f"invalid vCPU amount {text!r}")
    if text.endswith("m"):
        return int(text[:-1])
    millis = Decimal(text) * 1000
    if millis != millis.to_integral_value():
        raise ValueError(f"vCPU amount {text!r} is finer than 1m")
    return int(millis)


def parse_memory(value: int | str) -> int:
    """MiB ("2048") or a quantity with a unit ("2Gi") -> bytes."""
    text = str(value)
    match = re.match(MEMORY_PATTERN, text)
    if not match:
        raise ValueError(f"invalid memory amount {text!r}")
    unit = match.group(2) or ""
    number = Decimal(text[: len(text) - len(unit)])
    amount = number * (_UNITS[unit] if unit else MIB)
    return int(amount.to_integral_value(rounding="ROUND_CEILING"))


def parse_quantity(value: int | str) -> Decimal:
    """A Kubernetes quantity as Kubernetes reads it: a bare number is itself ("1024" bytes,
    "2" cores), "m" is thousandths, "Ki".."Ei" and "k".."E" are multiples."""
    text = str(value).strip()
    match = re.match(r"^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$", text)
    if not match:
        raise ValueError(f"invalid quantity {text!r}")
    number, unit = Decimal(match.group(1)), match.group(2) or ""
    if unit == "m":
        return number / 1000
    return number * _UNITS[unit]


def quantity_millis(value: int | str) -> int:
    """A CPU quantity in millicores."""
    return int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def quantity_int(value: int | str) -> int:
    """A memory quantity in bytes, or a count."""
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


def parse_gpu(value: int | str) -> int:
    text = str(value)
    if not re.match(GPU_PATTERN, text):
        raise ValueError(f"invalid GPU count {text!r}")
    return int(text)


def format_cpu(millicpu: int) -> str:
    """Millicores as a Kubernetes quantity: "2" for whole cores, else "500m"."""
    return str(millicpu // 1000) if millicpu % 1000 == 0 else f"{millicpu}m"


def format_memory(memory: int) -> str:
    """Bytes as a Kubernetes quantity with a unit: Mi, Ki or k when one divides evenly.

    A bare number would be bytes to Kubernetes but MiB in our API, so a unit is always
    written unless none divides (then Kubernetes' bare bytes, for pod manifests only).
    """
    for unit, size in (("Mi", MIB), ("Ki", 1024), ("k", 1000)):
        if memory % size == 0:
            return f"{memory // size}{unit}"
    return str(memory)


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of compute: millicores, bytes of memory, whole GPUs."""

    millicpu: int = 0
    memory: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.millicpu + other.millicpu, self.memory + other.memory, self.gpus + other.gpus
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.millicpu - other.millicpu, self.memory - other.memory, self.gpus - other.gpus
        )

    def fits_in(self, other: Resources) -> bool:
        return (
            self.millicpu <= other.millicpu
            and self.memory <= other.memory
            and self.gpus <= other.gpus
        )

    @property
    def vcpus(self) -> float:
        return self.millicpu / 1000


def _matches(pattern: str, value: str) -> bool:
    return re.match(pattern, value) is not None


class ResourceRequirement(ApiModel):
    """One resource a container needs, as in AWS Batch's resourceRequirements."""

    type: ResourceKind
    """VCPU, MEMORY or GPU."""
    value: str = Field(min_length=1, max_length=AMOUNT_MAX_LENGTH)
    """A string, as in AWS Batch. VCPU: vCPUs ("2", "0.25") or millicores ("500m"); MEMORY: MiB
    ("2048") or a quantity ("2Gi"); GPU: a whole number ("1")."""

    __rules__ = (
        Rule(
            'VCPU value must be a number of vCPUs such as 2 or "0.25", or millicores such '
            'as "500m"',
            lambda r: r.type != ResourceKind.VCPU or _matches(VCPU_PATTERN, r.value),
            "self.type != 'VCPU' || self.value.matches(r'" + VCPU_PATTERN + "')",
        ),
        Rule(
            'MEMORY value must be a number of MiB such as 2048, or a quantity such as "2Gi"',
            lambda r: r.type != ResourceKind.MEMORY or _matches(MEMORY_PATTERN, r.value),
            "self.type != 'MEMORY' || self.value.matches(r'" + MEMORY_PATTERN + "')",
        ),
        Rule(
            "GPU value must be a whole number of GPUs",
            lambda r: r.type != ResourceKind.GPU or _matches(GPU_PATTERN, r.value),
            "self.type != 'GPU' || self.value.matches(r'" + GPU_PATTERN + "')",
        ),
        Rule(
            "VCPU and MEMORY values must be greater than zero",
            lambda r: r.type == ResourceKind.GPU or not _matches(ZERO_PATTERN, r.value),
            "self.type == 'GPU' || !self.value.matches(r'" + ZERO_PATTERN + "')",
        ),
    )


ResourceList = Annotated[list[ResourceRequirement], Field(max_length=3), ListMapKey("type")]


LEGACY_RULES = (
    Rule(
        "give VCPU either in vcpus or in resourceRequirements, not both",
        lambda c: (
            c.vcpus is None or all(r.type != ResourceKind.VCPU for r in c.resource_requirements)
        ),
        "!has(self.vcpus) || !has(self.resourceRequirements) || "
        "!self.resourceRequirements.exists(r, r.type == 'VCPU')",
    ),
    Rule(
        "give MEMORY either in memory or in resourceRequirements, not both",
        lambda c: (
            c.memory is None or all(r.type != ResourceKind.MEMORY for r in c.resource_requirements)
        ),
        "!has(self.memory) || !has(self.resourceRequirements) || "
        "!self.resourceRequirements.exists(r, r.type == 'MEMORY')",
    ),
)
"""AWS's older vcpus and memory fields say what resourceRequirements says: one of the two."""


def with_legacy(
    requirements: list[ResourceRequirement], vcpus: int | None, memory: int | None
) -> list[ResourceRequirement]:
    """Requirements with AWS's older vcpus (whole vCPUs) and memory (MiB) fields among them."""
    found = {r.type: r for r in requirements}
    if vcpus is not None:
        found[ResourceKind.VCPU] = ResourceRequirement(type=ResourceKind.VCPU, value=str(vcpus))
    if memory is not None:
        found[ResourceKind.MEMORY] = ResourceRequirement(
            type=ResourceKind.MEMORY, value=str(memory)
        )
    return [found[k] for k in ResourceKind if k in found]


def merge_requirements(
    base: list[ResourceRequirement], override: list[ResourceRequirement] | None
) -> list[ResourceRequirement]:
    """A definition's requirements with a job's overrides applied, type by type."""
    if not override:
        return list(base)
    merged = {r.type: r for r in base}
    merged.update({r.type: r for r in override})
    return [merged[k] for k in ResourceKind if k in merged]


def to_resources(requirements: list[ResourceRequirement]) -> Resources:
    """Normalise a validated requirement list; missing types count as zero."""
    millicpu = memory = gpus = 0
    for r in requirements:
        if r.type == ResourceKind.VCPU:
            millicpu = parse_vcpu(r.value)
        elif r.type == ResourceKind.MEMORY:
            memory = parse_memory(r.value)
        else:
            gpus = parse_gpu(r.value)
    return Resources(millicpu, memory, gpus)
