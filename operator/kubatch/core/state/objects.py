"""The objects the store holds, one record per API object (and per pod), as intake reads
them; the store indexes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ...api import ComputeEnvironment, JobDefinition, JobQueue, ScheduledJob
from ...api.common import Obj
from ...api.jobdefinition import JobDefinitionSpec
from ...api.resources import Resources
from ..jobs.definitions import Revision
from ..jobs.record import JobRecord
from ..scheduling.catalog import Shape

JobKey = tuple[str, str]
"""(namespace, name)"""


@dataclass(kw_only=True)
class NodeState:
    name: str
    labels: dict[str, str]
    allocatable: Resources
    pod_slots: int
    ready: bool
    schedulable: bool
    deleting: bool
    shape: str | None
    created: datetime | None
    # Derived from the pods on the node; the store keeps them.
    used: Resources = field(default_factory=Resources)
    """What every active pod on the node holds (Kubatch's and others')."""
    ours: Resources = field(default_factory=Resources)
    """What Kubatch's pods on the node hold."""
    pods: int = 0
    busy: int = 0
    """Pods that keep the node from being given up (all but DaemonSets')."""
    idle_since: datetime | None = None

    @property
    def free(self) -> Resources:
        return self.allocatable - self.used


@dataclass(slots=True, kw_only=True)
class PodState:
    key: str
    """namespace/name"""
    node: str | None
    requests: Resources
    active: bool
    """Not finished: it holds its requests on its node."""
    job: JobKey | None = None
    """The job whose attempt this is; None for other workloads' pods."""
    keeps_node: bool = True
    """False for a DaemonSet's pod: it runs on every node and never keeps one busy."""
    assumed: bool = False
    """Placed by Kubatch and not seen yet (its create may still be on its way)."""
    labels: Mapping[str, str] | None = None
    """A Kubatch pod's labels (its job, index and attempt): enough to tell its attempt that
    it is gone when a new listing lacks it."""


@dataclass(kw_only=True)
class EnvState:
    obj: Obj
    model: ComputeEnvironment | None
    valid: bool
    reason: str | None
    shapes: tuple[Shape, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, str], ...] = ()
    provider: str = "unmanaged"
    unavailable: dict[str, datetime] = field(default_factory=dict)
    """Shapes the provider could not supply, until when they are not asked for again."""
    provider_error: str | None = None
    cluster: str = ""
    """The worker cluster whose nodes make the pool ("": the operator's own)."""


@dataclass(kw_only=True)
class ConsumableState:
    """A ConsumableResource: how many units it has in all, whether they come back."""

    obj: Obj
    total: int
    replenishable: bool


@dataclass(kw_only=True)
class QueueState:
    obj: Obj
    model: JobQueue | None
    valid: bool
    reason: str | None


@dataclass(kw_only=True)
class DefinitionState:
    obj: Obj | None
    model: JobDefinition | None
    reason: str | None
    revisions: dict[int, tuple[str, JobDefinitionSpec]] = field(default_factory=dict)
    """revision -> (hash, spec), from ControllerRevisions and the ones Kubatch made."""

    def revision_list(self) -> list[Revision]:
        inactive = set(self.model.spec.deregistered_revisions) if self.model else set()
        return [
            Revision(n, spec, n not in inactive) for n, (_, spec) in sorted(self.revisions.items())
        ]


@dataclass(kw_only=True, slots=True)
class JobState:
    obj: Obj
    """Identity, version and labels (see intake.slim); the spec lives in the record."""
    record: JobRecord | None
    """None when the object is invalid (its status says why)."""
    generation: int
    annotations: Mapping[str, str]
    finished: bool = False
    """Whether its end was counted (for metrics)."""


@dataclass(kw_only=True)
class CronState:
    """A ScheduledJob."""

    obj: Obj
    model: ScheduledJob | None
    reason: str | None
    last: datetime | None
    """The latest run started (or skipped for good)."""
    created: datetime
    warned: set[str] = field(default_factory=set)
    deleting: set[str] = field(default_factory=set)
    """Names of its BatchJobs whose deletion was asked (history limits)."""


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
