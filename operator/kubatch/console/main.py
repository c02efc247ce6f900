"""Run the web console: `kubatch console` (or `python -m kubatch.console`)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..kube.client import Client
from ..serving import credentials, serve_until_stopped
from .server import Actions, Console

log = logging.getLogger("kubatch.console")


async def serve(
    kubeconfig: str | None,
    host: str,
    port: int,
    actions: Actions,
    user_header: str,
    groups_header: str,
    ready_file: Path | None = None,
) -> None:
    client = Client(credentials(kubeconfig), qps=20, burst=40)
    console = Console(client, actions, user_header, groups_header)
    await console.start()
    try:
        await serve_until_stopped(
            console.app(), host, port, f"web console (actions: {actions.value})", log, ready_file
        )
    finally:
        await console.stop()
        await client.close()
