"""The shape of the code, read from its imports: no cycles between modules, the layers of
docs/architecture.md (packages, and core's inside) as data, imports only down them, and the
rules the layers alone do not state (core is pure; the providers and the simulation stand on
their own)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "operator" / "kubatch"
CORE_MAX_LINES = 400
"""Every core module readable in one sitting."""
MAX_LINES = 800
"""Every other module: past it a file holds several responsibilities (the API server emulator's
store and server held six between them at 900 lines each)."""


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


LAYERS: list[tuple[str, ...]] = [
    # Top first. A module may import from its own package and from layers below its own;
    # the packages of one row are independent (none imports another). kopf's .importlinter
    # "layers" contract, as data.
    ("kubatch.cli",),
    ("kubatch.awsapi", "kubatch.console", "kubatch.controller", "kubatch.sim"),
    ("kubatch.metrics", "kubatch.serving", "kubatch.server_options"),
    ("kubatch.core",),
    ("kubatch.autoscaling",),
    ("kubatch.kube", "kubatch.config"),
    ("kubatch.api",),
    ("kubatch.keys",),
]
CORE_LAYERS: list[tuple[str, ...]] = [
    # core/ inside: the engine runs the phases; phases change state and fill the outbox; the
    # store holds job records; one job's life and one scheduling pass know nothing above them.
    ("kubatch.core.engine",),
    ("kubatch.core.feed",),
    ("kubatch.core.phases",),
    ("kubatch.core.outbox",),
    ("kubatch.core.state",),
    ("kubatch.core.jobs", "kubatch.core.scheduling"),
]
ROOT_MODULES = {"kubatch", "kubatch.__main__"}
"""The package itself (its version) may be imported by any layer."""


def _layer(module: str, layers: list[tuple[str, ...]]) -> tuple[int, str] | None:
    for depth, row in enumerate(layers):
        for package in row:
            if module == package or module.startswith(package + "."):
                return depth, package
    return None


def _edges_against(layers: list[tuple[str, ...]]) -> list[str]:
    wrong = []
    for module, targets in _kubatch(GRAPH).items():
        here = _layer(module, layers)
        if here is None:
            continue
        for target in sorted(targets):
            there = _layer(target, layers)
            if target in ROOT_MODULES or there is None or there[1] == here[1]:
                continue
            if there[0] <= here[0]:
                wrong.append(f"{module} imports {target} ({here[1]} may not import {there[1]})")
    return wrong


def test_every_package_has_a_layer() -> None:
    for layers, within in ((LAYERS, "kubatch"), (CORE_LAYERS, "kubatch.core")):
        prefix = within + "."
        unplaced = sorted(
            m
            for m in GRAPH
            if m.startswith(prefix)
            and m not in ROOT_MODULES
            and m != "kubatch.core"
            and _layer(m, layers) is None
        )
        assert unplaced == [], f"not in a layer of {within}: {unplaced}"


@pytest.mark.parametrize("layers", [LAYERS, CORE_LAYERS], ids=["packages", "core"])
def test_imports_go_only_down_the_layers(layers: list[tuple[str, ...]]) -> None:
    assert _edges_against(layers) == []


def test_outside_core_only_the_core_package_is_imported() -> None:
    """core/__init__.py is the controller's (and the AWS API's, the console's) one entry."""
    reaching_in = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if not module.startswith("kubatch.core")
        for target in targets
        if target.startswith("kubatch.core.")
    )
    assert reaching_in == []


FORBIDDEN = [
    # (layer, what it must not import, why): rules the layers alone do not state
    ("kubatch.core", "kopf", "core is pure"),
    ("kubatch.core", "kubernetes", "core is pure"),
    ("kubatch.core", "aiohttp", "core is pure"),
    ("kubatch.core", "kubatch.kube", "core does no I/O"),
    ("kubatch.core", "kubatch.config", "core is given its settings"),
    ("kubatch.autoscaling", "kubatch.controller", "providers stand on their own types"),
    ("kubatch.sim", "kubatch.core", "the simulation knows nothing of Kubatch's decisions"),
    ("kubatch.sim", "kubatch.api", "the simulation is a Kubernetes, not Kubatch"),
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


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_core_modules_are_small_enough_to_read_in_one_sitting(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= CORE_MAX_LINES


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if "core" not in p.relative_to(PACKAGE).parts),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_module_holds_several_responsibilities_by_its_size(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


MUTATORS = {"pop", "add", "discard", "update", "clear", "append", "remove", "extend", "setdefault"}
OWN_RECORDS = {"telemetry"}
"""Plain records an object keeps of its own (the engine's counters), not a collaborator."""


def _chain(node: ast.AST) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _writes(tree: ast.AST) -> Iterator[tuple[int, list[str]]]:
    """(line, attribute chain) of every assignment, deletion or mutating call on a chain."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt | ast.expr):
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            yield node.lineno, _chain(target.value if isinstance(target, ast.Subscript) else target)


def test_no_core_object_writes_the_fields_of_another() -> None:
    """One owner per structure: a phase changes a collaborator (the store, the dispatcher, a
    job record) through its named methods, never by writing its fields."""
    found = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        where = path.relative_to(PACKAGE)
        for line, chain in _writes(ast.parse(path.read_text())):
            collaborator = len(chain) >= 3 and chain[0] == "self" and chain[1] not in OWN_RECORDS
            record = len(chain) >= 2 and chain[0] == "record" and where.parts[1] != "jobs"
            if collaborator or record:
                found.append(f"{where}:{line} writes {'.'.join(chain)}")
    assert found == []


def _dataclasses() -> Iterator[tuple[str, ast.ClassDef, ast.expr]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "dataclass":
                    yield f"{path.relative_to(PACKAGE)}:{node.name}", node, decorator


def test_records_of_more_than_three_fields_are_built_by_keyword() -> None:
    """`PodState(pod, node, resources, True, key, True, True)` reads as nothing: a dataclass
    with more than three fields is keyword-only."""
    positional = sorted(
        where
        for where, node, decorator in _dataclasses()
        if sum(isinstance(s, ast.AnnAssign) for s in node.body) > 3
        and not (
            isinstance(decorator, ast.Call) and any(k.arg == "kw_only" for k in decorator.keywords)
        )
    )
    assert positional == []
