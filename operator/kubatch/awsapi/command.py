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
@click.option(
    "--region",
    "regions",
    multiple=True,
    default=("us-east-1",),
    show_default=True,
    help="a region the endpoint serves (repeat for several: callers sign for any of them, "
    "and are answered with its ARNs; every region sees the same cluster)",
)
@click.option("--account", default="000000000000", show_default=True, help="the account id in ARNs")
@click.pass_obj
def api(
    ctx: object,
    host: str,
    port: int,
    credentials_secret: str,
    regions: tuple[str, ...],
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
        serve(
            kubeconfig,
            host,
            port,
            credentials_secret,
            [Arns(region, account) for region in dict.fromkeys(regions)],
            ready_file,
        )
    )
