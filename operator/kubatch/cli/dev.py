"""`kubatch dev`: Kubatch on its embedded default, with no cluster.

Starts the local API server, installs the CRDs, starts the simulated kubelet and the
operator, applies the examples, and follows every job until it finishes. Exits 0 only when
every job ended as expected (SUCCEEDED, or what its kubatch.io/expected-status annotation
says). With --keep it stays up and prints a KUBECONFIG for kubectl and the kubatch CLI.

Each run works in its own folder under --workdir (run-<pid>: its kubeconfig and logs), so two
runs never mix. SIGINT and SIGTERM stop everything it started.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..api import BATCHJOBS, GROUP, VERSION, InvalidManifest, parse
from ..api.batchjob import BatchJobStatus
from ..api.common import TERMINAL, JobStatus
from ..api.crdgen import all_crds
from ..keys import ANNOTATION_EXPECTED_STATUS
from ..sim.stack import Operator, start_apiserver, start_aws_api, start_console, start_kubelet

EXPECTED = ANNOTATION_EXPECTED_STATUS


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            found += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return found


def apply(api: client.ApiClient, docs: list[dict[str, Any]], namespace: str) -> None:
    custom = client.CustomObjectsApi(api)
    for doc in docs:
        try:
            resource = parse(doc)
        except InvalidManifest as e:
            raise click.ClickException(str(e)) from None
        plural = resource.INFO.plural
        if resource.INFO.scope == "Namespaced":
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, doc)
        else:
            custom.create_cluster_custom_object(GROUP, VERSION, plural, doc)
        click.echo(f"  applied {doc['kind']}/{doc['metadata']['name']}")


def _summary(job: dict[str, Any]) -> str:
    status = BatchJobStatus.of(job)
    text: str = status.status or "-"
    array = status.array_properties
    if array:
        done = array.status_summary.succeeded + array.status_summary.failed
        text += f" ({done}/{array.size} children done)"
    if status.status_reason:
        text += f": {status.status_reason}"
    return text


def follow(api: client.ApiClient, namespace: str, timeout: float) -> bool:
    """Print each job's transitions until all are finished; True if all ended as expected."""
    custom = client.CustomObjectsApi(api)
    seen: dict[str, str] = {}
    began = time.monotonic()
    while True:
        jobs = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, BATCHJOBS)["items"]
        for job in jobs:
            name = job["metadata"]["name"]
            line = _summary(job)
            if seen.get(name) != line:
                seen[name] = line
                click.echo(f"{time.monotonic() - began:6.1f}s  {name:<24} {line}")
        states = [BatchJobStatus.of(j).status for j in jobs]
        if jobs and all(s in TERMINAL for s in states):
            break
        if time.monotonic() - began > timeout:
            click.echo(f"timed out after {timeout:.0f}s with jobs still running", err=True)
            return False
        time.sleep(0.5)
    ok = True
    click.echo("")
    for job in jobs:
        expected = (job["metadata"].get("annotations") or {}).get(EXPECTED, JobStatus.SUCCEEDED)
        actual = str(BatchJobStatus.of(job).status)
        mark = "ok" if actual == expected else f"UNEXPECTED (wanted {expected})"
        ok = ok and actual == expected
        click.echo(f"  {job['metadata']['name']:<24} {actual:<10} {mark}")
    return ok


CONSOLE_PORT = 8431
"""Where `kubatch dev --keep` serves the web console unless --console-port says otherwise."""

DEV_ACCESS_KEY = ("AKIAKUBATCHDEV000001", "kubatch-dev-secret-access-key")
"""The development access key `kubatch dev --aws-api-port` makes (admin, its namespace)."""


def _aws_api(
    stack: ExitStack,
    api: client.ApiClient,
    workdir: Path,
    kubeconfig: Path,
    namespace: str,
    port: int,
    regions: tuple[str, ...],
    account: str,
) -> None:
    key_id, secret_key = DEV_ACCESS_KEY
    keys = [
        {
            "accessKeyId": key_id,
            "secretAccessKey": secret_key,
            "namespace": namespace,
            "admin": True,
        }
    ]
    client.CoreV1Api(api).create_namespaced_secret(
        "default",
        {
            "metadata": {"name": "kubatch-aws-api"},
            "stringData": {"credentials.yaml": yaml.safe_dump(keys)},
        },
    )
    endpoint = start_aws_api(
        stack, workdir, kubeconfig, "default/kubatch-aws-api", port, regions, account
    )
    click.echo(
        f"AWS Batch API at {endpoint}, for namespace {namespace} "
        f"(region {', '.join(regions)}, account {account}):"
    )
    click.echo(
        f"  export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret_key} "
        f"AWS_DEFAULT_REGION={regions[0]}"
    )
    click.echo(f"  aws batch describe-job-queues --endpoint-url {endpoint}")


@click.command()
@click.option(
    "--examples",
    "paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=["examples"],
    show_default=True,
    help="manifests to apply (files or folders)",
)
@click.option("--namespace", default="default", show_default=True)
@click.option("--keep", is_flag=True, help="stay up after the jobs finish (Ctrl-C stops)")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for the jobs")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".kubatch-dev",
    show_default=True,
    help="where each run's folder (kubeconfig and logs) goes",
)
@click.option(
    "--duration",
    default=1.0,
    show_default=True,
    help="seconds a simulated container runs unless its job says otherwise",
)
@click.option(
    "--aws-api-port",
    type=int,
    default=None,
    help="also serve the AWS Batch API on this port (0: any free one), with a development "
    "access key for the namespace",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    default=("us-east-1",),
    show_default=True,
    help="a region the AWS Batch API serves (repeat for several)",
)
@click.option(
    "--account",
    default="000000000000",
    show_default=True,
    help="the account id in the AWS Batch API's ARNs",
)
@click.option(
    "--console-port",
    type=int,
    default=None,
    help="serve the web console on this port (0: any free one); with --keep it is served on "
    f"{CONSOLE_PORT} unless this says otherwise",
)
def dev(
    paths: tuple[Path, ...],
    namespace: str,
    keep: bool,
    timeout: float,
    workdir: Path,
    duration: float,
    aws_api_port: int | None,
    regions: tuple[str, ...],
    account: str,
    console_port: int | None,
) -> None:
    """Run Kubatch on its embedded default (a local API server and a simulated cluster)."""
    workdir = workdir / f"run-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _stop)  # what `timeout` and CI send: clean up as on Ctrl-C
    with ExitStack() as stack:
        click.echo("starting the API server, the simulated kubelet and the operator...")
        kubeconfig = start_apiserver(stack, workdir)
        api = config.new_client_from_config(str(kubeconfig))
        extensions = client.ApiextensionsV1Api(api)
        for crd in all_crds().values():
            extensions.create_custom_resource_definition(crd)
        try:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        except ApiException as e:
            if e.status != 409:
                raise
        start_kubelet(stack, workdir, kubeconfig, bind=True, default_duration=duration)
        operator = Operator(kubeconfig=kubeconfig, workdir=workdir)
        stack.callback(operator.stop)
        operator.start()
        click.echo(
            f"logs in {workdir}; metrics at http://127.0.0.1:{operator.metrics_port}/metrics"
        )
        if aws_api_port is not None:
            _aws_api(stack, api, workdir, kubeconfig, namespace, aws_api_port, regions, account)
        if console_port is None and keep:
            console_port = CONSOLE_PORT
        if console_port is not None:
            url = start_console(stack, workdir, kubeconfig, console_port, actions="all")
            click.echo(f"web console at {url}/ (cancel and terminate enabled)")
        click.echo(f"applying {', '.join(str(p) for p in paths)}:")
        apply(api, documents(paths), namespace)
        ok = follow(api, namespace, timeout)
        if keep:
            click.echo("\nKubatch keeps running (SIGINT or SIGTERM stops it). In another shell:")
            click.echo(f"  export KUBECONFIG={kubeconfig.resolve()}")
            click.echo("  kubectl get kubatch -A\nPress Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    if not ok:
        raise click.ClickException("not every job ended as expected (logs in the workdir)")
    click.echo("every job ended as expected")
