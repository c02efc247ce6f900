"""Building blocks shared by the four resource models.

The models are the one source of truth for the API: the CRDs in crds/ are generated from
them (see crdgen.py). Every rule is therefore declared once, in a form both sides can use:

- single-field rules (ranges, enums, patterns, sizes) are pydantic constraints, which pydantic
  checks and which become OpenAPI keywords (minimum, maximum, enum, pattern, maxItems) in the
  CRD;
- cross-field rules are `Rule`s: a CEL expression for the API server's
  x-kubernetes-validations and the same check in Python for pydantic, with one message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

Obj = dict[str, Any]
"""An API object as the API serves it (JSON decoded): what the client, core and the
servers pass around before a model reads it."""
GROUP = "kubatch.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# A DNS-1123 label: what Kubernetes accepts as a label value and a hostname. Names of our
# objects end up in pod labels (queue, compute environment, job), so they follow it.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63
# A DNS-1123 subdomain: names of Secrets, ConfigMaps, PVCs, ServiceAccounts.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A label key with an optional prefix, as Kubernetes accepts it.
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

# The name of one of our objects (queue, environment, definition, job, policy).
ObjectName = Annotated[str, Field(max_length=DNS_LABEL_MAX, pattern=DNS_LABEL)]

# Every string, list and map of a spec is bounded: the API server refuses a CRD whose CEL
# rules could cost more than its budget, and it sizes anything unbounded at the request size.
Parameters = Annotated[
    dict[str, Annotated[str, Field(max_length=4096)]],
    Field(max_length=100),
]
"""Values for "Ref::name" placeholders."""
Tags = Annotated[
    dict[str, Annotated[str, Field(max_length=256)]],
    Field(max_length=50),
]
"""AWS's limits: 50 tags, values up to 256 characters. (A structural schema cannot bound map
keys; the API server bounds them by the request size, and no rule walks them.)"""
Labels = Annotated[
    dict[str, Annotated[str, Field(max_length=63)]],
    Field(max_length=64),
]
Annotations = Annotated[
    dict[str, Annotated[str, Field(max_length=16384)]],
    Field(max_length=64),
]


@dataclass(frozen=True)
class Rule:
    """A rule over several fields of one object, enforced by the API server and by pydantic.

    `cel` is evaluated by the API server with `self` bound to the object (after defaulting);
    `check` is the same rule in Python on the validated model. `cel=None` marks a rule the
    schema cannot express (the operator enforces it and reports it in status).
    """

    message: str
    check: Callable[[Any], bool]
    cel: str | None = None


def _schema_extra(schema: dict[str, Any], cls: type) -> None:
    rules: tuple[Rule, ...] = getattr(cls, "__rules__", ())
    validations = [{"rule": r.cel, "message": r.message} for r in rules if r.cel]
    if validations:
        schema["x-kubernetes-validations"] = validations


class ApiModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra=_schema_extra,
    )
    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> ApiModel:
        for rule in type(self).__rules__:
            if not rule.check(self):
                raise PydanticCustomError("rule", rule.message)
        return self

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: aliases, no unset optionals."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(ApiModel):
    """Base of status models: written by the operator, so unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Self:
        """The status of `obj` (an object as the API serves it) read through this model, as
        every reader outside the operator reads it: renaming a field then breaks them at type
        check. A status not written yet reads as the defaults (nothing reported yet); a
        field this version cannot read reads as not reported, the others as written."""
        data = dict(obj.get("status") or {})
        while True:
            try:
                read: Self = cls.model_validate(data)
                return read
            except ValidationError as e:
                unreadable = {error["loc"][0] for error in e.errors() if error["loc"]}
                if not unreadable & data.keys():
                    return cast(Self, cls.model_construct())
                data = {k: v for k, v in data.items() if k not in unreadable}


class State(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """A condition in the shape of metav1.Condition."""

    type: str = Field(max_length=316)
    status: ConditionStatus
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta that Kubatch reads; the rest passes through."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list)


class ListMapKey:
    """Marks a list whose items are unique by `key` (x-kubernetes-list-type: map).

    The API server refuses duplicate keys and merges such lists item by item on server-side
    apply; pydantic refuses duplicates with the same wording.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        key = self.key

        def unique(items: list[Any]) -> list[Any]:
            seen: set[Any] = set()
            for item in items:
                value = getattr(item, _attr_for(item, key))
                if value in seen:
                    raise PydanticCustomError(
                        "duplicate",
                        "Duplicate value: {key} {value} appears more than once",
                        {"key": key, "value": str(value)},
                    )
                seen.add(value)
            return items

        return core_schema.no_info_after_validator_function(unique, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        result: dict[str, Any] = handler(schema)
        result["x-kubernetes-list-type"] = "map"
        result["x-kubernetes-list-map-keys"] = [self.key]
        return result


def _attr_for(item: BaseModel, alias: str) -> str:
    for name, info in type(item).model_fields.items():
        if (info.alias or name) == alias:
            return name
    raise KeyError(alias)


def has(value: object) -> bool:
    """CEL's has(): the field is present (for rules written in both languages)."""
    return value is not None


class JobStatus(StrEnum):
    """The states of a job, in the order a job passes through them."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


JOB_STATES: tuple[str, ...] = tuple(s.value for s in JobStatus)
"""Every state, in the order a job passes through them (columns, bars, summaries)."""
NOT_STARTED = frozenset({JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE})
"""Not started yet: what CancelJob acts on (AWS)."""
IN_FLIGHT = frozenset({JobStatus.STARTING, JobStatus.RUNNING})
"""Placed and not finished: what TerminateJob stops."""
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


class JobCounts(StatusModel):
    """Jobs (array children counted one by one) per state."""

    submitted: int = Field(default=0, alias=JobStatus.SUBMITTED.value)
    pending: int = Field(default=0, alias=JobStatus.PENDING.value)
    runnable: int = Field(default=0, alias=JobStatus.RUNNABLE.value)
    starting: int = Field(default=0, alias=JobStatus.STARTING.value)
    running: int = Field(default=0, alias=JobStatus.RUNNING.value)
    succeeded: int = Field(default=0, alias=JobStatus.SUCCEEDED.value)
    failed: int = Field(default=0, alias=JobStatus.FAILED.value)
