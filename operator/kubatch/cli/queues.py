"""`kubatch queues` and `kubatch environments`: the platform objects with their status."""

from __future__ import annotations

import click
from rich.table import Table

from ..api import (
    COMPUTEENVIRONMENTS,
    GROUP,
    JOBQUEUES,
    VERSION,
)
from ..api.computeenvironment import ComputeEnvironmentStatus
from ..api.jobqueue import JobQueueStatus
from .context import (
    STATES,
    Context,
    age,
    api_errors,
    emit,
    output_option,
    pass_context,
)


@click.command()
@output_option
@pass_context
def queues(ctx: Context) -> None:
    """Job queues: priority, state, jobs per state, oldest wait."""
    with api_errors("listing queues"):
        items = ctx.custom.list_cluster_custom_object(GROUP, VERSION, JOBQUEUES)["items"]

    def render() -> Table:
        table = Table(box=None, pad_edge=False)
        for column in ("NAME", "PRIORITY", "STATE", "STATUS", *STATES, "OLDEST WAIT"):
            table.add_column(column)
        for q in sorted(items, key=lambda q: -q["spec"]["priority"]):
            s = JobQueueStatus.of(q)
            counts = s.job_counts.wire()
            table.add_row(
                q["metadata"]["name"],
                str(q["spec"]["priority"]),
                q["spec"].get("state", "ENABLED"),
                s.status or "",
                *(str(counts.get(state, 0)) for state in STATES),
                age(s.oldest_runnable_time),
            )
        return table

    emit(ctx, items, render)


@click.command()
@output_option
@pass_context
def environments(ctx: Context) -> None:
    """Compute environments: desired, ready and allocated capacity."""
    with api_errors("listing compute environments"):
        items = ctx.custom.list_cluster_custom_object(GROUP, VERSION, COMPUTEENVIRONMENTS)["items"]

    def render() -> Table:
        table = Table(box=None, pad_edge=False)
        for column in (
            "NAME",
            "TYPE",
            "STATE",
            "STATUS",
            "MIN",
            "DESIRED",
            "READY",
            "ALLOCATED",
            "MAX",
            "NODES",
            "REASON",
        ):
            table.add_column(column)
        for e in items:
            s = ComputeEnvironmentStatus.of(e)
            resources = e["spec"].get("computeResources") or {}
            nodes = ", ".join(f"{k}={v}" for k, v in s.nodes_by_type.items())
            written = s.status is not None
            table.add_row(
                e["metadata"]["name"],
                e["spec"].get("type", "MANAGED"),
                e["spec"].get("state", "ENABLED"),
                s.status or "",
                str(resources.get("minvCpus", "")),
                *(
                    f"{v:g}" if written else ""
                    for v in (s.desiredv_cpus, s.readyv_cpus, s.allocatedv_cpus)
                ),
                str(resources.get("maxvCpus", "")),
                nodes,
                s.status_reason or "",
            )
        return table

    emit(ctx, items, render)
