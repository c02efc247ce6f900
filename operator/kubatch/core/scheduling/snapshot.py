"""What a scheduling pass reads and what it decides: the snapshot's types, the decisions'
types, and the reasons work waits (AWS Batch's statusReason codes). Pure data, no logic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ...api.computeenvironment import AllocationStrategy
from ...api.jobqueue import QueueingStrategy
from ...api.resources import Resources
from .catalog import PODS_PER_NODE, Shape

INSUFFICIENT_CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
MAX_RESOURCE = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
JOB_RESOURCE_REQUIREMENT = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
ENVIRONMENTS_UNAVAILABLE = "CAPACITY:COMPUTE_ENVIRONMENT_DISABLED"
ENVIRONMENTS_INVALID = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_INVALID"
HEAD_OF_QUEUE = "CAPACITY:HEAD_OF_QUEUE_BLOCKED"
CONSUMABLE_RESOURCE_UNAVAILABLE = "CAPACITY:CONSUMABLE_RESOURCE_UNAVAILABLE"
"""Not enough units of a consumable resource are left now (others hold them)."""
CONSUMABLE_RESOURCE_QUANTITY = "MISCONFIGURATION:CONSUMABLE_RESOURCE_QUANTITY"
"""The job needs more units of a consumable resource than it has, or one that does not
exist."""
NEVER_PLACEABLE = frozenset({MAX_RESOURCE, JOB_RESOURCE_REQUIREMENT})


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem:
    """RUNNABLE work: one job, or `count` children of an array job starting at `index`
    (consecutive children with the same needs and the same place in the queue)."""

    job: tuple[str, str]
    index: int | None
    queue: str
    resources: Resources
    count: int = 1
    problem: str | None = None
    """Why the job's request itself is unusable (missing VCPU or MEMORY)."""
    gang: tuple[Resources, ...] | None = None
    """A multi-node job: every node's request, placed all at once or not at all
    (`resources` is their sum)."""
    distinct: bool = False
    """The gang's nodes go to different Kubernetes nodes."""
    since: datetime | None = None
    """When a gang became RUNNABLE (it is held for after Snapshot.gang_reservation)."""
    consumables: tuple[tuple[str, int], ...] = ()
    """(ConsumableResource, units) each of the item's jobs holds while it runs."""

    @property
    def request(self) -> Resources:
        """What must fit on one node for the item to be placed: its request, or the request
        of a gang's node with the most CPU (a gang fits nowhere that node does not)."""
        if self.gang:
            return max(self.gang, key=lambda r: (r.millicpu, r.memory, r.gpus))
        return self.resources


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    name: str
    allocatable: Resources
    free: Resources
    free_pods: int = PODS_PER_NODE
    shape: str | None = None
    ready: bool = True
    running: int = 0
    """Pods of Kubatch jobs on the node."""
    idle_since: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Environment:
    name: str
    max_vcpus: int
    enabled: bool = True
    valid: bool = True
    managed: bool = True
    min_vcpus: int = 0
    shapes: tuple[Shape, ...] = ()
    strategy: AllocationStrategy = AllocationStrategy.BEST_FIT
    nodes: tuple[Node, ...] = ()
    allocated_millicpu: int = 0
    """CPU requested by Kubatch pods already running in the environment."""
    unavailable_shapes: frozenset[str] = frozenset()
    """Shapes the provider reported it cannot supply now."""
    draining: bool = False
    """Being deleted: takes no work, and gives up every idle node at once (minvCpus and
    the cool-down no longer hold)."""

    @property
    def usable(self) -> bool:
        return self.enabled and self.valid and not self.draining


@dataclass(frozen=True, kw_only=True)
class Queue:
    name: str
    priority: int
    environments: tuple[str, ...]
    """Names, in computeEnvironmentOrder."""
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    items: Iterable[WorkItem] = ()
    """RUNNABLE work in queue order (read once, from the head, as far as a pass needs)."""
    sizes: Mapping[Resources, int] | None = None
    """How many children ask for each `WorkItem.request` among the items (None: counted from
    `items` when it is a sequence). A pass stops early only when it knows them: capacity is
    gone when no request still ahead fits."""
    gangs: Sequence[WorkItem] | None = None
    """The multi-node items among `items`, in queue order (None: found in `items` when it is
    a sequence). A walk that stops early still judges those behind the stop: whether they
    can ever run, and which environments the ones that waited too long hold."""
    cap_millicpu: int | None = None
    """At most this much CPU for the queue's jobs together (fair share's reservation)."""
    allocated_millicpu: int = 0
    """CPU the queue's jobs hold now."""


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    queues: tuple[Queue, ...]
    environments: tuple[Environment, ...]
    now: datetime
    scale_in_after: timedelta = timedelta(minutes=5)
    positions_shown: int | None = None
    """Number at most this many waiting places per queue, and stop a queue's walk there
    once nothing more fits (None: walk and number every item)."""
    consumables: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Each consumable resource's (units left now, units in all): a job takes its units when
    placed."""
    gang_reservation: timedelta | None = timedelta(minutes=10)
    """A gang that waited this long for capacity has the environments it can run on held for
    it: nothing else is placed there (in this queue or a queue served after it) until it
    fits (None: never)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    job: tuple[str, str]
    index: int | None
    environment: str
    node: str
    nodes: tuple[str, ...] = ()
    """A gang's node for each of its nodes, by node index (`node` is the first)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """Why (part of) an item is left waiting, and where it stands in its queue (1 = next)."""

    item: WorkItem
    count: int
    reason: str
    position: int | None
    detail: str | None = None
    """What the reason means for this item, in words (AWS: "CODE - message")."""


@dataclass(frozen=True)
class Tail:
    """Where a queue's walk stopped: every item behind `after` waiting places that was not
    visited waits for `reason`, except items whose request is one of `never` (they can
    never be placed: MAX_RESOURCE, with the detail) or unusable (JOB_RESOURCE_REQUIREMENT)."""

    reason: str
    after: int
    never: dict[Resources, str]


@dataclass(kw_only=True)
class CapacityPlan:
    environment: str
    desired: dict[str, int] = field(default_factory=dict)
    """Nodes wanted per shape, existing ones included."""
    desired_vcpus: int = 0
    remove: list[str] = field(default_factory=list)
    """Idle nodes to give up now."""
    reason: str = ""


@dataclass(kw_only=True)
class Decisions:
    placements: list[Placement] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    plans: dict[str, CapacityPlan] = field(default_factory=dict)
    tails: dict[str, Tail] = field(default_factory=dict)
    """Queues whose walk stopped before their end, by name."""
