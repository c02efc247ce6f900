"""`kubatch api`: serve the AWS Batch API (boto3, the AWS CLI, Airflow) on a port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ..server_options import log_to_stderr, server_options


@click.command()
@server_options(default_port=8430)
@click.option(
    "--credentials-secret",
    default="kubatch-system/kubatch-aws-api",
    show_default=True,
    help="namespace/name of the Secret whose credentials.yaml maps access keys to namespaces",
)
@click.option("--region", default="us-east-1", show_default=True, help="the region in ARNs")
@click.option("--account", default="000000000000", show_default=True, help="the account id in ARNs")
@click.pass_obj
def api(
    ctx: object,
    host: str,
    port: int,
    credentials_secret: str,
    region: str,
    account: str,
    ready_file: Path | None,
) -> None:
    """Serve the AWS Batch API: `aws batch ... --endpoint-url http://HOST:PORT` and
    boto3.client("batch", endpoint_url=...) work against Kubatch."""
    from .main import serve
    from .names import Arns

    log_to_stderr()
    kubeconfig = getattr(ctx, "kubeconfig", None)
    asyncio.run(
        serve(kubeconfig, host, port, credentials_secret, Arns(region, account), ready_file)
    )
