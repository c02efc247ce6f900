"""Fair share, as AWS Batch's scheduling policies define it.

Each share (a job's shareIdentifier) has a weight: lower weight, more compute. A share's
usage is its vCPU-seconds times its weight, decayed over shareDecaySeconds (with no decay,
only what runs now counts: running vCPUs times the weight). The share with the lowest usage
goes next; within a share, higher schedulingPriority first, then submission order.
computeReservation keeps (computeReservation/100)^activeShares of the queue's vCPUs free
for shares that have no job yet. Running jobs are never preempted.
"""

from __future__ import annotations

import math
from typing import TypeVar

from ...api.schedulingpolicy import FairsharePolicy

DEFAULT_WEIGHT = 1.0
T = TypeVar("T")


def weight_for(share: str, policy: FairsharePolicy) -> float:
    """The share's weight: an exact entry, else the longest matching prefix entry ("ab*"),
    else 1."""
    best: tuple[int, float] | None = None
    for entry in policy.share_distribution:
        identifier = entry.share_identifier
        if identifier == share:
            return entry.weight_factor
        if identifier.endswith("*") and share.startswith(identifier[:-1]):
            length = len(identifier) - 1
            if best is None or length > best[0]:
                best = (length, entry.weight_factor)
    return best[1] if best is not None else DEFAULT_WEIGHT


def decayed(
    usage: float, running_vcpus: float, weight: float, seconds: float, decay_seconds: int
) -> float:
    """The share's usage `seconds` later, having run `running_vcpus` meanwhile."""
    if decay_seconds == 0:
        return running_vcpus * weight
    kept = math.exp(-seconds / decay_seconds)
    return usage * kept + running_vcpus * weight * seconds


def reservation_cap(max_millicpu: int, compute_reservation: int, active_shares: int) -> int:
    """How much of the queue's vCPUs its active shares may hold together."""
    if compute_reservation == 0 or active_shares == 0:
        return max_millicpu
    reserved = (compute_reservation / 100) ** active_shares
    return int(max_millicpu * (1 - reserved))
