"""A built-in catalog of common instance shapes, and how a compute environment's
instanceTypes resolve against it.

Prices are approximate on-demand USD per hour, used only to rank shapes (BEST_FIT picks the
cheapest shape that fits). `spot_depth` is a fixed preference standing in for the depth of a
spot capacity pool (larger, more common general-purpose shapes first), used by the SPOT_*
allocation strategies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from ...api.computeenvironment import CustomInstanceType
from ...api.resources import MIB, Resources, parse_memory

GIB = 1024 * MIB
# Kubelet and system daemons take a share of every node's memory; jobs get the rest.
SYSTEM_MEMORY_FRACTION = 0.06
PODS_PER_NODE = 110


@dataclass(frozen=True, kw_only=True)
class Shape:
    name: str
    vcpus: int
    memory: int
    """Bytes."""
    gpus: int = 0
    price: float = 0.0
    spot_depth: int = 1

    @property
    def family(self) -> str:
        return self.name.partition(".")[0]

    @cached_property
    def allocatable(self) -> Resources:
        """What a node of this shape offers to pods (its capacity less the system share)."""
        usable = int(self.memory * (1 - SYSTEM_MEMORY_FRACTION)) // MIB * MIB
        return Resources(self.vcpus * 1000, usable, self.gpus)


def _family(
    family: str,
    sizes: Sequence[tuple[str, int, float, int, float]],
    spot_depth: int,
) -> list[Shape]:
    return [
        Shape(
            name=f"{family}.{size}",
            vcpus=vcpus,
            memory=int(memory_gib * GIB),
            gpus=gpus,
            price=price,
            spot_depth=spot_depth,
        )
        for size, vcpus, memory_gib, gpus, price in sizes
    ]


_GENERAL = [
    ("large", 2, 8, 0, 0.096), ("xlarge", 4, 16, 0, 0.192), ("2xlarge", 8, 32, 0, 0.384),
    ("4xlarge", 16, 64, 0, 0.768), ("8xlarge", 32, 128, 0, 1.536), ("12xlarge", 48, 192, 0, 2.304),
    ("16xlarge", 64, 256, 0, 3.072), ("24xlarge", 96, 384, 0, 4.608),
]  # fmt: skip
_COMPUTE = [
    ("large", 2, 4, 0, 0.085), ("xlarge", 4, 8, 0, 0.17), ("2xlarge", 8, 16, 0, 0.34),
    ("4xlarge", 16, 32, 0, 0.68), ("9xlarge", 36, 72, 0, 1.53), ("12xlarge", 48, 96, 0, 2.04),
    ("18xlarge", 72, 144, 0, 3.06), ("24xlarge", 96, 192, 0, 4.08),
]  # fmt: skip
_MEMORY = [
    ("large", 2, 16, 0, 0.126), ("xlarge", 4, 32, 0, 0.252), ("2xlarge", 8, 64, 0, 0.504),
    ("4xlarge", 16, 128, 0, 1.008), ("8xlarge", 32, 256, 0, 2.016), ("12xlarge", 48, 384, 0, 3.024),
    ("16xlarge", 64, 512, 0, 4.032), ("24xlarge", 96, 768, 0, 6.048),
]  # fmt: skip
_P3 = [("2xlarge", 8, 61, 1, 3.06), ("8xlarge", 32, 244, 4, 12.24), ("16xlarge", 64, 488, 8, 24.48)]
_G4DN = [
    ("xlarge", 4, 16, 1, 0.526), ("2xlarge", 8, 32, 1, 0.752), ("4xlarge", 16, 64, 1, 1.204),
    ("8xlarge", 32, 128, 1, 2.176), ("12xlarge", 48, 192, 4, 3.912),
    ("16xlarge", 64, 256, 1, 4.352),
]  # fmt: skip
_G5 = [
    ("xlarge", 4, 16, 1, 1.006), ("2xlarge", 8, 32, 1, 1.212), ("4xlarge", 16, 64, 1, 1.624),
    ("8xlarge", 32, 128, 1, 2.448), ("12xlarge", 48, 192, 4, 5.672),
    ("48xlarge", 192, 768, 8, 16.288),
]  # fmt: skip

CATALOG: dict[str, Shape] = {
    s.name: s
    for s in [
        *_family("m5", _GENERAL, 6),
        *_family("m6i", _GENERAL, 4),
        *_family("c5", _COMPUTE, 5),
        *_family("c6i", _COMPUTE, 4),
        *_family("r5", _MEMORY, 4),
        *_family("r6i", _MEMORY, 3),
        *_family("p3", _P3, 1),
        *_family("g4dn", _G4DN, 2),
        *_family("g5", _G5, 2),
    ]
}
FAMILIES = sorted({s.family for s in CATALOG.values()})
# "optimal", as in AWS Batch: the current general-purpose, compute and memory families.
OPTIMAL = ("c5", "m5", "r5")


class UnknownInstanceType(ValueError):
    pass


def custom_shape(custom: CustomInstanceType) -> Shape:
    return Shape(
        name=custom.name,
        vcpus=custom.vcpus,
        memory=parse_memory(custom.memory),
        gpus=custom.gpus,
        price=custom.price,
    )


def resolve_shapes(names: Iterable[str], custom: Iterable[CustomInstanceType] = ()) -> list[Shape]:
    """The shapes an environment may use: catalog names, family names, "optimal", and its
    custom shapes (which win over catalog names). Raises UnknownInstanceType naming every
    name that is none of these."""
    customs = {c.name: custom_shape(c) for c in custom}
    found: dict[str, Shape] = {}
    unknown: list[str] = []
    for name in names:
        if name in customs:
            found[name] = customs[name]
        elif name in CATALOG:
            found[name] = CATALOG[name]
        elif name == "optimal" or name in FAMILIES:
            families = OPTIMAL if name == "optimal" else (name,)
            found.update({s.name: s for s in CATALOG.values() if s.family in families})
        else:
            unknown.append(name)
    if unknown:
        raise UnknownInstanceType(
            "unknown instance type(s): "
            + ", ".join(unknown)
            + " (use a catalog name such as m5.large, a family such as m5, optimal, "
            "or a customInstanceTypes entry)"
        )
    for name, shape in customs.items():
        found.setdefault(name, shape)
    return sorted(found.values(), key=lambda s: (s.price, s.vcpus, s.name))
