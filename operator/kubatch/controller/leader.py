"""Leader election on a coordination.k8s.io Lease: with several replicas, exactly one
schedules. The others wait; when the leader stops renewing, one of them takes over.

As client-go does: the leader renews every third of the lease, and counts itself leading
only while its last renewal is younger than the renew deadline (two thirds of the lease),
measured on the monotonic clock from the moment the renewing request was sent. `may_write()`
says so before every write: a leader that was paused (SIGSTOP, a long GC, a frozen VM) writes
nothing once it wakes past its deadline, even before it notices another leader."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ..kube.client import Client
from ..kube.errors import ApiError

log = logging.getLogger(__name__)

API = "coordination.k8s.io/v1"


def _micro(time: datetime) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LeaderElector:
    def __init__(
        self,
        client: Client,
        namespace: str,
        identity: str,
        name: str = "kubatch-operator",
        lease_seconds: float = 15.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.name = name
        self.lease_seconds = lease_seconds
        self.leading = False
        self.renewed: float | None = None
        """Monotonic time the last successful renewal was sent."""

    @property
    def renew_deadline(self) -> float:
        return self.lease_seconds * 2 / 3

    def may_write(self) -> bool:
        """Whether this instance surely still leads (checked before every write)."""
        if not self.leading or self.renewed is None:
            return False
        return time.monotonic() - self.renewed < self.renew_deadline

    async def _renew(self) -> bool:
        sent = time.monotonic()
        if await self._try():
            self.renewed = sent
            return True
        return False

    async def _try(self) -> bool:
        now = datetime.now(UTC)
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, int(self.lease_seconds)),
            "renewTime": _micro(now),
        }
        try:
            lease = await self.client.get(API, "leases", self.name, self.namespace)
        except ApiError as e:
            if not e.not_found:
                raise
            body = {
                "apiVersion": API,
                "kind": "Lease",
                "metadata": {"name": self.name},
                "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
            }
            try:
                await self.client.create(API, "leases", body, self.namespace)
            except ApiError as created:
                if created.conflict:
                    return False
                raise
            return True
        current = lease.get("spec") or {}
        holder = current.get("holderIdentity")
        renewed = _parse(current.get("renewTime")) or _parse(current.get("acquireTime"))
        duration = timedelta(
            seconds=float(current.get("leaseDurationSeconds") or self.lease_seconds)
        )
        expired = renewed is None or renewed + duration < now
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
        patch = {
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            "spec": spec,
        }
        try:
            await self.client.patch(API, "leases", self.name, patch, self.namespace)
        except ApiError as e:
            if e.conflict:
                return False
            raise
        return True

    async def acquire(self) -> None:
        """Return once this instance leads."""
        while True:
            try:
                if await self._renew():
                    self.leading = True
                    log.info(
                        "leading as %s (lease %s/%s)", self.identity, self.namespace, self.name
                    )
                    return
            except ApiError as e:
                log.warning("leader election: %s", e)
            await asyncio.sleep(self.lease_seconds / 4)

    async def keep(self) -> None:
        """Renew while leading; return when the lease could not be renewed in time."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                if await self._renew():
                    continue
            except ApiError as e:
                log.warning("leader election: %s", e)
            if not self.may_write():
                self.leading = False
                log.error("lost the lease %s/%s", self.namespace, self.name)
                return
