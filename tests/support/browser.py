"""Headless Chromium for the console's browser tests, driven by Playwright: the system's
Chromium (Debian's `chromium` package; `make browser` installs it), never a download of
Playwright's own. Without one the browser tests skip, unless KUBATCH_REQUIRE_BROWSER=1 (as in
CI), where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # A closed network: nothing may try to reach the internet (and time out doing so).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium() -> str | None:
    for candidate in (os.environ.get("KUBATCH_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def artifacts() -> Path:
    """Where the tests save what they saw (screenshots): KUBATCH_ARTIFACTS or .artifacts/."""
    folder = Path(os.environ.get("KUBATCH_ARTIFACTS") or ROOT / ".artifacts") / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def browser() -> Iterator[Any]:
    executable = chromium()
    if executable is None:
        message = "no Chromium on this machine (make browser installs Debian's chromium)"
        if os.environ.get("KUBATCH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            yield found
        finally:
            found.close()
