"""Bursts of submissions against an API server that sheds load. Prints one JSON object.

A real control plane whose kube-apiserver admits MAX_MUTATING writes at once (priority and
fairness off, so the server's plain in-flight limit answers every write beyond it with 429
and Retry-After: 1), the operator running. Every client is a service account (the limit
spares system:masters, as the admin's certificate is). Then, CONCURRENCY at a time:
- N BatchJobs created through the CLI's client (`kubatch submit` and every other command
  build theirs in kubatch.cli.context: it waits out 429s as the server asks);
- N SubmitJob calls to `kubatch api` through boto3 (its standard retry mode), which creates
  the BatchJobs with the project's own client (it waits out 429s too);
- one `kubatch submit --array-size 10000`: the objects it creates.
Per path: jobs submitted, errors that reached the caller, 429s the server answered during
it (from its own apiserver_request_total), seconds.

Usage: python -m bench.submit_burst [N]
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config
from click.testing import CliRunner

from bench.operator_throughput import UNLIMITED, install_crds, platform, wait_until
from kubatch.cli.context import Context
from kubatch.cli.main import cli
from kubatch.cli.submit import build_job
from kubatch.kube.client import Client, Credentials
from kubatch.sim.controlplane import assets_from_environment, control_plane
from kubatch.sim.controlplane import kubeconfig as write_kubeconfig
from kubatch.sim.stack import Operator, start_aws_api

API = "kubatch.io/v1alpha1"
CONCURRENCY = 32
MAX_MUTATING = 1
FLAGS = (f"--max-mutating-requests-inflight={MAX_MUTATING}", "--enable-priority-and-fairness=false")
REGION = "us-east-1"
ARRAY_SUBMIT = (
    "--kubeconfig {kubeconfig} -n {namespace} submit big -q bench -d instant --array-size 10000"
)


def throttled(metrics: str) -> int:
    """How many requests the API server turned away (429), from its /metrics text."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("apiserver_request_total{") and 'code="429"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def burst(n: int, submit: Callable[[int], None]) -> dict[str, Any]:
    errors: list[str] = []

    def one(i: int) -> None:
        try:
            submit(i)
        except Exception as e:  # what reached the caller is what the figure counts
            errors.append(f"{type(e).__name__}: {e}"[:300])

    began = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(n)))
    seconds = time.monotonic() - began
    return {
        "submitted": n - len(errors),
        "errors_seen_by_caller": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(seconds, 1),
        "jobs_per_second": round((n - len(errors)) / seconds, 1),
    }


async def _setup(kubeconfig: Path, namespace: str, keys: list[dict[str, str]]) -> None:
    """The CRDs, the namespace, the platform (queue "bench", definition "instant") and the
    access key of the AWS API."""
    client = Client(Credentials.from_kubeconfig(str(kubeconfig)), qps=1000, burst=1000)
    try:
        await install_crds(client)
        await client.create("v1", "namespaces", {"metadata": {"name": namespace}})
        await platform(client, (namespace,))
        text = base64.b64encode(yaml.safe_dump(keys).encode()).decode()
        body = {"metadata": {"name": "aws-keys"}, "data": {"credentials.yaml": text}}
        await client.create("v1", "secrets", body, namespace)
    finally:
        await client.close()


async def _user(kubeconfig: Path, namespace: str, ca: Path, path: Path) -> Path:
    """A kubeconfig of a service account bound to cluster-admin: all rights, but not in
    system:masters, so the server's in-flight limit applies to it."""
    client = Client(Credentials.from_kubeconfig(str(kubeconfig)))
    try:
        await client.create("v1", "serviceaccounts", {"metadata": {"name": "burst"}}, namespace)
        binding = {
            "metadata": {"name": "burst"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "burst", "namespace": namespace}],
        }
        await client.create("rbac.authorization.k8s.io/v1", "clusterrolebindings", binding)
        answer = await client.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/burst/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 7200},
            },
        )
    finally:
        await client.close()
    server = Credentials.from_kubeconfig(str(kubeconfig)).server
    token = answer["status"]["token"]
    return write_kubeconfig(path, server, ca, token=token, user="burst", namespace=namespace)


async def _numbered(kubeconfig: Path, namespace: str) -> None:
    """Until the operator has numbered the definition's revision (SubmitJob binds it)."""
    client = Client(Credentials.from_kubeconfig(str(kubeconfig)))

    async def numbered() -> bool:
        found = await client.get(API, "jobdefinitions", "instant", namespace)
        return bool((found.get("status") or {}).get("revisions"))

    try:
        await wait_until(numbered, timeout=120)
    finally:
        await client.close()


def run(n: int, workdir: Path) -> dict[str, Any]:
    assets = assets_from_environment()
    if assets is None:
        raise SystemExit("needs KUBEBUILDER_ASSETS (see `make control-plane`)")
    namespace = "burst"
    with ExitStack() as stack:
        plane = stack.enter_context(control_plane(assets, workdir / "control-plane", FLAGS))
        kubeconfig = plane.kubeconfig
        key_id, secret = "AKIA" + uuid.uuid4().hex[:16].upper(), uuid.uuid4().hex
        keys = [{"accessKeyId": key_id, "secretAccessKey": secret, "namespace": namespace}]
        asyncio.run(_setup(kubeconfig, namespace, keys))
        ca = plane.certificates.ca
        kubeconfig = asyncio.run(_user(kubeconfig, namespace, ca, workdir / "burst.kubeconfig"))
        operator = Operator(kubeconfig=kubeconfig, workdir=workdir, env=UNLIMITED)
        stack.callback(operator.stop)
        operator.start()
        endpoint = start_aws_api(stack, workdir, kubeconfig, f"{namespace}/aws-keys")
        asyncio.run(_numbered(kubeconfig, namespace))

        def metrics() -> int:
            return throttled(asyncio.run(_text(kubeconfig, "/metrics")))

        contexts: dict[int, Context] = {}

        def cli_submit(i: int) -> None:
            ctx = contexts.setdefault(
                threading.get_ident(),
                Context(kubeconfig=str(kubeconfig), namespace=namespace, output="table"),
            )
            body = build_job(
                name=f"cli-{i:06d}",
                queue="bench",
                definition="instant",
                array_size=None,
                depends_on=(),
                parameters=(),
                env=(),
                vcpus=None,
                memory=None,
                gpus=None,
                command=(),
                attempts=None,
                timeout=None,
            )
            ctx.custom.create_namespaced_custom_object(
                "kubatch.io", "v1alpha1", namespace, "batchjobs", body
            )

        before = metrics()
        cli_figures = burst(n, cli_submit)
        cli_figures["throttled_by_server"] = metrics() - before

        batch = boto3.client(
            "batch",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(max_pool_connections=CONCURRENCY, retries={"mode": "standard"}),
        )

        def aws_submit(i: int) -> None:
            batch.submit_job(jobName=f"aws-{i}", jobQueue="bench", jobDefinition="instant")

        before = metrics()
        aws_figures = burst(n, aws_submit)
        aws_figures["throttled_by_server"] = metrics() - before

        objects_before = _count(kubeconfig, namespace)
        result = CliRunner().invoke(
            cli,
            ARRAY_SUBMIT.format(kubeconfig=kubeconfig, namespace=namespace).split(),
        )
        array = {
            "exit_code": result.exit_code,
            "objects_created": _count(kubeconfig, namespace) - objects_before,
        }
        return {
            "benchmark": "submit_burst",
            "jobs": n,
            "concurrency": CONCURRENCY,
            "apiserver_max_mutating_in_flight": MAX_MUTATING,
            "cli": cli_figures,
            "aws_api": aws_figures,
            "cli_array_of_10000": array,
        }


async def _text(kubeconfig: Path, path: str) -> str:
    client = Client(Credentials.from_kubeconfig(str(kubeconfig)))
    try:
        session = await client.session()
        async with session.get(path.lstrip("/")) as response:
            return await response.text()
    finally:
        await client.close()


def _count(kubeconfig: Path, namespace: str) -> int:
    async def count() -> int:
        client = Client(Credentials.from_kubeconfig(str(kubeconfig)))
        try:
            return len(await client.list(API, "batchjobs", namespace))
        finally:
            await client.close()

    return asyncio.run(count())


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(n, Path(tmp))))


if __name__ == "__main__":
    main()
