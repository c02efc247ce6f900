"""The daily commands: submit, describe, list, cancel, terminate, logs, queues, environments.

They talk to whatever cluster the kubeconfig names (the embedded one of `kubatch dev
--keep` included), print a table, JSON or YAML, and exit non-zero on errors with a message
that says what went wrong.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from rich.console import Console
from rich.table import Table

from ..api import (
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    GROUP,
    JOBDEFINITIONS,
    JOBQUEUES,
    VERSION,
    InvalidManifest,
    parse,
    times,
)
from ..api.common import JOB_STATES, TERMINAL, JobStatus
from ..keys import (
    LABEL_ARRAY_INDEX,
    LABEL_ATTEMPT,
    LABEL_JOB_NAME,
    LABEL_JOB_UID,
    LABEL_NODE_INDEX,
)

STATES = list(JOB_STATES)


class Failure(click.ClickException):
    """An error the user can act on; exit code 1."""


@dataclass(kw_only=True)
class Context:
    kubeconfig: str | None
    namespace: str | None
    output: str
    _api: client.ApiClient | None = None

    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            try:
                self._api = config.new_client_from_config(self.kubeconfig)
            except (ConfigException, FileNotFoundError, TypeError) as e:
                raise Failure(
                    f"no cluster configured: {e} (set KUBECONFIG or --kubeconfig)"
                ) from None
        return self._api

    @property
    def ns(self) -> str:
        if self.namespace:
            return self.namespace
        try:
            _, current = config.list_kube_config_contexts(self.kubeconfig)
            found: str = current.get("context", {}).get("namespace") or "default"
        except (ConfigException, FileNotFoundError, TypeError):
            found = "default"
        return found

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)


pass_context = click.make_pass_decorator(Context)
OUTPUTS = ("table", "json", "yaml")


def output_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """-o/--output after the subcommand too (kubatch list -o json), as before it."""

    def chosen(click_ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        found = click_ctx.find_object(Context)
        if value and found is not None:
            found.output = value

    option = click.option(
        "--output",
        "-o",
        type=click.Choice(OUTPUTS),
        callback=chosen,
        expose_value=False,
        help="table, json or yaml",
    )
    return option(command)


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn API and connection errors into messages."""
    try:
        yield
    except ApiException as e:
        if e.status == 404:
            raise Failure(f"{what} not found") from None
        try:
            message = json.loads(e.body).get("message", e.reason)
        except (TypeError, ValueError):
            message = e.reason
        raise Failure(f"{what}: {message}") from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise Failure(f"cannot reach the cluster: {e}") from None


def emit(ctx: Context, data: Any, table: Callable[[], Table | str]) -> None:
    """Print a table, or the objects as JSON or YAML: a list as kubectl prints one, a List."""
    if isinstance(data, list):
        data = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": data}
    if ctx.output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    elif ctx.output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False))
    else:
        rendered = table()
        if isinstance(rendered, str):
            click.echo(rendered)
        else:
            Console(width=160).print(rendered)


def age(timestamp: str | None) -> str:
    """How long ago, as kubectl says it ("5s", "3m", "2h", "4d")."""
    return times.age(timestamp, datetime.now(UTC))


def _job(ctx: Context, name: str) -> dict[str, Any]:
    with api_errors(f"BatchJob {name} in namespace {ctx.ns}"):
        found: dict[str, Any] = ctx.custom.get_namespaced_custom_object(
            GROUP, VERSION, ctx.ns, BATCHJOBS, name
        )
    return found


def _key_values(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=what)
        result[key] = value
    return result


# -- submit ------------------------------------------------------------------------------


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
        attempts_made = status.get("attemptCount", 0)
        outcome = f"{job_name} {status.get('status')} after {attempts_made} attempt(s)"
        if status.get("status") != JobStatus.SUCCEEDED:
            raise Failure(f"{outcome}: {status.get('statusReason', '')}")
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


def _line(status: dict[str, Any]) -> str:
    text = status.get("status") or JobStatus.SUBMITTED
    array = status.get("arrayProperties")
    if array:
        counts = array.get("statusSummary") or {}
        text += " " + " ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
    if status.get("statusReason"):
        text += f" ({status['statusReason']})"
    return text


def watch(
    ctx: Context, name: str, follow: bool, timeout: float | None = None, interval: float = 0.5
) -> dict[str, Any]:
    last = ""
    began = time.monotonic()
    while True:
        status = _job(ctx, name).get("status") or {}
        line = _line(status)
        if follow and line != last:
            click.echo(f"{datetime.now().strftime('%H:%M:%S')}  {name}  {line}")
            last = line
        if status.get("status") in TERMINAL:
            return status
        if timeout is not None and time.monotonic() - began > timeout:
            raise Failure(
                f"{name} is still {status.get('status') or JobStatus.SUBMITTED} after {timeout:g}s"
            )
        time.sleep(interval)


# -- describe and list ---------------------------------------------------------------------


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


def _nodes(status: dict[str, Any], name: str, node_index: int | None) -> list[dict[str, Any]]:
    """A multi-node job's nodes (one when `node_index` is given)."""
    found = status.get("nodeProperties")
    if node_index is None:
        return list((found or {}).get("nodes") or [])
    if not found:
        raise click.UsageError(f"{name} is not a multi-node job (or has not started): no nodes")
    nodes = [n for n in found.get("nodes") or [] if n.get("nodeIndex") == node_index]
    if not nodes:
        raise click.UsageError(
            f"{name} has no node {node_index}: its nodes are 0-{found['numNodes'] - 1}"
        )
    return nodes


def _node_lines(status: dict[str, Any], nodes: list[dict[str, Any]]) -> list[str]:
    found = status["nodeProperties"]
    lines = [
        f"Nodes:         {found['numNodes']}, main node {found['mainNode']}"
        + (f" ({found['mainNodeAddress']})" if found.get("mainNodeAddress") else ""),
        f"  {'node':<5} {'status':<10} {'#':<3} {'pod':<36} {'node name':<32} {'exit':<5} reason",
    ]
    for n in nodes:
        mark = "*" if n.get("isMainNode") else ""
        exit_code = "" if n.get("exitCode") is None else str(n["exitCode"])
        reason = n.get("reason") or n.get("statusReason") or ""
        lines.append(
            f"  {str(n['nodeIndex']) + mark:<5} {n.get('status', ''):<10} "
            f"{n.get('attempt', 0):<3} {n.get('podName') or '':<36} "
            f"{n.get('nodeName') or '':<32} {exit_code:<5} {reason}"
        )
    return lines


@click.command()
@click.argument("name")
@click.option("--node-index", type=int, help="one node of a multi-node job (or name it job#N)")
@output_option
@pass_context
def describe(ctx: Context, name: str, node_index: int | None) -> None:
    """Status, reason, attempts, array summary, nodes, dependencies and queue position of a
    job."""
    name, node_index = node_of(name, node_index)
    job = _job(ctx, name)
    spec, status = job["spec"], job.get("status") or {}
    nodes = _nodes(status, name, node_index)

    def render() -> str:
        lines = [
            f"Name:          {name}",
            f"Namespace:     {ctx.ns}",
            f"Status:        {status.get('status', JobStatus.SUBMITTED)}",
            f"Reason:        {status.get('statusReason', '')}",
            f"Queue:         {spec['jobQueue']}",
            f"Definition:    {spec['jobDefinition']}"
            + (
                f" (revision {status['jobDefinitionRevision']})"
                if "jobDefinitionRevision" in status
                else ""
            ),
            f"Environment:   {status.get('computeEnvironment', '')}",
            f"Created:       {job['metadata'].get('creationTimestamp', '')}",
            f"Started:       {status.get('startedAt', '')}",
            f"Stopped:       {status.get('stoppedAt', '')}",
            f"Attempts:      {status.get('attemptCount', 0)}",
        ]
        if status.get("positionInQueue"):
            lines.append(f"Position:      {status['positionInQueue']} in {spec['jobQueue']}")
        array = status.get("arrayProperties")
        if array:
            counts = ", ".join(
                f"{k}={v}" for k, v in (array.get("statusSummary") or {}).items() if v
            )
            lines.append(f"Array:         size {array['size']}: {counts}")
            for state, ranges in sorted((array.get("indexes") or {}).items()):
                lines.append(f"  {state:<12} {ranges}")
        if nodes:
            lines += _node_lines(status, nodes)
        deps = spec.get("dependsOn") or []
        if deps:
            lines.append("Depends on:")
            for dep in deps:
                target = dep.get("jobName")
                state = ""
                if target:
                    try:
                        found = _job(ctx, target.partition(":")[0])
                        state = (found.get("status") or {}).get("status", JobStatus.SUBMITTED)
                    except Failure:
                        state = "does not exist yet"
                lines.append(
                    f"  {target or '(its own children)'} {dep.get('type', '')} {state}".rstrip()
                )
        attempts = status.get("attempts") or []
        if attempts:
            lines.append("Attempts:")
            lines.append(f"  {'#':<3} {'index':<6} {'pod':<36} {'node':<32} {'exit':<5} reason")
            for a in attempts:
                index = "" if a.get("arrayIndex") is None else str(a["arrayIndex"])
                exit_code = "" if a.get("exitCode") is None else str(a["exitCode"])
                reason = a.get("reason") or a.get("statusReason") or ""
                lines.append(
                    f"  {a['attempt']:<3} {index:<6} {a.get('podName', ''):<36} "
                    f"{a.get('nodeName') or '':<32} {exit_code:<5} {reason}"
                )
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
        and (
            status is None
            or (j.get("status") or {}).get("status", JobStatus.SUBMITTED) == status.upper()
        )
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
            s = j.get("status") or {}
            size = (j["spec"].get("arrayProperties") or {}).get("size")
            row = [
                j["metadata"]["name"],
                s.get("status", JobStatus.SUBMITTED),
                j["spec"]["jobQueue"],
                j["spec"]["jobDefinition"],
                "" if size is None else str(size),
                str(s.get("attemptCount", 0)),
                s.get("statusReason", ""),
                age(j["metadata"].get("creationTimestamp")),
            ]
            table.add_row(*(([j["metadata"]["namespace"]] if all_namespaces else []) + row))
        return table

    emit(ctx, jobs, render)


# -- cancel and terminate -------------------------------------------------------------------


def _stop(ctx: Context, kind: str, name: str, reason: str, index: str | None) -> None:
    _job(ctx, name)
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


# -- logs ----------------------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option("--index", type=int, help="the array child")
@click.option(
    "--node-index", type=int, help="the node of a multi-node job (default: its main node)"
)
@click.option("--attempt", type=int, help="the attempt (default: the latest)")
@click.option("--follow", "-f", is_flag=True)
@pass_context
def logs(
    ctx: Context,
    name: str,
    index: int | None,
    node_index: int | None,
    attempt: int | None,
    follow: bool,
) -> None:
    """Print the container log of one attempt (of one node: job#N or --node-index N)."""
    name, node_index = node_of(name, node_index)
    job = _job(ctx, name)
    status = job.get("status") or {}
    multinode = status.get("nodeProperties")
    if multinode and node_index is None:
        node_index = int(multinode["mainNode"])
    node = _nodes(status, name, node_index)[0] if node_index is not None else {}
    size = int((job["spec"].get("arrayProperties") or {}).get("size") or 0)
    if size and index is None:
        raise click.UsageError(
            f"{name} is an array job: say which child with --index (0-{size - 1})"
        )
    if index is not None and not size:
        raise click.UsageError(f"{name} is not an array job: it has no --index")
    if index is not None and not 0 <= index < size:
        raise click.UsageError(f"{name} has no child {index}: its children are 0-{size - 1}")
    selector = f"{LABEL_JOB_NAME}={name}"
    if index is not None:
        selector += f",{LABEL_ARRAY_INDEX}={index}"
    if node_index is not None:
        selector += f",{LABEL_NODE_INDEX}={node_index}"
    if attempt is not None:
        selector += f",{LABEL_ATTEMPT}={attempt}"
    with api_errors(f"the pods of {name}"):
        pods = ctx.core.list_namespaced_pod(ctx.ns, label_selector=selector).items
    pods = [p for p in pods if p.metadata.labels.get(LABEL_JOB_UID) == job["metadata"]["uid"]]
    if not pods:
        status = job.get("status") or {}
        which = f"{name}" + (f" child {index}" if index is not None else "")
        which += f" node {node_index}" if node_index is not None else ""
        attempts = status.get("attempts") or []
        last = node.get("podName") or (attempts[-1].get("podName") if attempts else None)
        if last and attempt is None and index is None:
            raise Failure(f"{which}: its pod {last} no longer exists (deleted, with its log)")
        if attempt is not None:
            raise Failure(
                f"{which} has no attempt {attempt} (attempts so far in the job: "
                f"{status.get('attemptCount', 0)})"
            )
        raise Failure(
            f"{which} has not started an attempt yet (the job is "
            f"{status.get('status') or JobStatus.SUBMITTED}): no log to show"
        )
    pod = max(pods, key=lambda p: int(p.metadata.labels.get(LABEL_ATTEMPT, "0")))
    with api_errors(f"the log of {pod.metadata.name}"):
        if follow:
            stream = ctx.core.read_namespaced_pod_log(
                pod.metadata.name, ctx.ns, follow=True, _preload_content=False
            )
            for chunk in stream.stream():
                sys.stdout.write(chunk.decode(errors="replace"))
        else:
            # The raw reply, decoded here: the client's own decoding of a log is not text in
            # every version (some give the repr of its bytes).
            reply = ctx.core.read_namespaced_pod_log(
                pod.metadata.name, ctx.ns, _preload_content=False
            )
            click.echo(reply.data.decode(errors="replace"), nl=False)


# -- queues and environments ---------------------------------------------------------------


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
            s = q.get("status") or {}
            counts = s.get("jobCounts") or {}
            table.add_row(
                q["metadata"]["name"],
                str(q["spec"]["priority"]),
                q["spec"].get("state", "ENABLED"),
                s.get("status", ""),
                *(str(counts.get(state, 0)) for state in STATES),
                age(s.get("oldestRunnableTime")),
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
            s = e.get("status") or {}
            resources = e["spec"].get("computeResources") or {}
            nodes = ", ".join(f"{k}={v}" for k, v in (s.get("nodesByType") or {}).items())
            table.add_row(
                e["metadata"]["name"],
                e["spec"].get("type", "MANAGED"),
                e["spec"].get("state", "ENABLED"),
                s.get("status", ""),
                str(resources.get("minvCpus", "")),
                str(s.get("desiredvCpus", "")),
                str(s.get("readyvCpus", "")),
                str(s.get("allocatedvCpus", "")),
                str(resources.get("maxvCpus", "")),
                nodes,
                s.get("statusReason", ""),
            )
        return table

    emit(ctx, items, render)


COMMANDS = (submit, describe, list_jobs, cancel, terminate, logs, queues, environments)
