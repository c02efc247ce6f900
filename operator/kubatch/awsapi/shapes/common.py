"""What every shape shares: AWS times, names and tags of objects, and the checks of a
request's fields (pure: no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ...api import times
from ...api.common import Obj
from ...keys import ANNOTATION_AWS_FIELDS, ANNOTATION_AWS_NAME, ANNOTATION_AWS_TAGS
from ..errors import ClientError


def millis(value: str | datetime | None) -> int | None:
    """A time (as Kubernetes writes it, or read through a model) as AWS's epoch
    milliseconds."""
    when = value if isinstance(value, datetime) else times.parse_time(value)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def drop_none(values: Mapping[str, Any]) -> Obj:
    return {k: v for k, v in values.items() if v is not None}


def aws_name(obj: Obj) -> str:
    meta = obj["metadata"]
    return str((meta.get("annotations") or {}).get(ANNOTATION_AWS_NAME) or meta["name"])


def aws_fields(obj: Obj) -> Obj:
    """What the AWS request that made (or last updated) `obj` gave that Kubatch keeps as given
    but has no field for."""
    held = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_AWS_FIELDS)
    found: Obj = json.loads(held) if held else {}
    return found


def tags_of(obj: Obj) -> dict[str, str]:
    """A resource's tags: those set through TagResource once any were, else its spec's."""
    annotated = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_AWS_TAGS)
    if annotated is not None:
        found: dict[str, str] = json.loads(annotated)
        return found
    return dict((obj.get("spec") or {}).get("tags") or {})


def expect(value: Any, kind: type | tuple[type, ...], field: str, what: str) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ClientError(f"{field} must be {what}")
    return value


def string_map(value: Any, field: str) -> dict[str, str]:
    expect(value, dict, field, "a map of strings")
    if value and not all(isinstance(v, str) for v in value.values()):
        raise ClientError(f"{field} must be a map of strings")
    return dict(value or {})
