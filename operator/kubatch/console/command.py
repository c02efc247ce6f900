"""`kubatch console`: the web console on a port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ..server_options import log_to_stderr, server_options

ACTIONS = ("none", "all", "rbac")


@click.command()
@server_options(default_port=8431)
@click.option(
    "--actions",
    type=click.Choice(ACTIONS),
    default="none",
    show_default=True,
    help="who may cancel and terminate jobs: none (read-only), all (anyone who reaches the "
    "console), rbac (the user an authenticating proxy names, when Kubernetes RBAC lets that "
    "user patch the job)",
)
@click.option(
    "--user-header",
    default="X-Forwarded-User",
    show_default=True,
    help="with --actions rbac: the header the proxy names the user in",
)
@click.option(
    "--groups-header",
    default="X-Forwarded-Groups",
    show_default=True,
    help="with --actions rbac: the header the proxy lists the user's groups in (comma-separated)",
)
@click.pass_obj
def console(
    ctx: object,
    host: str,
    port: int,
    actions: str,
    user_header: str,
    groups_header: str,
    ready_file: Path | None,
) -> None:
    """Serve the web console: queues, environments, jobs, logs, definitions, schedules."""
    from .main import serve
    from .server import Actions

    log_to_stderr()
    kubeconfig = getattr(ctx, "kubeconfig", None)
    asyncio.run(
        serve(kubeconfig, host, port, Actions(actions), user_header, groups_header, ready_file)
    )
