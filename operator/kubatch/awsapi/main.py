"""Run the AWS Batch API: `kubatch api` (or `python -m kubatch.awsapi`)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..kube.client import Client
from ..serving import credentials, serve_until_stopped
from .names import Arns
from .server import BatchApi, SecretKeys

log = logging.getLogger("kubatch.awsapi")


async def serve(
    kubeconfig: str | None,
    host: str,
    port: int,
    secret: str,
    regions: list[Arns],
    ready_file: Path | None = None,
) -> None:
    namespace, _, name = secret.rpartition("/")
    client = Client(credentials(kubeconfig), qps=100, burst=200)
    keys = SecretKeys(client, namespace or "default", name)
    try:
        await keys.load()
    except Exception as e:  # reported, and the server still starts
        log.warning("access keys not read yet (%s): every request is refused until they are", e)
    api = BatchApi(client, regions, keys)
    await api.start()
    try:
        await serve_until_stopped(
            api.app(),
            host,
            port,
            f"AWS Batch API (region {', '.join(a.region for a in regions)}, "
            f"account {regions[0].account})",
            log,
            ready_file,
        )
    finally:
        await api.caches.stop()
        await client.close()
