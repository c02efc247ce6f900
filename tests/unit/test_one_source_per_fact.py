"""Every fact is spelled once in the package: each label, annotation, taint and finalizer key
(keys.py), the API group and version (api/common.py), each kind's plural (the kinds table,
api/kinds.py) and each job state (JobStatus). Anywhere else the name is imported, so renaming
one changes it everywhere (mypy then finds what breaks). Counted over the package's string
literals; docstrings and messages that mention a key in a sentence are longer strings and do
not count."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from kubatch import keys
from kubatch.api import API_VERSION, GROUP, KINDS, JobStatus

PACKAGE = Path(keys.__file__).parent


OTHER_FACTS = {
    # (file, literal): why it is another fact that is spelled the same
    ("api/jobqueue.py", "RUNNABLE"): "jobStateTimeLimitActions' state, whose one value AWS allows",
}


def _literals() -> Counter[str]:
    found: Counter[str] = Counter()
    for path in PACKAGE.rglob("*.py"):
        where = str(path.relative_to(PACKAGE))
        if where.startswith("sim/"):
            continue  # the simulation is a Kubernetes of its own (`ctr` says RUNNING)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if (where, node.value) not in OTHER_FACTS:
                found[node.value] += 1
    return found


LITERALS = _literals()
KEYS = sorted(
    value
    for name, value in vars(keys).items()
    if name.isupper() and isinstance(value, str) and "/" in value
)
FACTS = [
    *(("key", k) for k in KEYS),
    ("API version", API_VERSION),
    ("API group", GROUP),
    *(("plural", kind.INFO.plural) for kind in KINDS.values()),
    *(("job state", state.value) for state in JobStatus),
]


@pytest.mark.parametrize(("what", "value"), FACTS, ids=lambda v: str(v))
def test_each_fact_is_spelled_once(what: str, value: str) -> None:
    assert LITERALS[value] <= 1, f"the {what} {value!r} is written {LITERALS[value]} times"


# -- a custom resource's status is read through its model ------------------------------------

READERS = ("awsapi", "cli", "console")
"""The packages that show what the operator wrote: they read a status through the pydantic
models (StatusModel.of), so renaming a status field fails their type check."""

NOT_OURS = {
    # (file, function): whose status it reads
    ("console/views.py", "pod_attempt"): "a Pod's (core/v1: its model is the kubernetes client's)",
    ("console/server.py", "_authorize"): "a SubjectAccessReview's",
}


def _status_reads() -> list[str]:
    """Each `x.get("status")` or `x["status"]` on a mapping in the readers, by file and function
    (a request's `status` parameter and a shape's own `status` key are not reads of a
    resource's status: those are `request.get` and `detail[...]`)."""
    found = []
    for package in READERS:
        for path in (PACKAGE / package).rglob("*.py"):
            where = str(path.relative_to(PACKAGE))
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if (where, function.name) in NOT_OURS:
                    continue
                for node in ast.walk(function):
                    target: ast.expr | None = None
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "get"
                        and node.args
                        and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value == "status"
                    ):
                        target = node.func.value
                    elif (
                        isinstance(node, ast.Subscript)
                        and isinstance(node.slice, ast.Constant)
                        and node.slice.value == "status"
                    ):
                        target = node.value
                    if target is None:
                        continue
                    name = ast.unparse(target)
                    if name in ("request", "detail", "d"):
                        continue
                    line = target.lineno
                    found.append(f"{where}:{line} {function.name}: {ast.unparse(node)}")
    return found


def test_readers_read_a_status_through_its_model() -> None:
    assert _status_reads() == []
