"""ConsumableResource: a counted resource that jobs hold while they run, beside CPU and
memory (licenses, seats, a database's connections): AWS Batch's consumable resources
(cluster-scoped). A job that needs more than is left waits RUNNABLE, saying which."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .common import ApiModel, Condition, ListMapKey, ObjectName, StatusModel, Tags

MAX_QUANTITY = 10**15
"""How many units a resource may count (AWS: a long)."""
MAX_PER_JOB = 5
"""How many consumable resources one job may need."""


class ConsumableResourceType(StrEnum):
    REPLENISHABLE = "REPLENISHABLE"
    """Units come back when the jobs that hold them end."""
    NON_REPLENISHABLE = "NON_REPLENISHABLE"
    """Units are used up: every job that held some takes them from the total when it ends."""


class ConsumableResourceSpec(ApiModel):
    total_quantity: int = Field(default=0, ge=0, le=MAX_QUANTITY)
    """How many units there are (of a NON_REPLENISHABLE resource: before any was used up)."""
    resource_type: ConsumableResourceType = ConsumableResourceType.REPLENISHABLE
    """REPLENISHABLE (units come back) or NON_REPLENISHABLE (units are used up)."""
    tags: Tags = Field(default_factory=dict)
    """Tags of the resource (up to 50; values up to 256 characters)."""


class ConsumableResourceStatus(StatusModel):
    in_use_quantity: int = 0
    """Units held by STARTING and RUNNING jobs."""
    consumed_quantity: int = 0
    """Units used up for good (NON_REPLENISHABLE only): the total is less by as many."""
    available_quantity: int = 0
    """Units a job may take now: the total, less what is used up and what is held."""
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)


class ConsumableResourceRequirement(ApiModel):
    consumable_resource: ObjectName
    """The ConsumableResource's name."""
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    """How many units one job (each array child, each attempt) holds while it runs."""


class ConsumableResourceProperties(ApiModel):
    consumable_resource_list: Annotated[
        list[ConsumableResourceRequirement],
        Field(default_factory=list, max_length=MAX_PER_JOB),
        ListMapKey("consumableResource"),
    ]
    """The consumable resources a job needs, and how many units of each."""
