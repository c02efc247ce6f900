"""crds/ is generated from the models and must stay so; the schemas must be ones an API
server accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubatch.api import KINDS
from kubatch.api.crdgen import all_crds, crd, render
from kubatch.sim.apiserver import schema as crdcheck

ROOT = Path(__file__).parents[2]
GENERATED = all_crds()


def test_crds_directory_holds_exactly_the_generated_files() -> None:
    assert sorted(p.name for p in (ROOT / "crds").glob("*.yaml")) == sorted(GENERATED)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_crd_file_matches_the_models(name: str) -> None:
    on_disk = (ROOT / "crds" / name).read_text()
    assert on_disk == render(GENERATED[name]), f"crds/{name} is stale: run `make crds`"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_crd_schema_is_structural(name: str) -> None:
    schema = GENERATED[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert crdcheck.structural_problems(schema) == []


def _rules(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in _rules(item)]
    if not isinstance(node, dict):
        return []
    found = [v["rule"] for v in node.get("x-kubernetes-validations", [])]
    return found + [r for value in node.values() for r in _rules(value)]


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_cel_rule_compiles(name: str) -> None:
    rules = _rules(GENERATED[name])
    assert rules
    for rule in rules:
        crdcheck.compile_rule(rule)


@pytest.mark.parametrize("cls", list(KINDS.values()), ids=lambda c: c.INFO.kind)
def test_names_scope_and_status_subresource(cls: Any) -> None:
    document = crd(cls)
    spec = document["spec"]
    assert document["metadata"]["name"] == f"{cls.INFO.plural}.kubatch.io"
    assert spec["group"] == "kubatch.io"
    assert spec["names"]["categories"] == ["kubatch"]
    assert spec["names"]["shortNames"] == list(cls.INFO.short_names)
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}


def test_short_names_are_the_documented_ones() -> None:
    assert {c.INFO.kind: c.INFO.short_names for c in KINDS.values()} == {
        "ComputeEnvironment": ("ce",),
        "JobQueue": ("jq",),
        "JobDefinition": ("jd",),
        "BatchJob": ("bj",),
        "SchedulingPolicy": ("sp",),
        "ScheduledJob": ("sj",),
        "ConsumableResource": ("cres",),
    }


@pytest.mark.parametrize("cls", list(KINDS.values()), ids=lambda c: c.INFO.kind)
def test_printer_columns_point_at_fields_of_the_schema(cls: Any) -> None:
    document = crd(cls)
    (version,) = document["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        node = schema
        for part in column["jsonPath"].strip(".").split("."):
            if part == "metadata":
                break
            node = node["properties"][part]
        else:
            assert node.get("type") == {"date": "string"}.get(column["type"], column["type"]), (
                column
            )


def test_crd_files_are_loadable_yaml() -> None:
    for name in GENERATED:
        assert yaml.safe_load((ROOT / "crds" / name).read_text())["kind"] == (
            "CustomResourceDefinition"
        )


def _undescribed(node: dict[str, Any], path: str) -> list[str]:
    missing = []
    for name, prop in (node.get("properties") or {}).items():
        if not prop.get("description"):
            missing.append(f"{path}.{name}")
        missing += _undescribed(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        missing += _undescribed(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_kubectl_explain_describes_every_spec_field(name: str) -> None:
    schema = all_crds()[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _undescribed(schema["properties"]["spec"], "spec") == []


def _patterns(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.add(node["pattern"])
        for value in node.values():
            found |= _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found |= _patterns(value)
    return found


def test_every_pattern_of_the_schema_is_explained_in_words() -> None:
    """Messages say what a value must be, never a raw regular expression."""
    from kubatch.api.kinds import PATTERNS

    used = set().union(*(_patterns(c) for c in all_crds().values()))
    assert sorted(used - PATTERNS.keys()) == []
