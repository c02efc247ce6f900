"""The four resources as whole objects, what their CRDs say about them, and `parse`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError

from .batchjob import BatchJobSpec, BatchJobStatus
from .common import (
    API_VERSION,
    DNS_LABEL,
    DNS_LABEL_MAX,
    ApiModel,
    ObjectMeta,
    Rule,
    StatusModel,
)
from .computeenvironment import ComputeEnvironmentSpec, ComputeEnvironmentStatus
from .consumableresource import ConsumableResourceSpec, ConsumableResourceStatus
from .jobdefinition import JobDefinitionSpec, JobDefinitionStatus
from .jobqueue import JobQueueSpec, JobQueueStatus
from .scheduledjob import ScheduledJobSpec, ScheduledJobStatus
from .schedulingpolicy import SchedulingPolicySpec, SchedulingPolicyStatus

CATEGORY = "kubatch"


@dataclass(frozen=True, kw_only=True)
class PrinterColumn:
    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str = ""
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class KindInfo:
    """What the CRD of a kind says besides its schema."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: Literal["Cluster", "Namespaced"]
    columns: tuple[PrinterColumn, ...]
    mutable_spec: frozenset[str] | None = None
    """When set, the spec is immutable after creation but for these fields (CEL transition
    rules the API server enforces; the operator ignores any other change anyway)."""

    @property
    def singular(self) -> str:
        return self.kind.lower()


_NAME_RULE = Rule(
    f"metadata.name must be a DNS-1123 label: at most {DNS_LABEL_MAX} lowercase letters, "
    "digits and '-', starting and ending with a letter or digit",
    lambda r: (
        r.metadata.name is None
        or (len(r.metadata.name) <= DNS_LABEL_MAX and _is_label(r.metadata.name))
    ),
    f"!has(self.metadata.name) || (self.metadata.name.size() <= {DNS_LABEL_MAX} && "
    f"self.metadata.name.matches(r'{DNS_LABEL}'))",
)


_LABEL = re.compile(DNS_LABEL)


def _is_label(name: str) -> bool:
    return _LABEL.match(name) is not None


class Resource(ApiModel):
    """Fields every kind shares. Subclasses add spec and status."""

    INFO: ClassVar[KindInfo]
    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta

    __rules__ = (
        Rule(
            f"apiVersion must be {API_VERSION}",
            lambda r: r.api_version == API_VERSION,
        ),
        Rule("kind does not match the object", lambda r: r.kind == type(r).INFO.kind),
        Rule(
            "metadata.name or metadata.generateName is required",
            lambda r: bool(r.metadata.name or r.metadata.generate_name),
        ),
        _NAME_RULE,
    )

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace


def _age() -> PrinterColumn:
    return PrinterColumn(name="Age", type="date", json_path=".metadata.creationTimestamp")


class ComputeEnvironment(Resource):
    """A pool of nodes that grows and shrinks with demand (cluster-scoped, short name ce)."""

    INFO = KindInfo(
        kind="ComputeEnvironment",
        plural="computeenvironments",
        short_names=("ce",),
        scope="Cluster",
        columns=(
            PrinterColumn(name="Type", type="string", json_path=".spec.type"),
            PrinterColumn(name="State", type="string", json_path=".spec.state"),
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            PrinterColumn(
                name="Desired",
                type="integer",
                json_path=".status.desiredvCpus",
                description="desired vCPUs",
            ),
            PrinterColumn(
                name="Ready",
                type="integer",
                json_path=".status.readyvCpus",
                description="vCPUs on Ready nodes",
            ),
            PrinterColumn(
                name="Max",
                type="integer",
                json_path=".spec.computeResources.maxvCpus",
                description="maxvCpus",
            ),
            PrinterColumn(
                name="Reason", type="string", json_path=".status.statusReason", priority=1
            ),
            _age(),
        ),
    )
    spec: ComputeEnvironmentSpec
    status: ComputeEnvironmentStatus = Field(default_factory=ComputeEnvironmentStatus)


class JobQueue(Resource):
    """Where jobs wait, by priority, drawing on compute environments in order (jq)."""

    INFO = KindInfo(
        kind="JobQueue",
        plural="jobqueues",
        short_names=("jq",),
        scope="Cluster",
        columns=(
            PrinterColumn(name="Priority", type="integer", json_path=".spec.priority"),
            PrinterColumn(name="State", type="string", json_path=".spec.state"),
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            PrinterColumn(name="Runnable", type="integer", json_path=".status.jobCounts.RUNNABLE"),
            PrinterColumn(name="Running", type="integer", json_path=".status.jobCounts.RUNNING"),
            PrinterColumn(
                name="Reason", type="string", json_path=".status.statusReason", priority=1
            ),
            _age(),
        ),
    )
    spec: JobQueueSpec
    status: JobQueueStatus = Field(default_factory=JobQueueStatus)


class JobDefinition(Resource):
    """What a job runs; every spec change is a new revision (namespaced, jd)."""

    INFO = KindInfo(
        kind="JobDefinition",
        plural="jobdefinitions",
        short_names=("jd",),
        scope="Namespaced",
        columns=(
            PrinterColumn(name="Type", type="string", json_path=".spec.type"),
            PrinterColumn(
                name="Revision",
                type="integer",
                json_path=".status.latestRevision",
                description="latest revision",
            ),
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            PrinterColumn(
                name="Image", type="string", json_path=".spec.containerProperties.image", priority=1
            ),
            _age(),
        ),
    )
    spec: JobDefinitionSpec
    status: JobDefinitionStatus = Field(default_factory=JobDefinitionStatus)


class BatchJob(Resource):
    """A job submitted to a queue: single, array, with dependencies (namespaced, bj)."""

    INFO = KindInfo(
        kind="BatchJob",
        plural="batchjobs",
        short_names=("bj",),
        scope="Namespaced",
        columns=(
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            PrinterColumn(name="Queue", type="string", json_path=".spec.jobQueue"),
            PrinterColumn(name="Definition", type="string", json_path=".spec.jobDefinition"),
            PrinterColumn(
                name="Size",
                type="integer",
                json_path=".spec.arrayProperties.size",
                description="array size",
            ),
            PrinterColumn(name="Attempts", type="integer", json_path=".status.attemptCount"),
            PrinterColumn(name="Reason", type="string", json_path=".status.statusReason"),
            PrinterColumn(name="Started", type="date", json_path=".status.startedAt", priority=1),
            _age(),
        ),
        # AWS jobs are immutable once submitted; CancelJob and TerminateJob are requests.
        mutable_spec=frozenset({"cancel", "terminate"}),
    )
    spec: BatchJobSpec
    status: BatchJobStatus = Field(default_factory=BatchJobStatus)


class SchedulingPolicy(Resource):
    """Fair share for the queues that name it (cluster-scoped, sp)."""

    INFO = KindInfo(
        kind="SchedulingPolicy",
        plural="schedulingpolicies",
        short_names=("sp",),
        scope="Cluster",
        columns=(
            PrinterColumn(
                name="Decay",
                type="integer",
                json_path=".spec.fairsharePolicy.shareDecaySeconds",
                description="shareDecaySeconds",
            ),
            PrinterColumn(
                name="Reservation",
                type="integer",
                json_path=".spec.fairsharePolicy.computeReservation",
                description="computeReservation",
            ),
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            _age(),
        ),
    )
    spec: SchedulingPolicySpec = Field(default_factory=SchedulingPolicySpec)
    status: SchedulingPolicyStatus = Field(default_factory=SchedulingPolicyStatus)


class ScheduledJob(Resource):
    """Submits BatchJobs from a template on a schedule or at a time (namespaced, sj)."""

    INFO = KindInfo(
        kind="ScheduledJob",
        plural="scheduledjobs",
        short_names=("sj",),
        scope="Namespaced",
        columns=(
            PrinterColumn(name="Schedule", type="string", json_path=".spec.schedule"),
            PrinterColumn(name="Suspend", type="boolean", json_path=".spec.suspend"),
            PrinterColumn(
                name="Last",
                type="date",
                json_path=".status.lastScheduleTime",
                description="last run",
            ),
            PrinterColumn(
                name="Next",
                type="string",
                json_path=".status.nextScheduleTime",
                description="next run",
            ),
            PrinterColumn(name="Status", type="string", json_path=".status.status"),
            _age(),
        ),
    )
    spec: ScheduledJobSpec
    status: ScheduledJobStatus = Field(default_factory=ScheduledJobStatus)


class ConsumableResource(Resource):
    """A counted resource jobs hold while they run: licenses, seats (cluster-scoped, cres)."""

    INFO = KindInfo(
        kind="ConsumableResource",
        plural="consumableresources",
        short_names=("cres",),
        scope="Cluster",
        columns=(
            PrinterColumn(name="Type", type="string", json_path=".spec.resourceType"),
            PrinterColumn(name="Total", type="integer", json_path=".spec.totalQuantity"),
            PrinterColumn(name="In use", type="integer", json_path=".status.inUseQuantity"),
            PrinterColumn(name="Available", type="integer", json_path=".status.availableQuantity"),
            _age(),
        ),
    )
    spec: ConsumableResourceSpec = Field(default_factory=ConsumableResourceSpec)
    status: ConsumableResourceStatus = Field(default_factory=ConsumableResourceStatus)


KINDS: dict[str, type[Resource]] = {
    cls.INFO.kind: cls
    for cls in (
        ComputeEnvironment,
        JobQueue,
        JobDefinition,
        BatchJob,
        SchedulingPolicy,
        ScheduledJob,
        ConsumableResource,
    )
}


# The plurals (the API's resource names), from the kinds above: the one spelling of each.
BATCHJOBS = BatchJob.INFO.plural
COMPUTEENVIRONMENTS = ComputeEnvironment.INFO.plural
JOBQUEUES = JobQueue.INFO.plural
JOBDEFINITIONS = JobDefinition.INFO.plural
SCHEDULINGPOLICIES = SchedulingPolicy.INFO.plural
SCHEDULEDJOBS = ScheduledJob.INFO.plural
CONSUMABLERESOURCES = ConsumableResource.INFO.plural


def spec_and_status(cls: type[Resource]) -> tuple[type[ApiModel], type[StatusModel]]:
    spec = cls.model_fields["spec"].annotation
    status = cls.model_fields["status"].annotation
    assert isinstance(spec, type)
    assert issubclass(spec, ApiModel)
    assert isinstance(status, type)
    assert issubclass(status, StatusModel)
    return spec, status


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (the field's path), the value found there (None for a rule over
    several fields, or a missing field), and the rule in words."""

    path: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}" if self.path else self.rule


class InvalidManifest(ValueError):
    """A manifest the API would refuse; `errors` name the field and the rule, one per line
    (`problems` says the same, field by field)."""

    def __init__(self, kind: str, name: str, problems: list[Problem]) -> None:
        self.kind = kind
        self.name = name
        self.problems = problems
        self.errors = [str(p) for p in problems]
        super().__init__(f"{kind} {name or '<unnamed>'} is invalid:\n  " + "\n  ".join(self.errors))


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_MESSAGES = {
    "extra_forbidden": "unknown field (not part of the schema)",
    "missing": "required field is missing",
}

PATTERNS: dict[str, str] = {
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a DNS-1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$": "a DNS-1123 "
    "subdomain: DNS labels joined by '.'",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name: letters, digits and '_', "
    "not starting with a digit",
    r"^[A-Za-z0-9.: \t]*\*?$": "letters, digits, '.', ':' and spaces, with an optional "
    "trailing '*' that matches any rest",
    r"^/": "an absolute path (starting with '/')",
    r"^[-._a-zA-Z0-9]+$": "a Secret's key: letters, digits, '-', '_' and '.'",
    r"^(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?(,(0|[1-9][0-9]*)(-(0|[1-9][0-9]*))?)*$": "array "
    'indexes and ranges such as "3" or "0-4,9"',
    r"^[0-9]+(\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$": "a number of MiB such as 2048, "
    'or a quantity such as "2Gi"',
    r"^[0-9]*\*?$": 'digits with an optional trailing "*", such as "137" or "1*"',
    r"^([Rr][Ee][Tt][Rr][Yy]|[Ee][Xx][Ii][Tt])$": "RETRY or EXIT (in any case)",
    r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9]+)?$": 'an instance type such as "m5.xlarge", or a family '
    'such as "m5"',
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*:[-._a-zA-Z0-9]+$": '"'
    '<secret>:<key>", a Secret of the namespace and one of its keys',
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(:[1-9][0-9]*)?$": 'a JobDefinition: "name" or "name:revision"',
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(:(0|[1-9][0-9]*))?$": 'a job: "name", or "name:index" '
    "for one child of an array",
    r"^[A-Za-z0-9_]+$": "letters, digits and '_'",
    r"^[0-9]+(:[0-9]+)?$": 'a user id, or "uid:gid"',
    r"^[A-Za-z0-9_]+\*?$": "letters, digits and '_', with an optional trailing '*' for a prefix",
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$": 'a label key such as "team" or '
    '"example.com/team"',
    r"^([0-9]+|[0-9]*:[0-9]*)$": 'node indexes: "3", "0:2", "4:" or ":3"',
    r"^(|Memory)$": 'empty (the node\'s disk) or "Memory"',
    r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$": "a Kubernetes quantity such as "
    '"500m", "2" or "4Gi"',
    r"^(cpu|memory|nvidia\.com/gpu)$": "cpu, memory or nvidia.com/gpu",
}
"""What each pattern of the schema means, in words (a test checks that every one has them)."""


def _message(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        words = PATTERNS.get(pattern)
        if words is not None:
            return f"must be {words}"
    return str(_MESSAGES.get(error["type"], error["msg"]))


def describe(error: ValidationError) -> list[Problem]:
    """One problem per error: the field path, the value, the rule it broke, in words."""
    problems = []
    for e in error.errors(include_url=False):
        value = e.get("input") if e["type"] not in ("missing", "rule") else None
        scalar = isinstance(value, str | int | float | bool)
        problems.append(Problem(_path(tuple(e["loc"])), value if scalar else None, _message(e)))
    return problems


def parse(obj: Mapping[str, Any]) -> Resource:
    """Validate a manifest of any of the four kinds and return its model.

    Raises InvalidManifest with one line per broken rule.
    """
    kind = str(obj.get("kind", ""))
    metadata = obj.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""
    cls = KINDS.get(kind)
    if cls is None:
        known = ", ".join(sorted(KINDS))
        raise InvalidManifest(
            kind or "<no kind>", name, [Problem("kind", kind or None, f"must be one of {known}")]
        )
    try:
        return cls.model_validate(obj)
    except ValidationError as e:
        raise InvalidManifest(kind, name, describe(e)) from None
