"""SchedulingPolicy: fair share for the queues that name it (cluster-scoped)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .common import ApiModel, Condition, ListMapKey, Rule, StatusModel

SHARE_PATTERN = r"^[A-Za-z0-9_]+\*?$"
MIN_WEIGHT = 0.0001


class ShareAttributes(ApiModel):
    share_identifier: str = Field(max_length=255, pattern=SHARE_PATTERN)
    """A job's shareIdentifier, or a prefix of identifiers ending in "*"."""
    weight_factor: float = Field(default=1.0, le=999.9999)
    """Lower weight, more compute: 0.125 gets 8 times the share of 1.0."""

    __rules__ = (
        # A rule, not a schema minimum: an API server compares an integer with a fractional
        # minimum after truncating the minimum to an integer, so 0 would pass (0 >= 0).
        Rule(
            f"weightFactor must be at least {MIN_WEIGHT}",
            lambda s: s.weight_factor >= MIN_WEIGHT,
            f"!has(self.weightFactor) || self.weightFactor >= {MIN_WEIGHT}",
        ),
    )


class FairsharePolicy(ApiModel):
    share_decay_seconds: int = Field(default=0, ge=0, le=604800)
    """How long past usage counts (0: only current usage)."""
    compute_reservation: int = Field(default=0, ge=0, le=99)
    """Keeps (computeReservation/100)^activeShares of the vCPUs for shares not yet active."""
    share_distribution: Annotated[
        list[ShareAttributes],
        Field(default_factory=list, max_length=500),
        ListMapKey("shareIdentifier"),
    ]
    """The weight of each share identifier (or prefix ending in "*"); others weigh 1."""


class SchedulingPolicySpec(ApiModel):
    fairshare_policy: FairsharePolicy = Field(default_factory=FairsharePolicy)
    """How the queues that name this policy share their compute among shareIdentifiers."""


class SchedulingPolicyStatus(StatusModel):
    status: str | None = None
    status_reason: str | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], ListMapKey("type")] = Field(default_factory=list)
