"""What every shape shares: AWS times, names and tags of objects, and the checks of a
request's fields (pure: no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...api.common import Obj
from ...keys import ANNOTATION_AWS_NAME, ANNOTATION_AWS_TAGS
from ..errors import ClientError


def millis(value: str | None) -> int | None:
    """An RFC 3339 time (as Kubernetes writes it) as AWS's epoch milliseconds."""
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def drop_none(values: Mapping[str, Any]) -> Obj:
    return {k: v for k, v in values.items() if v is not None}


def aws_name(obj: Obj) -> str:
    meta = obj["metadata"]
    return str((meta.get("annotations") or {}).get(ANNOTATION_AWS_NAME) or meta["name"])


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
