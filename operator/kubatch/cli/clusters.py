"""`kubatch connect-cluster`: hand a worker cluster to the operator. It asks the worker
cluster (a context of the user's kubeconfig) for a token of the worker chart's
ServiceAccount, writes a kubeconfig with it into a Secret beside the operator, and prints the
`spec.cluster` that names it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from ..keys import LABEL_MANAGED_BY, MANAGED_BY
from .context import Context, Failure, api_errors, pass_context

WORKER_ACCOUNT = "kubatch-worker"
"""The worker chart's ServiceAccount and namespace (helm/kubatch-worker)."""


def _kubeconfig(path: str | None) -> dict[str, Any]:
    found = Path(path or Path.home() / ".kube" / "config").expanduser()
    try:
        loaded: dict[str, Any] = yaml.safe_load(found.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise Failure(f"the kubeconfig {found} cannot be read: {e}") from None
    return loaded


def _server_of(kubeconfig: dict[str, Any], context: str) -> dict[str, Any]:
    """The cluster entry of a context, with its CA inline (a file named by path would not be
    there for the operator)."""
    named = {c["name"]: c["context"] for c in kubeconfig.get("contexts") or []}
    if context not in named:
        known = ", ".join(sorted(named)) or "none"
        raise Failure(f"the kubeconfig has no context {context!r} (it has: {known})")
    clusters = {c["name"]: c["cluster"] for c in kubeconfig.get("clusters") or []}
    cluster = dict(clusters.get(named[context]["cluster"]) or {})
    if not cluster.get("server"):
        raise Failure(f"context {context!r}: its cluster has no server")
    path = cluster.pop("certificate-authority", None)
    if path:
        try:
            cluster["certificate-authority-data"] = base64.b64encode(
                Path(path).read_bytes()
            ).decode()
        except OSError as e:
            raise Failure(f"context {context!r}: its CA {path} cannot be read: {e}") from None
    return cluster


@click.command("connect-cluster")
@click.argument("cluster")
@click.option("--context", "worker_context", help="the worker cluster's context (default: CLUSTER)")
@click.option(
    "--operator-namespace",
    default="kubatch-system",
    show_default=True,
    help="where the operator runs (its Secrets)",
)
@click.option("--secret", help="the Secret to write (default: CLUSTER-kubeconfig)")
@click.option(
    "--service-account",
    default=f"{WORKER_ACCOUNT}/{WORKER_ACCOUNT}",
    show_default=True,
    metavar="NAMESPACE/NAME",
    help="the worker chart's ServiceAccount in the worker cluster",
)
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 365),
    default=24 * 365,
    show_default=True,
    help="how long the token lasts (run again to rotate it)",
)
@pass_context
def connect_cluster(
    ctx: Context,
    cluster: str,
    worker_context: str | None,
    operator_namespace: str,
    secret: str | None,
    service_account: str,
    hours: int,
) -> None:
    """Hand the worker cluster CLUSTER to the operator: a token of the worker chart's
    ServiceAccount there, in a kubeconfig Secret beside the operator."""
    context = worker_context or cluster
    namespace, slash, account = service_account.partition("/")
    if not slash or not namespace or not account:
        raise click.BadParameter("expected NAMESPACE/NAME", param_hint="--service-account")
    server = _server_of(_kubeconfig(ctx.kubeconfig), context)
    try:
        worker = config.new_client_from_config(ctx.kubeconfig, context=context)
    except (ConfigException, FileNotFoundError, TypeError) as e:
        raise Failure(f"context {context!r} cannot be used: {e}") from None
    request = {"spec": {"expirationSeconds": hours * 3600}}
    with api_errors(
        f"ServiceAccount {namespace}/{account} in cluster {cluster} (install "
        "helm/kubatch-worker there first)"
    ):
        token = (
            client.CoreV1Api(worker)
            .create_namespaced_service_account_token(account, namespace, request)
            .status.token
        )
    handed = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": server}],
        "users": [{"name": f"{namespace}-{account}", "user": {"token": token}}],
        "contexts": [
            {"name": cluster, "context": {"cluster": cluster, "user": f"{namespace}-{account}"}}
        ],
        "current-context": cluster,
    }
    name = secret or f"{cluster}-kubeconfig"
    body = {
        "metadata": {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(handed).encode()).decode()},
    }
    with api_errors(f"Secret {operator_namespace}/{name}"):
        try:
            ctx.core.create_namespaced_secret(operator_namespace, body)
        except client.ApiException as e:
            if e.status != 409:
                raise
            ctx.core.replace_namespaced_secret(name, operator_namespace, body)
    click.echo(
        f"Secret {operator_namespace}/{name} holds a kubeconfig for cluster {cluster} "
        f"(a token of {namespace}/{account}, {hours} h). Name it from a ComputeEnvironment:"
    )
    click.echo(
        yaml.safe_dump(
            {"spec": {"cluster": {"name": cluster, "kubeconfigSecret": {"name": name}}}},
            sort_keys=False,
        ),
        nl=False,
    )
