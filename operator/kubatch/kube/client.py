"""A small asynchronous Kubernetes REST client on aiohttp: the operator's reads and writes,
the simulated kubelet's, and the autoscaling providers'. Writes are paced by a token
bucket; transient failures (429, 5xx, connection errors) are retried with back-off."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..api.common import Obj
from .errors import RETRYABLE, ApiError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod's kubelet mounts its ServiceAccount's token, CA and namespace."""

Items = list[Obj]
Handler = Callable[[str, Obj], Awaitable[None] | None]

MERGE_PATCH = "application/merge-patch+json"


class TokenBucket:
    """At most `burst` writes at once, refilled at `qps` per second."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def level(self) -> float:
        """Tokens there are now (without taking one)."""
        now = time.monotonic()
        return min(self.capacity, self.tokens + (now - self.updated) * self.qps)

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.qps)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.qps)


@dataclass(kw_only=True)
class Credentials:
    server: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_path: str | None = None
    ca_data: bytes | None = None
    certificate_path: str | None = None
    certificate_data: bytes | None = None
    private_key_path: str | None = None
    private_key_data: bytes | None = None
    insecure: bool = False

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> Credentials:
        """Read a kubeconfig (KUBECONFIG or ~/.kube/config) with the kubernetes client's loader."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=path, client_configuration=configuration)
        keys = configuration.api_key or {}
        # Where the client keeps a kubeconfig's token depends on its version.
        token = keys.get("BearerToken") or keys.get("authorization") or ""
        return cls(
            server=configuration.host,
            token=token.removeprefix("Bearer ").strip() or None,
            username=configuration.username or None,
            password=configuration.password or None,
            ca_path=configuration.ssl_ca_cert,
            certificate_path=configuration.cert_file,
            private_key_path=configuration.key_file,
            insecure=not configuration.verify_ssl,
        )

    @classmethod
    def from_kubeconfig_text(cls, text: str) -> Credentials:
        """A kubeconfig given as text (a Secret's), read as from_kubeconfig reads a file:
        its current context. Raises ValueError saying what is wrong with it."""
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as file:
            file.write(text)
            file.flush()
            try:
                return cls.from_kubeconfig(file.name)
            except Exception as e:  # the loader raises many kinds, all meaning "unusable"
                raise ValueError(f"not a usable kubeconfig: {e}") from e

    @classmethod
    def in_cluster(cls) -> Credentials:
        """The pod's ServiceAccount, as client-go's in-cluster config finds it: the API
        server at KUBERNETES_SERVICE_HOST and _PORT, the token and CA its kubelet mounts.
        (The kubernetes client's own loader leaves the token to a refresh hook, which a
        Configuration read this way never calls: requests went out anonymous.)"""
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
        address = f"[{host}]" if ":" in host else host
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        return cls(
            server=f"https://{address}:{port}", token=token, ca_path=str(SERVICE_ACCOUNT / "ca.crt")
        )

    @classmethod
    def from_kopf(cls, info: Any) -> Credentials:
        return cls(
            server=info.server,
            token=info.token,
            username=info.username,
            password=info.password,
            ca_path=info.ca_path,
            ca_data=info.ca_data,
            certificate_path=info.certificate_path,
            certificate_data=info.certificate_data,
            private_key_path=info.private_key_path,
            private_key_data=info.private_key_data,
            insecure=bool(info.insecure),
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            return False
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.ca_data:
            context.load_verify_locations(cadata=_pem(self.ca_data))
        cert, key = self.certificate_path, self.private_key_path
        if self.certificate_data and self.private_key_data:
            cert, key = _tempfile(self.certificate_data), _tempfile(self.private_key_data)
        if cert and key:
            context.load_cert_chain(cert, key)
        return context

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username and self.password:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}


def _pem(data: bytes) -> str:
    text = data.decode() if isinstance(data, bytes) else str(data)
    return text if "BEGIN" in text else base64.b64decode(text).decode()


def _tempfile(data: bytes) -> str:
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=".pem")  # noqa: SIM115
    handle.write(_pem(data).encode())
    handle.close()
    return handle.name


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


def resource_of(path: str) -> str:
    """The resource (and subresource) a request path names: "pods", "batchjobs/status"."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return "namespaces" if parts[-1:] == ["namespaces"] else "unknown"
    return rest[0] + (f"/{rest[2]}" if len(rest) >= 3 else "")


THROTTLED_RETRIES = 30
"""How many 429s one request waits out (each as long as Retry-After says, the API server's
is 1 s; without it, a growing back-off) before the error is the caller's: about half a
minute of a server that sheds load."""


def _retry_after(value: str) -> float:
    """Retry-After in seconds (the API server sends whole seconds); 1 when it is a date."""
    try:
        return min(max(float(value), 0.0), 60.0)
    except ValueError:
        return 1.0


class Client:
    def __init__(
        self,
        credentials: Credentials,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
        retries: int = 5,
    ) -> None:
        self.credentials = credentials
        self.bucket = TokenBucket(qps, burst)
        self.retries = retries
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "retries": 0, "throttled": 0}
        self.calls: Counter[tuple[str, str]] = Counter()
        """Requests per (verb, resource), e.g. ("POST", "pods"), ("PATCH", "batchjobs/status")."""

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(), limit=32)
            self._session = aiohttp.ClientSession(
                base_url=self.credentials.server.rstrip("/") + "/",
                connector=connector,
                headers=self.credentials.headers(),
                timeout=self.timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        write: bool = False,
    ) -> Obj:
        session = await self.session()
        data = None if body is None else json.dumps(body)
        delay = 0.1
        attempt = throttled = 0
        while True:
            if write:
                await self.bucket.take()
            self.stats["requests"] += 1
            self.calls[(method, resource_of(path))] += 1
            try:
                async with session.request(
                    method,
                    path.lstrip("/"),
                    data=data,
                    params=params,
                    headers={"Content-Type": content_type} if data is not None else None,
                ) as response:
                    text = await response.text()
                    if response.status < 400:
                        return json.loads(text) if text else {}
                    try:
                        status = json.loads(text)
                    except ValueError:
                        status = {"message": text}
                    error = ApiError(
                        response.status, status.get("reason", ""), status.get("message", text)
                    )
                    if response.status == 429 and throttled < THROTTLED_RETRIES:
                        # Throttled: the server did nothing and says when to come back. A
                        # burst waits as long as it must, without spending its retries.
                        throttled += 1
                        self.stats["throttled"] += 1
                        after = response.headers.get("Retry-After")
                        wait = _retry_after(after) if after is not None else delay
                        await asyncio.sleep(wait * (0.5 + random.random()))
                        delay = min(delay * 2, 5.0)
                        continue
                    if response.status not in RETRYABLE or attempt == self.retries:
                        self.stats["errors"] += 1
                        raise error
            except (TimeoutError, aiohttp.ClientError) as e:
                # No answer, a dropped connection, or an answer cut short (a server killed
                # mid-reply raises ClientPayloadError): the request may or may not have been
                # applied; it is tried again like any transient failure.
                if attempt == self.retries:
                    self.stats["errors"] += 1
                    raise ApiError(0, "ConnectionError", str(e)) from e
            attempt += 1
            self.stats["retries"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def list(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        items, _ = await self.listing(api_version, plural, namespace, label_selector)
        return items

    async def listing(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[Items, str]:
        """The objects and the list's resourceVersion (to watch from)."""
        params = {"labelSelector": label_selector} if label_selector else None
        body = await self.request(
            "GET", resource_path(api_version, plural, namespace), params=params
        )
        kind = body.get("kind", "").removesuffix("List")
        items: Items = body.get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def watch(
        self,
        api_version: str,
        plural: str,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Events after `resource_version` until the server ends the watch."""
        session = await self.session()
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        path = resource_path(api_version, plural, namespace).lstrip("/")
        async with session.get(path, params=params, timeout=timeout) as response:
            if response.status >= 400:
                raise ApiError(response.status, "WatchFailed", await response.text())
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                yield event["type"], event["object"]

    async def informer(
        self,
        api_version: str,
        plural: str,
        handler: Handler,
        namespace: str | None = None,
        label_selector: str | None = None,
        listed: Callable[[Sequence[Obj]], None] | None = None,
        since: str = "",
    ) -> None:
        """List, then watch for ever, calling `handler(type, object)` for every object and
        change; lists again when the watch expires (410) and retries on errors. With
        `listed`, each list's items go to it at once (to replace a cache, or to tell what
        went while nobody watched) instead of to `handler` one by one. With `since` (the
        version of a list the caller made), it watches from there without listing first."""
        log = logging.getLogger(__name__)
        resource_version = since
        while True:
            try:
                if not resource_version:
                    found, resource_version = await self.listing(
                        api_version, plural, namespace, label_selector
                    )
                    if listed is not None:
                        listed(found)
                    for item in found if listed is None else ():
                        result = handler("ADDED", item)
                        if result is not None:
                            await result
                async for kind, obj in self.watch(
                    api_version, plural, resource_version, namespace, label_selector
                ):
                    if kind == "ERROR":
                        resource_version = ""
                        break
                    meta = obj.get("metadata", {})
                    resource_version = meta.get("resourceVersion", resource_version)
                    if kind == "BOOKMARK":
                        continue
                    result = handler(kind, obj)
                    if result is not None:
                        await result
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("watch of %s failed (%s); retrying", plural, e)
                resource_version = ""
                await asyncio.sleep(1.0)

    async def text(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """A GET answered with text, not JSON (a pod's log); not retried."""
        session = await self.session()
        self.stats["requests"] += 1
        self.calls[("GET", resource_of(path))] += 1
        try:
            async with session.get(path.lstrip("/"), params=params) as response:
                text = await response.text(errors="replace")
                if response.status < 400:
                    return text
                try:
                    status = json.loads(text)
                except ValueError:
                    status = {"message": text}
                self.stats["errors"] += 1
                raise ApiError(
                    response.status, status.get("reason", ""), status.get("message", text)
                )
        except (TimeoutError, aiohttp.ClientError) as e:
            self.stats["errors"] += 1
            raise ApiError(0, "ConnectionError", str(e)) from e

    async def get(
        self, api_version: str, plural: str, name: str, namespace: str | None = None
    ) -> Obj:
        return await self.request("GET", resource_path(api_version, plural, namespace, name))

    async def create(
        self, api_version: str, plural: str, body: Obj, namespace: str | None = None
    ) -> Obj:
        return await self.request(
            "POST", resource_path(api_version, plural, namespace), body, write=True
        )

    async def create_subresource(
        self,
        api_version: str,
        plural: str,
        name: str,
        subresource: str,
        body: Obj,
        namespace: str | None = None,
    ) -> Obj:
        """POST to a subresource, e.g. a pod's binding."""
        path = resource_path(api_version, plural, namespace, name, subresource)
        return await self.request("POST", path, body, write=True)

    async def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        path = resource_path(api_version, plural, namespace, name, subresource)
        return await self.request("PATCH", path, patch, content_type=MERGE_PATCH, write=True)

    async def delete(
        self,
        api_version: str,
        plural: str,
        name: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
    ) -> Obj:
        params = {"gracePeriodSeconds": str(grace_seconds)} if grace_seconds is not None else None
        path = resource_path(api_version, plural, namespace, name)
        return await self.request("DELETE", path, params=params, write=True)
