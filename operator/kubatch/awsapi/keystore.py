"""The access keys the AWS Batch API accepts, read from a Secret and refreshed."""

from __future__ import annotations

import asyncio
import base64
import time

from ..kube.client import Client
from ..kube.errors import ApiError
from .auth import AccessKey, read_keys
from .base import log


class SecretKeys:
    """Access keys from a Secret (key `credentials.yaml`): read again when a key it does not
    hold arrives (one read at a time, shared by the requests waiting for it) and every
    `refresh` seconds, so that new keys work at once and removed keys stop working without a
    restart."""

    def __init__(self, client: Client, namespace: str, name: str, refresh: float = 30.0) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.refresh = refresh
        self.keys: dict[str, AccessKey] = {}
        self.read_at = -refresh
        self.lock = asyncio.Lock()

    async def load(self) -> dict[str, AccessKey]:
        secret = await self.client.get("v1", "secrets", self.name, self.namespace)
        data = (secret.get("data") or {}).get("credentials.yaml")
        if data is None:
            raise ValueError(f"Secret {self.namespace}/{self.name} has no key credentials.yaml")
        self.keys = read_keys(
            base64.b64decode(data).decode(), f"Secret {self.namespace}/{self.name}"
        )
        return self.keys

    async def __call__(self, access_key_id: str) -> dict[str, AccessKey]:
        asked = time.monotonic()
        if asked - self.read_at < self.refresh and access_key_id in self.keys:
            return self.keys
        async with self.lock:
            if self.read_at >= asked:
                return self.keys  # read while this request waited
            try:
                await self.load()
            except (ApiError, ValueError) as e:
                log.warning("access keys not read again: %s", e)
            self.read_at = time.monotonic()
        return self.keys
