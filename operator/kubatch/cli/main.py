"""Entry point of the `kubatch` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from .. import __version__
from ..api import InvalidManifest, parse
from ..awsapi.command import api
from ..console.command import console
from .clusters import connect_cluster
from .context import Context
from .describe import describe, list_jobs
from .dev import dev
from .logs import logs
from .queues import environments, queues
from .stop import cancel, terminate
from .submit import submit

COMMANDS = (
    submit,
    describe,
    list_jobs,
    cancel,
    terminate,
    logs,
    queues,
    environments,
    connect_cluster,
)


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
    click_ctx.obj = Context(
        kubeconfig=kubeconfig.split(":")[0] if kubeconfig else None,
        namespace=namespace,
        output=output,
    )


def _manifest_files(paths: tuple[Path, ...]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        else:
            found.append(path)
    return found


def _documents(path: Path) -> list[tuple[str, Any]]:
    """(where, document) for every object of a file: YAML documents, a YAML list of
    objects, or a kubectl List's items. Bad YAML raises ValueError naming file and line."""
    try:
        loaded = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}: not valid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot be read: {e}") from None
    found: list[tuple[str, Any]] = []
    for index, document in enumerate(loaded):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == "List":
            document = document.get("items") or []
        if isinstance(document, list):
            found += [(f"{path}#{index}[{i}]", item) for i, item in enumerate(document)]
        else:
            found.append((f"{path}#{index}", document))
    return found


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check manifests (files or folders of them) against the Kubatch API, without a cluster."""
    failed = 0
    for path in _manifest_files(paths):
        try:
            documents = _documents(path)
        except ValueError as e:
            failed += 1
            click.echo(str(e), err=True)
            continue
        for where, document in documents:
            if not isinstance(document, dict):
                failed += 1
                click.echo(f"{where}: not a Kubernetes object (a mapping with kind)", err=True)
                continue
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
cli.add_command(api)
cli.add_command(console)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli()
