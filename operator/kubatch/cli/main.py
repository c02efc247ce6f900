"""Entry point of the `kubatch` command."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from .. import __version__
from ..api import InvalidManifest, parse
from .dev import dev


@click.group()
@click.version_option(__version__, prog_name="kubatch")
def cli() -> None:
    """Kubatch: AWS Batch's compute environments, queues, definitions and jobs on Kubernetes."""


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


def main() -> None:
    cli()
