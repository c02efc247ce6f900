"""`kubatch describe` and `kubatch list`: a job in full, or jobs in a table."""

from __future__ import annotations

import click
from rich.table import Table

from ..api import BATCHJOBS, GROUP, VERSION, times
from ..api.batchjob import AttemptDetail, BatchJobStatus, NodeDetail, NodeStatus
from ..api.common import JobStatus, Obj
from .context import (
    STATES,
    Context,
    Failure,
    age,
    api_errors,
    emit,
    get_job,
    output_option,
    pass_context,
)


def node_of(name: str, node_index: int | None) -> tuple[str, int | None]:
    """ "job#2" (AWS Batch's name of a multi-node job's node) or --node-index 2."""
    base, mark, index = name.partition("#")
    if not mark:
        return name, node_index
    if not index.isdigit():
        raise click.UsageError(f"{name}: a node is named <job>#<index>, e.g. {base}#0")
    if node_index is not None and node_index != int(index):
        raise click.UsageError(f"{name} and --node-index {node_index} name different nodes")
    return base, int(index)


def nodes_of(status: BatchJobStatus, name: str, node_index: int | None) -> list[NodeDetail]:
    """A multi-node job's nodes (one when `node_index` is given)."""
    found = status.node_properties
    if node_index is None:
        return list(found.nodes) if found else []
    if not found:
        raise click.UsageError(f"{name} is not a multi-node job (or has not started): no nodes")
    nodes = [n for n in found.nodes if n.node_index == node_index]
    if not nodes:
        raise click.UsageError(
            f"{name} has no node {node_index}: its nodes are 0-{found.num_nodes - 1}"
        )
    return nodes


def _node_lines(found: NodeStatus, nodes: list[NodeDetail]) -> list[str]:
    lines = [
        f"Nodes:         {found.num_nodes}, main node {found.main_node}"
        + (f" ({found.main_node_address})" if found.main_node_address else ""),
        f"  {'node':<5} {'status':<10} {'#':<3} {'pod':<36} {'node name':<32} {'exit':<5} reason",
    ]
    for n in nodes:
        mark = "*" if n.is_main_node else ""
        exit_code = "" if n.exit_code is None else str(n.exit_code)
        reason = n.reason or n.status_reason or ""
        lines.append(
            f"  {str(n.node_index) + mark:<5} {n.status:<10} "
            f"{n.attempt:<3} {n.pod_name or '':<36} "
            f"{n.node_name or '':<32} {exit_code:<5} {reason}"
        )
    return lines


def _attempt_lines(attempts: list[AttemptDetail]) -> list[str]:
    lines = [
        "Attempts:",
        f"  {'#':<3} {'index':<6} {'pod':<36} {'node':<32} {'exit':<5} reason",
    ]
    for a in attempts:
        index = "" if a.array_index is None else str(a.array_index)
        exit_code = "" if a.exit_code is None else str(a.exit_code)
        reason = a.reason or a.status_reason or ""
        lines.append(
            f"  {a.attempt:<3} {index:<6} {a.pod_name or '':<36} "
            f"{a.node_name or '':<32} {exit_code:<5} {reason}"
        )
    return lines


def state_of(job: Obj) -> str:
    """A job's state as its status says it (SUBMITTED before the operator wrote any)."""
    return BatchJobStatus.of(job).status or JobStatus.SUBMITTED


@click.command()
@click.argument("name")
@click.option("--node-index", type=int, help="one node of a multi-node job (or name it job#N)")
@output_option
@pass_context
def describe(ctx: Context, name: str, node_index: int | None) -> None:
    """Status, reason, attempts, array summary, nodes, dependencies and queue position of a
    job."""
    name, node_index = node_of(name, node_index)
    job = get_job(ctx, name)
    spec, status = job["spec"], BatchJobStatus.of(job)
    nodes = nodes_of(status, name, node_index)

    def render() -> str:
        revision = status.job_definition_revision
        lines = [
            f"Name:          {name}",
            f"Namespace:     {ctx.ns}",
            f"Status:        {status.status or JobStatus.SUBMITTED}",
            f"Reason:        {status.status_reason or ''}",
            f"Queue:         {spec['jobQueue']}",
            f"Definition:    {spec['jobDefinition']}"
            + (f" (revision {revision})" if revision is not None else ""),
            f"Environment:   {status.compute_environment or ''}",
            f"Created:       {job['metadata'].get('creationTimestamp', '')}",
            f"Started:       {times.stamp(status.started_at)}",
            f"Stopped:       {times.stamp(status.stopped_at)}",
            f"Attempts:      {status.attempt_count}",
        ]
        if status.position_in_queue:
            lines.append(f"Position:      {status.position_in_queue} in {spec['jobQueue']}")
        array = status.array_properties
        if array:
            summary = array.status_summary.wire().items()
            counts = ", ".join(f"{k}={v}" for k, v in summary if v)
            lines.append(f"Array:         size {array.size}: {counts}")
            for state, ranges in sorted(array.indexes.items()):
                lines.append(f"  {state:<12} {ranges}")
        if nodes and status.node_properties:
            lines += _node_lines(status.node_properties, nodes)
        deps = spec.get("dependsOn") or []
        if deps:
            lines.append("Depends on:")
            for dep in deps:
                target = dep.get("jobName")
                state = ""
                if target:
                    try:
                        state = state_of(get_job(ctx, target.partition(":")[0]))
                    except Failure:
                        state = "does not exist yet"
                lines.append(
                    f"  {target or '(its own children)'} {dep.get('type', '')} {state}".rstrip()
                )
        if status.attempts:
            lines += _attempt_lines(status.attempts)
        return "\n".join(lines)

    emit(ctx, job, render)


@click.command(name="list")
@click.option("--queue", "-q", help="only jobs of this queue")
@click.option(
    "--status",
    "-s",
    type=click.Choice(STATES, case_sensitive=False),
    help="only jobs in this state",
)
@click.option("--all-namespaces", "-A", is_flag=True)
@output_option
@pass_context
def list_jobs(ctx: Context, queue: str | None, status: str | None, all_namespaces: bool) -> None:
    """Jobs, like aws batch list-jobs."""
    with api_errors("listing jobs"):
        if all_namespaces:
            items = ctx.custom.list_cluster_custom_object(GROUP, VERSION, BATCHJOBS)["items"]
        else:
            items = ctx.custom.list_namespaced_custom_object(GROUP, VERSION, ctx.ns, BATCHJOBS)[
                "items"
            ]
    jobs = [
        j
        for j in items
        if (queue is None or j["spec"]["jobQueue"] == queue)
        and (status is None or state_of(j) == status.upper())
    ]

    def render() -> Table:
        table = Table(box=None, pad_edge=False)
        for column in (["NAMESPACE"] if all_namespaces else []) + [
            "NAME",
            "STATUS",
            "QUEUE",
            "DEFINITION",
            "SIZE",
            "ATTEMPTS",
            "REASON",
            "AGE",
        ]:
            table.add_column(column)
        for j in jobs:
            s = BatchJobStatus.of(j)
            size = (j["spec"].get("arrayProperties") or {}).get("size")
            row = [
                j["metadata"]["name"],
                s.status or JobStatus.SUBMITTED,
                j["spec"]["jobQueue"],
                j["spec"]["jobDefinition"],
                "" if size is None else str(size),
                str(s.attempt_count),
                s.status_reason or "",
                age(j["metadata"].get("creationTimestamp")),
            ]
            table.add_row(*(([j["metadata"]["namespace"]] if all_namespaces else []) + row))
        return table

    emit(ctx, jobs, render)
