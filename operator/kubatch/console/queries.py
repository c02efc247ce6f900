"""What a page of the console may be asked in its query string or form, as pydantic models:
a bad value gets a message that names the field and the rule, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from ..api.batchjob import INDEX_RANGES
from ..api.common import JobStatus

NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""A Kubernetes name (DNS label): what a namespace, queue or job name is."""

PER_PAGE = 50
MAX_PER_PAGE = 500


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobsQuery(Query):
    """The jobs page: filters, order and page."""

    namespace: str | None = Field(default=None, max_length=63, pattern=NAME)
    queue: str | None = Field(default=None, max_length=253, pattern=NAME)
    status: JobStatus | None = None
    name: str | None = Field(default=None, max_length=253)
    """Part of the job's name (case-insensitive)."""
    sort: Literal["newest", "oldest"] = "newest"
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=PER_PAGE, ge=1, le=MAX_PER_PAGE)


class LogQuery(Query):
    """The log of one attempt of a job (of one child of an array job)."""

    attempt: int | None = Field(default=None, ge=1, le=1000)
    index: int | None = Field(default=None, ge=0, le=9999)
    tail: int = Field(default=1000, ge=1, le=100_000)
    """Lines from the end of the log."""


class JobQuery(Query):
    """A job's page: one child of an array job, and what was just requested."""

    index: int | None = Field(default=None, ge=0, le=9999)
    requested: Literal["cancel", "terminate"] | None = None


class StopForm(Query):
    """Cancel or terminate: the reason AWS Batch asks for, and the form's token."""

    reason: str = Field(min_length=1, max_length=1024)
    token: str = Field(min_length=1, max_length=200)
    index: str | None = Field(default=None, max_length=4096, pattern=INDEX_RANGES)
    """Only these array children ("3", "0-4,9")."""


class NamespaceQuery(Query):
    namespace: str | None = Field(default=None, max_length=63, pattern=NAME)


class EventsQuery(Query):
    kinds: str = Field(default="", max_length=500, pattern=r"^[a-z,]*$")
    """The resources (plurals, comma-separated) whose changes the page wants to hear of."""


Q = TypeVar("Q", bound=Query)
PATTERN_RULES = {
    "index": 'must be array indexes such as "3" or "0-4,9"',
    "kinds": "must be resources (plurals such as batchjobs) separated by commas",
}
"""What a field with a pattern must look like, in words (the default: a Kubernetes name)."""


class BadQuery(ValueError):
    """Every problem of a query string or form, one line each: `field: rule`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _rule(error: ErrorDetails, model: type[Query]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return f"is not a parameter of this page (it takes: {known})"
    if kind == "string_pattern_mismatch":
        field = str(error["loc"][0]) if error["loc"] else ""
        return PATTERN_RULES.get(
            field, "must be a Kubernetes name: lower-case letters, digits and '-'"
        )
    if kind == "enum":
        return f"must be one of {', '.join(s.value for s in JobStatus)}"
    message = error["msg"] or "is not valid"
    return message[0].lower() + message[1:]


def parse_query(model: type[Q], values: Mapping[str, str]) -> Q:
    """`values` (a query string or form: one value per key, empty ones meaning "not given")
    as a `model`, or BadQuery naming each field and the rule it breaks."""
    given = {k: v.strip() for k, v in values.items() if v.strip() != ""}
    try:
        return model.model_validate(given)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            field = ".".join(str(part) for part in error["loc"]) or "query"
            shown = given.get(field)
            got = f" (got {shown[:60]!r})" if shown is not None else ""
            problems.append(f"{field}: {_rule(error, model)}{got}")
        raise BadQuery(problems) from None
