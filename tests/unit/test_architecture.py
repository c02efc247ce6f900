"""The shape of the code, read from its imports: no cycles between modules, and each layer
imports only what it may (DESIGN.md: core is pure; the controller is the only place that
ties core to the API; the simulation and the providers stand on their own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "operator" / "kubatch"
CORE_MAX_LINES = 520
"""About 500: every core module readable in one sitting."""


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every kubatch module -> the modules it imports (kubatch ones, and top-level others)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                found.add(target)
                for alias in node.names:  # `from . import x` imports the module x
                    candidate = f"{target}.{alias.name}"
                    if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists():
                        found.add(candidate)
        graph[name] = found
    return graph


GRAPH = _imports()


def _kubatch(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}


def test_no_module_import_cycle() -> None:
    edges = _kubatch(GRAPH)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: ts for m, ts in GRAPH.items() if m == prefix or m.startswith(prefix + ".")}


FORBIDDEN = [
    # (layer, what it must not import, why)
    ("kubatch.core", "kopf", "core is pure"),
    ("kubatch.core", "kubernetes", "core is pure"),
    ("kubatch.core", "aiohttp", "core is pure"),
    ("kubatch.core", "kubatch.controller", "core decides; the controller carries out"),
    ("kubatch.core", "kubatch.kube", "core does no I/O"),
    ("kubatch.core", "kubatch.sim", "core knows nothing of the simulation"),
    ("kubatch.sim", "kubatch.controller", "the simulation stands on its own"),
    ("kubatch.autoscaling", "kubatch.controller", "providers stand on their own types"),
    ("kubatch.autoscaling", "kubatch.core", "providers stand on their own types"),
    ("kubatch.kube", "kubatch.core", "the client knows nothing of Kubatch"),
    ("kubatch.api", "kubatch.core", "the API models are the foundation"),
]


@pytest.mark.parametrize(("layer", "forbidden", "why"), FORBIDDEN, ids=lambda v: str(v))
def test_layers_import_only_what_they_may(layer: str, forbidden: str, why: str) -> None:
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in _imports_of(layer).items()
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    )
    assert not offending, f"{why}: {offending}"


def test_core_reaches_autoscaling_only_through_its_types() -> None:
    found = {
        target
        for targets in _imports_of("kubatch.core").values()
        for target in targets
        if target.startswith("kubatch.autoscaling")
    }
    assert found <= {"kubatch.autoscaling.types"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_modules_are_small_enough_to_read_in_one_sitting(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= CORE_MAX_LINES
