"""Times as the API writes them (RFC 3339, `Z` for UTC), read back, and shown as kubectl shows
them: the one place the CLI, the console and core read a timestamp."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime | None:
    """An API timestamp; None for a missing or malformed one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def stamp(value: datetime | None) -> str:
    """A time as the API writes it (RFC 3339 in UTC, `Z`, milliseconds when it has them);
    "" for none."""
    if value is None:
        return ""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def age(value: str | datetime | None, now: datetime) -> str:
    """ "5s", "3m", "2h", "4d": how long ago, as kubectl says it."""
    then = _when(value)
    if then is None:
        return ""
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(value: str | datetime | None) -> datetime | None:
    return value if isinstance(value, datetime) else parse_time(value)


def duration(start: str | datetime | None, stop: str | datetime | None) -> str:
    """How long from start to stop: "42s", "3m05s", "2h10m"."""
    began, ended = _when(start), _when(stop)
    if began is None or ended is None:
        return ""
    seconds = max((ended - began).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
