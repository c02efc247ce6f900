"""What the servers beside the operator (the AWS Batch API, the web console) share: how they
find the cluster and how they serve until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from aiohttp import web

from .kube.client import Credentials


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


async def serve_until_stopped(
    app: web.Application,
    host: str,
    port: int,
    what: str,
    log: logging.Logger,
    ready_file: Path | None = None,
) -> None:
    """Serve `app` on host:port (0: any free port) until SIGTERM or SIGINT; once it serves,
    log its URL and write it to `ready_file`."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("%s on http://%s:%s", what, host, bound)
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
