"""The records of what the engine wants of pods until it sees it done (intents.py keeps them):
a pod created, stopped, released from its gate, and one the scheduler has not placed; and
the times that pace their sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ...api.common import Obj
from ..state.objects import JobKey
from .effects import Failure


@dataclass(frozen=True, kw_only=True)
class IntentTimes:
    resync: timedelta = timedelta(seconds=10)
    """How long a pod that was created (or stopped) may stay unseen before the request is
    sent again."""
    create_deadline: timedelta = timedelta(minutes=2)
    """How long an attempt may wait for its pod to exist before it fails."""
    schedule_deadline: timedelta = timedelta(minutes=5)
    """How long an attempt's pod may stay unscheduled before the attempt fails."""
    max_backoff: timedelta = timedelta(seconds=30)
    unanswered: timedelta = timedelta(seconds=60)
    """A request with no answer for this long is taken as lost, and sent again."""


@dataclass(slots=True, kw_only=True)
class WantedPod:
    key: str
    job: JobKey
    index: int | None
    attempt: int
    body: Obj
    node: str | None
    since: datetime
    """When the pod was wanted, or last confirmed to exist by the API server (a create
    answered 201 or AlreadyExists): the create deadline runs from it, so a pod that exists
    but is not seen yet (a watch running late under load) does not fail its attempt."""
    next_send: datetime
    sends: int = 0
    in_flight: datetime | None = None
    """When the request on its way was sent."""
    failure: Failure | None = None


@dataclass(slots=True, kw_only=True)
class WantedStop:
    key: str
    grace_seconds: int
    reason: str
    ours: tuple[JobKey, int | None, int] | None
    """The attempt whose pod this is, if it is one in flight."""
    next_send: datetime
    sends: int = 0
    in_flight: datetime | None = None
    since: datetime | None = None
    deadline_refused: bool = False
    """The server would not lower the pod's deadline: delete it instead."""


@dataclass(slots=True, kw_only=True)
class WantedRelease:
    key: str
    next_send: datetime
    sends: int = 0
    in_flight: datetime | None = None


@dataclass(slots=True, kw_only=True)
class Unscheduled:
    job: JobKey
    index: int | None
    attempt: int
    since: datetime
    message: str
