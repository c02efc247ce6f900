"""The JSON merge patch between two states of an object, so that status writes carry only
what changed (and remove what is gone: a merge patch keeps keys it does not mention)."""

from __future__ import annotations

from typing import Any


def merge_diff(old: Any, new: Any) -> Any:
    """A merge patch that turns `old` into `new` (`new` holds no None values). Equal inputs
    give an empty dict."""
    if isinstance(old, dict) and isinstance(new, dict):
        patch: dict[str, Any] = dict.fromkeys(old.keys() - new.keys())
        for key, value in new.items():
            if key not in old:
                patch[key] = value
            elif old[key] != value:
                patch[key] = merge_diff(old[key], value)
        return patch
    return new
