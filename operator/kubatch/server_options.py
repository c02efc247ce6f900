"""What the server commands (`kubatch api`, `kubatch console`) share: where they listen, the
file they write their URL to once they serve, and their log format."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def server_options(default_port: int) -> Callable[[F], F]:
    """--host, --port and --ready-file."""

    def decorate(command: F) -> F:
        for option in reversed(
            (
                click.option(
                    "--host",
                    default="127.0.0.1",
                    show_default=True,
                    help="the address to listen on",
                ),
                click.option(
                    "--port",
                    default=default_port,
                    show_default=True,
                    help="the port (0: any free one)",
                ),
                click.option(
                    "--ready-file",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help="write the server's URL here once it serves",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
