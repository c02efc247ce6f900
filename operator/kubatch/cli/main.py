"""Entry point of the `kubatch` command."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from .. import __version__
from ..api import InvalidManifest, parse
from .dev import dev
from .jobs import COMMANDS, Context


@click.group()
@click.version_option(__version__, prog_name="kubatch")
@click.option(
    "--kubeconfig", envvar="KUBECONFIG", help="the cluster (default: KUBECONFIG, ~/.kube/config)"
)
@click.option("--namespace", "-n", help="the namespace of jobs (default: the context's)")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)
@click.pass_context
def cli(
    click_ctx: click.Context, kubeconfig: str | None, namespace: str | None, output: str
) -> None:
    """Kubatch: AWS Batch's compute environments, queues, definitions and jobs on Kubernetes."""
    click_ctx.obj = Context(kubeconfig.split(":")[0] if kubeconfig else None, namespace, output)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check manifests against the Kubatch API without a cluster."""
    failed = 0
    for path in files:
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if not document:
                continue
            where = f"{path}#{index}"
            try:
                resource = parse(document)
            except InvalidManifest as e:
                failed += 1
                click.echo(f"{where}: {e}", err=True)
            else:
                click.echo(f"{where}: {resource.kind}/{resource.name} is valid")
    if failed:
        raise click.ClickException(f"{failed} invalid manifest(s)")


cli.add_command(dev)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli()
