"""`unmanaged`: the pool is whatever nodes match the environment's labels; never scaled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .types import KubeClient, ResizeRequest, ResizeResult


class UnmanagedProvider:
    name = "unmanaged"
    tolerations: tuple[Mapping[str, str], ...] = ()

    def check(self, settings: Mapping[str, Any]) -> str | None:
        return None if not settings else "the unmanaged provider takes no settings"

    async def resize(self, request: ResizeRequest, client: KubeClient) -> ResizeResult | None:
        return None
