"""`kubatch cancel` and `kubatch terminate`: the spec's stop requests."""

from __future__ import annotations

from typing import Any

import click

from ..api import (
    BATCHJOBS,
    GROUP,
    VERSION,
)
from .context import (
    Context,
    api_errors,
    get_job,
    pass_context,
)


def _stop(ctx: Context, kind: str, name: str, reason: str, index: str | None) -> None:
    get_job(ctx, name)
    request: dict[str, Any] = {"reason": reason}
    if index:
        request["arrayIndexes"] = index
    with api_errors(f"{kind} {name}"):
        ctx.custom.patch_namespaced_custom_object(
            GROUP, VERSION, ctx.ns, BATCHJOBS, name, {"spec": {kind: request}}
        )
    click.echo(f"{kind} requested for {ctx.ns}/{name}: {reason}")


def _stop_command(kind: str, help_text: str) -> click.Command:
    @click.command(name=kind, help=help_text)
    @click.argument("name")
    @click.option("--reason", "-r", required=True)
    @click.option("--index", help='only these array children, e.g. "3" or "0-4,9"')
    @pass_context
    def command(ctx: Context, name: str, reason: str, index: str | None) -> None:
        _stop(ctx, kind, name, reason, index)

    return command


cancel = _stop_command(
    "cancel", "Cancel a job that has not started (STARTING and RUNNING jobs go on)."
)
terminate = _stop_command(
    "terminate", "Stop a job wherever it is: running attempts get SIGTERM, then SIGKILL 30 s later."
)
