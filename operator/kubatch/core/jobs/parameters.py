"""A job's parameters in its command: "Ref::name" placeholders replaced (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Replace "Ref::name" placeholders with parameter values; unknown ones stay as written.

    The longest parameter name wins, so "Ref::input_file" is not read as "Ref::input".
    """
    if not parameters:
        return list(command)
    names = sorted(parameters, key=len, reverse=True)
    pattern = re.compile("Ref::(" + "|".join(re.escape(n) for n in names) + ")")
    return [pattern.sub(lambda m: parameters[m.group(1)], part) for part in command]
