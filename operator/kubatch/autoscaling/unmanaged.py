"""`unmanaged`: the pool is whatever nodes match the environment's labels; never scaled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..controller.client import Client
from ..core.world import ResizePool


class UnmanagedProvider:
    name = "unmanaged"
    tolerations: tuple[Mapping[str, str], ...] = ()

    def check(self, settings: Mapping[str, Any]) -> str | None:
        return None if not settings else "the unmanaged provider takes no settings"

    async def resize(self, request: ResizePool, client: Client) -> None:
        return None
