"""`kubatch logs`: the container log of one attempt, read from its pod, or once the pod is
gone, from the log the operator kept of it."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..api import COMPUTEENVIRONMENTS, GROUP, JOBQUEUES, VERSION
from ..api.batchjob import BatchJobStatus
from ..api.common import JobStatus
from ..core import essential_container, kept_log, serve_kept_log
from ..keys import (
    LABEL_ARRAY_INDEX,
    LABEL_ATTEMPT,
    LABEL_JOB_NAME,
    LABEL_JOB_UID,
    LABEL_KEPT_LOG,
    LABEL_NODE_INDEX,
)
from .context import (
    Context,
    Failure,
    api_errors,
    get_job,
    pass_context,
)
from .describe import node_of, nodes_of


@click.command()
@click.argument("name")
@click.option("--index", type=int, help="the array child")
@click.option(
    "--node-index", type=int, help="the node of a multi-node job (default: its main node)"
)
@click.option("--attempt", type=int, help="the attempt (default: the latest)")
@click.option("--follow", "-f", is_flag=True)
@click.option(
    "--worker-context",
    "worker_contexts",
    multiple=True,
    metavar="CLUSTER=CONTEXT",
    help="the kubeconfig context of a worker cluster (default: the context named as it)",
)
@pass_context
def logs(
    ctx: Context,
    name: str,
    index: int | None,
    node_index: int | None,
    attempt: int | None,
    follow: bool,
    worker_contexts: tuple[str, ...],
) -> None:
    """Print the container log of one attempt (of one node: job#N or --node-index N)."""
    name, node_index = node_of(name, node_index)
    job = get_job(ctx, name)
    status = BatchJobStatus.of(job)
    multinode = status.node_properties
    if multinode and node_index is None:
        node_index = multinode.main_node
    node = nodes_of(status, name, node_index)[0] if node_index is not None else None
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
    uid = job["metadata"]["uid"]
    pods = [p for p in pods if p.metadata.labels.get(LABEL_JOB_UID) == uid]
    kept = _kept(ctx, selector, uid)
    core = ctx.core
    if not pods and kept is None:  # not here: in a worker cluster of its queue's?
        contexts = _contexts(worker_contexts)
        for cluster in _worker_clusters(ctx, job):
            there = ctx.worker_core(cluster, contexts.get(cluster))
            with api_errors(f"the pods of {name} in worker cluster {cluster}"):
                found = there.list_namespaced_pod(ctx.ns, label_selector=selector).items
            pods = [p for p in found if p.metadata.labels.get(LABEL_JOB_UID) == uid]
            if pods:
                core = there
                break
    if kept is not None and (
        not pods or kept[0] > max(int(p.metadata.labels.get(LABEL_ATTEMPT, "0")) for p in pods)
    ):
        # The attempt's pod is gone (with its node): its log was kept.
        click.echo(serve_kept_log(kept_log(kept[1]), timestamps=False), nl=False)
        return
    if not pods:
        which = f"{name}" + (f" child {index}" if index is not None else "")
        which += f" node {node_index}" if node_index is not None else ""
        attempts = status.attempts
        last = (node.pod_name if node else None) or (attempts[-1].pod_name if attempts else None)
        if last and attempt is None and index is None:
            raise Failure(
                f"{which}: its pod {last} no longer exists (deleted, and no log was kept)"
            )
        if attempt is not None:
            raise Failure(
                f"{which} has no attempt {attempt} (attempts so far in the job: "
                f"{status.attempt_count})"
            )
        raise Failure(
            f"{which} has not started an attempt yet (the job is "
            f"{status.status or JobStatus.SUBMITTED}): no log to show"
        )
    pod = max(pods, key=lambda p: int(p.metadata.labels.get(LABEL_ATTEMPT, "0")))
    # The essential container's (a pod of an EKS-style definition has several).
    container = essential_container({"metadata": {"annotations": pod.metadata.annotations}})
    with api_errors(f"the log of {pod.metadata.name}"):
        if follow:
            stream = core.read_namespaced_pod_log(
                pod.metadata.name, ctx.ns, container=container, follow=True, _preload_content=False
            )
            for chunk in stream.stream():
                sys.stdout.write(chunk.decode(errors="replace"))
        else:
            # The raw reply, decoded here: the client's own decoding of a log is not text in
            # every version (some give the repr of its bytes).
            reply = core.read_namespaced_pod_log(
                pod.metadata.name, ctx.ns, container=container, _preload_content=False
            )
            click.echo(reply.data.decode(errors="replace"), nl=False)


def _contexts(given: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in given:
        cluster, equals, context = pair.partition("=")
        if not equals or not cluster or not context:
            raise click.BadParameter(
                f"{pair!r}: expected CLUSTER=CONTEXT", param_hint="--worker-context"
            )
        found[cluster] = context
    return found


def _worker_clusters(ctx: Context, job: dict[str, Any]) -> list[str]:
    """The worker clusters of the environments of the job's queue, in the queue's order."""
    with api_errors("the job's queue and environments"):
        queue = ctx.custom.get_cluster_custom_object(
            GROUP, VERSION, JOBQUEUES, job["spec"]["jobQueue"]
        )
        clusters: list[str] = []
        order = sorted(
            (queue.get("spec") or {}).get("computeEnvironmentOrder") or [],
            key=lambda o: o.get("order", 0),
        )
        for entry in order:
            env = ctx.custom.get_cluster_custom_object(
                GROUP, VERSION, COMPUTEENVIRONMENTS, entry["computeEnvironment"]
            )
            cluster = ((env.get("spec") or {}).get("cluster") or {}).get("name")
            if cluster and cluster not in clusters:
                clusters.append(cluster)
    return clusters


def _kept(ctx: Context, selector: str, uid: str) -> tuple[int, dict[str, Any]] | None:
    """The latest attempt whose log was kept beyond its pod (its ConfigMap is labelled as the
    pod was), and that ConfigMap."""
    with api_errors("the kept logs"):
        found = ctx.core.list_namespaced_config_map(
            ctx.ns, label_selector=f"{selector},{LABEL_KEPT_LOG}"
        ).items
    kept = [
        (int(c.metadata.labels.get(LABEL_ATTEMPT, "0")), c)
        for c in found
        if c.metadata.labels.get(LABEL_JOB_UID) == uid
    ]
    if not kept:
        return None
    attempt, configmap = max(kept, key=lambda k: k[0])
    return attempt, {"data": configmap.data or {}, "binaryData": configmap.binary_data or {}}
