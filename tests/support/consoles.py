"""The web consoles of the integration tests (started once per session, beside the
operator) and a plain HTTP GET of their pages."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from kubatch.sim.stack import start_console
from tests.support.system import System


@dataclass(frozen=True)
class Consoles:
    url: str
    """Cancel and terminate enabled (--actions all)."""
    read_only: str
    """The default: --actions none."""


def start_consoles(system: System) -> Consoles:
    workdir, kubeconfig = system.operator.workdir, system.cluster.kubeconfig
    return Consoles(
        start_console(system.stack, workdir, kubeconfig, actions="all"),
        start_console(system.stack, workdir, kubeconfig, name="console-read-only"),
    )


@dataclass
class Answer:
    status: int
    text: str
    url: str


def get(url: str, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.read().decode(), response.url)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read().decode(), url)
