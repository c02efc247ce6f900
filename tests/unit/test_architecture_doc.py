"""docs/architecture.md matches the tree: every path it names exists, and every package of
kubatch (a folder with an __init__.py) is named in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "architecture.md"
NAMED = sorted(set(re.findall(r"`(operator/kubatch[\w/.]*)`", DOC.read_text())))
PACKAGES = sorted(
    f"{p.parent.relative_to(ROOT)}/" for p in (ROOT / "operator" / "kubatch").rglob("__init__.py")
)


@pytest.mark.parametrize("path", NAMED)
def test_every_path_the_document_names_exists(path: str) -> None:
    assert (ROOT / path).exists()


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_named(package: str) -> None:
    assert package in NAMED


def test_the_readme_points_to_it() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()
