"""`kubatch submit`: a BatchJob from flags (or a manifest), optionally waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
import urllib3
from kubernetes.client.rest import ApiException

from ..api import (
    BATCHJOBS,
    GROUP,
    JOBDEFINITIONS,
    JOBQUEUES,
    VERSION,
    InvalidManifest,
    parse,
)
from ..api.batchjob import BatchJobStatus
from ..api.common import TERMINAL, JobStatus
from .context import (
    Context,
    Failure,
    api_errors,
    emit,
    get_job,
    output_option,
    pass_context,
)


def _key_values(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=what)
        result[key] = value
    return result


def build_job(
    name: str | None,
    queue: str,
    definition: str,
    array_size: int | None,
    depends_on: tuple[str, ...],
    parameters: tuple[str, ...],
    env: tuple[str, ...],
    vcpus: str | None,
    memory: str | None,
    gpus: int | None,
    command: tuple[str, ...],
    attempts: int | None,
    timeout: int | None,
    annotations: tuple[str, ...] = (),
    share_identifier: str | None = None,
    scheduling_priority: int | None = None,
    tags: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The BatchJob manifest for the submit options (validated by the caller)."""
    spec: dict[str, Any] = {"jobQueue": queue, "jobDefinition": definition}
    if array_size is not None:
        spec["arrayProperties"] = {"size": array_size}
    deps = []
    for dep in depends_on:
        job, _, kind = dep.partition("=")
        entry: dict[str, str] = {}
        if job and job != "SEQUENTIAL":
            entry["jobName"] = job
        if kind or job == "SEQUENTIAL":
            entry["type"] = kind or "SEQUENTIAL"
        deps.append(entry)
    if deps:
        spec["dependsOn"] = deps
    if parameters:
        spec["parameters"] = _key_values(parameters, "--parameter")
    overrides: dict[str, Any] = {}
    if command:
        overrides["command"] = list(command)
    if env:
        overrides["environment"] = [
            {"name": k, "value": v} for k, v in _key_values(env, "--env").items()
        ]
    requirements = [
        {"type": kind, "value": str(value)}
        for kind, value in (("VCPU", vcpus), ("MEMORY", memory), ("GPU", gpus))
        if value is not None
    ]
    if requirements:
        overrides["resourceRequirements"] = requirements
    if overrides:
        spec["containerOverrides"] = overrides
    if attempts is not None:
        spec["retryStrategy"] = {"attempts": attempts}
    if timeout is not None:
        spec["timeout"] = {"attemptDurationSeconds": timeout}
    if share_identifier is not None:
        spec["shareIdentifier"] = share_identifier
    if scheduling_priority is not None:
        spec["schedulingPriorityOverride"] = scheduling_priority
    if tags:
        spec["tags"] = _key_values(tags, "--tag")
    metadata: dict[str, Any] = (
        {"name": name} if name else {"generateName": f"{definition.partition(':')[0]}-"}
    )
    if annotations:
        metadata["annotations"] = _key_values(annotations, "--annotation")
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BatchJob",
        "metadata": metadata,
        "spec": spec,
    }


@click.command()
@click.argument("name", required=False)
@click.option("--queue", "-q", required=True, help="JobQueue")
@click.option("--definition", "-d", required=True, help='JobDefinition: "name" or "name:revision"')
@click.option("--array-size", type=int, help="run an array job of this many children")
@click.option(
    "--depends-on",
    multiple=True,
    metavar="JOB[=TYPE]",
    help="a dependency: job, job:index, job=N_TO_N, job=AFTER_ANY, or SEQUENTIAL",
)
@click.option("--parameter", "-p", multiple=True, metavar="KEY=VALUE", help="a Ref:: parameter")
@click.option("--env", "-e", multiple=True, metavar="NAME=VALUE", help="an environment override")
@click.option("--vcpus", help='VCPU override ("2", "0.5", "500m")')
@click.option("--memory", help='MEMORY override (MiB "2048", or "2Gi")')
@click.option("--gpus", type=int, help="GPU override")
@click.option("--attempts", type=int, help="retryStrategy.attempts override")
@click.option("--timeout", type=int, help="attemptDurationSeconds override (60 or more)")
@click.option("--share-identifier", help="the fair-share identifier (fair-share queues)")
@click.option("--scheduling-priority", type=int, help="schedulingPriorityOverride (0-9999)")
@click.option("--tag", multiple=True, metavar="KEY=VALUE", help="a tag of the job")
@click.option(
    "--annotation", "-a", multiple=True, metavar="KEY=VALUE", help="an annotation of the job"
)
@click.option("--wait", is_flag=True, help="wait until the job ends; exit 1 unless it SUCCEEDED")
@click.option(
    "--follow", "-f", is_flag=True, help="like --wait, printing each change as it happens"
)
@click.option(
    "--wait-timeout",
    type=float,
    metavar="SECONDS",
    help="with --wait or --follow: give up after this long (exit 1)",
)
@click.argument("command", nargs=-1)
@output_option
@pass_context
def submit(
    ctx: Context,
    name: str | None,
    queue: str,
    definition: str,
    array_size: int | None,
    depends_on: tuple[str, ...],
    parameter: tuple[str, ...],
    env: tuple[str, ...],
    vcpus: str | None,
    memory: str | None,
    gpus: int | None,
    attempts: int | None,
    timeout: int | None,
    share_identifier: str | None,
    scheduling_priority: int | None,
    tag: tuple[str, ...],
    annotation: tuple[str, ...],
    wait: bool,
    follow: bool,
    wait_timeout: float | None,
    command: tuple[str, ...],
) -> None:
    """Submit a job (arguments after -- replace the definition's command)."""
    manifest = build_job(
        name,
        queue,
        definition,
        array_size,
        depends_on,
        parameter,
        env,
        vcpus,
        memory,
        gpus,
        command,
        attempts,
        timeout,
        annotation,
        share_identifier,
        scheduling_priority,
        tag,
    )
    try:
        parse(
            {
                **manifest,
                "metadata": {
                    **manifest["metadata"],
                    "name": manifest["metadata"].get("name") or "x",
                },
            }
        )
    except InvalidManifest as e:
        raise click.UsageError("\n".join(e.errors)) from None
    _warn_if_missing(ctx, queue, definition)
    with api_errors("submitting the job"):
        created = ctx.custom.create_namespaced_custom_object(
            GROUP, VERSION, ctx.ns, BATCHJOBS, manifest
        )
    job_name = created["metadata"]["name"]
    if ctx.output != "table":
        emit(ctx, created, lambda: "")
    else:
        click.echo(f"submitted BatchJob {ctx.ns}/{job_name} (uid {created['metadata']['uid']})")
    if wait or follow:
        status = watch(ctx, job_name, follow, wait_timeout)
        outcome = f"{job_name} {status.status} after {status.attempt_count} attempt(s)"
        if status.status != JobStatus.SUCCEEDED:
            raise Failure(f"{outcome}: {status.status_reason or ''}")
        click.echo(outcome)


def _warn_if_missing(ctx: Context, queue: str, definition: str) -> None:
    """The job would wait for them: say so, but submit (objects may come in any order)."""
    name = definition.partition(":")[0]
    checks: tuple[tuple[str, Callable[[], object]], ...] = (
        (
            "JobQueue",
            lambda: ctx.custom.get_cluster_custom_object(GROUP, VERSION, JOBQUEUES, queue),
        ),
        (
            "JobDefinition",
            lambda: ctx.custom.get_namespaced_custom_object(
                GROUP, VERSION, ctx.ns, JOBDEFINITIONS, name
            ),
        ),
    )
    for kind, read in checks:
        try:
            read()
        except ApiException as e:
            if e.status == 404:
                subject = queue if kind == "JobQueue" else f"{ctx.ns}/{name}"
                click.echo(
                    f"warning: {kind} {subject} does not exist yet: the job waits until it does",
                    err=True,
                )
        except (urllib3.exceptions.HTTPError, OSError):
            return  # submitting will say the cluster cannot be reached


def _line(status: BatchJobStatus) -> str:
    text: str = status.status or JobStatus.SUBMITTED
    array = status.array_properties
    if array:
        counts = array.status_summary.wire()
        text += " " + " ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
    if status.status_reason:
        text += f" ({status.status_reason})"
    return text


def watch(
    ctx: Context, name: str, follow: bool, timeout: float | None = None, interval: float = 0.5
) -> BatchJobStatus:
    last = ""
    began = time.monotonic()
    while True:
        status = BatchJobStatus.of(get_job(ctx, name))
        line = _line(status)
        if follow and line != last:
            click.echo(f"{datetime.now().strftime('%H:%M:%S')}  {name}  {line}")
            last = line
        if status.status in TERMINAL:
            return status
        if timeout is not None and time.monotonic() - began > timeout:
            raise Failure(
                f"{name} is still {status.status or JobStatus.SUBMITTED} after {timeout:g}s"
            )
        time.sleep(interval)
