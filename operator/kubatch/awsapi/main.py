"""Run the AWS Batch API: `kubatch api` (or `python -m kubatch.awsapi`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from aiohttp import web

from ..kube.client import Client, Credentials
from .names import Arns
from .server import BatchApi, SecretKeys

log = logging.getLogger("kubatch.awsapi")


def credentials(kubeconfig: str | None) -> Credentials:
    """A kubeconfig when one is given or found, else the pod's ServiceAccount (in a cluster)."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if (
        path
        or (Path.home() / ".kube" / "config").exists()
        or not os.environ.get("KUBERNETES_SERVICE_HOST")
    ):
        return Credentials.from_kubeconfig(path)
    return Credentials.in_cluster()


async def serve(
    kubeconfig: str | None,
    host: str,
    port: int,
    secret: str,
    arns: Arns,
    ready_file: Path | None = None,
) -> None:
    namespace, _, name = secret.rpartition("/")
    client = Client(credentials(kubeconfig), qps=100, burst=200)
    keys = SecretKeys(client, namespace or "default", name)
    try:
        await keys.load()
    except Exception as e:  # reported, and the server still starts
        log.warning("access keys not read yet (%s): every request is refused until they are", e)
    api = BatchApi(client, arns, keys)
    await api.start()
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info(
        "AWS Batch API on http://%s:%s (region %s, account %s)",
        host,
        bound,
        arns.region,
        arns.account,
    )
    if ready_file is not None:
        ready_file.write_text(f"http://{host}:{bound}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await api.caches.stop()
        await client.close()
