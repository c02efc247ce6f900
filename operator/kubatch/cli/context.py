"""What every command shares: the cluster connection and namespace, output as a table,
JSON or YAML, and API errors turned into messages that say what went wrong."""

from __future__ import annotations

import json
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
    GROUP,
    VERSION,
    times,
)
from ..api.common import JOB_STATES

STATES = list(JOB_STATES)


THROTTLED = urllib3.Retry(
    total=40,
    connect=5,
    read=0,  # an answer lost after the request was sent: a create may have been done
    redirect=0,
    status=30,
    status_forcelist=(429,),
    allowed_methods=None,  # a 429 did nothing, whatever the verb
    backoff_factor=0.1,
    backoff_max=5,
    respect_retry_after_header=True,
    raise_on_status=False,
)
"""The CLI's answer to an API server that sheds load (429 Too Many Requests, with a
Retry-After of 1 s): wait and send again, up to 30 times, so a burst of submissions from
scripts reaches the server instead of failing."""


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
                configuration = client.Configuration()
                config.load_kube_config(self.kubeconfig, client_configuration=configuration)
                configuration.retries = THROTTLED
                self._api = client.ApiClient(configuration)
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

    def worker_core(self, cluster: str, context: str | None) -> client.CoreV1Api:
        """The API of a worker cluster (a ComputeEnvironment's spec.cluster), through the
        kubeconfig's context of that name (or `context`)."""
        chosen = context or cluster
        try:
            configuration = client.Configuration()
            config.load_kube_config(
                self.kubeconfig, context=chosen, client_configuration=configuration
            )
        except (ConfigException, FileNotFoundError, TypeError) as e:
            raise Failure(
                f"the attempt runs in worker cluster {cluster}, and the kubeconfig has no "
                f"usable context {chosen!r} for it ({e}); name one with "
                f"--worker-context {cluster}=CONTEXT (its log is kept here once it ends)"
            ) from None
        configuration.retries = THROTTLED
        return client.CoreV1Api(client.ApiClient(configuration))


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


def age(timestamp: str | datetime | None) -> str:
    """How long ago, as kubectl says it ("5s", "3m", "2h", "4d")."""
    return times.age(timestamp, datetime.now(UTC))


def get_job(ctx: Context, name: str) -> dict[str, Any]:
    with api_errors(f"BatchJob {name} in namespace {ctx.ns}"):
        found: dict[str, Any] = ctx.custom.get_namespaced_custom_object(
            GROUP, VERSION, ctx.ns, BATCHJOBS, name
        )
    return found
