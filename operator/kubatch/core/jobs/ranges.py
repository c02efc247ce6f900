"""Compact sets of array indexes written as ranges ("0-4,7,9-12"), like Indexed Jobs'
completedIndexes."""

from __future__ import annotations

from collections.abc import Iterable


def format_ranges(indexes: Iterable[int]) -> str:
    """Sorted, merged ranges: [0, 1, 2, 4] -> "0-2,4"."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(set(indexes)):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def parse_ranges(text: str, size: int | None = None) -> list[int]:
    """ "0-2,4" -> [0, 1, 2, 4]. Raises ValueError on bad syntax, reversed ranges, or (when
    `size` is given) an index outside 0..size-1."""
    result: set[int] = set()
    if not text:
        return []
    for part in text.split(","):
        low_text, _, high_text = part.partition("-")
        low = int(low_text)
        high = int(high_text) if high_text else low
        if high < low:
            raise ValueError(f"range {part!r} runs backwards")
        if size is not None and high >= size:
            raise ValueError(f"index {high} is outside the array (size {size})")
        result.update(range(low, high + 1))
    return sorted(result)
