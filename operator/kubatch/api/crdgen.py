"""Generate the CustomResourceDefinitions from the models: `python -m kubatch.api.crdgen DIR...`.

The models are the one source of truth; this turns pydantic's JSON schema into the structural
OpenAPI v3 schema an API server accepts (no $ref, no null branches, no additionalProperties:
false, no titles) and wraps it with names, printer columns and the status subresource.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from .common import GROUP, VERSION, ApiModel
from .kinds import CATEGORY, KINDS, Resource, spec_and_status

Schema = dict[str, Any]


def _structural(node: Any, defs: Schema, *, keep_defaults: bool) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs, keep_defaults=keep_defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
        # Keys beside the $ref (description, default) win over the definition's.
        node = {**target, **node}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if branches is None:
            continue
        real = [b for b in branches if b != {"type": "null"}]
        if len(real) == 1:
            del node[key]
            node = (
                {**real[0], **node} if "$ref" not in real[0] else {**node, "$ref": real[0]["$ref"]}
            )
            return _structural(node, defs, keep_defaults=keep_defaults)
        node[key] = real
    node.pop("title", None)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        node.pop("additionalProperties", None)
    if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
        node["minimum"], node["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "default" in node and (
        not keep_defaults or node["default"] is None or node["default"] in ([], {})
    ):
        del node["default"]
    result: Schema = {}
    for key, value in node.items():
        if key == "properties":
            result[key] = {
                k: _structural(v, defs, keep_defaults=keep_defaults) for k, v in value.items()
            }
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            result[key] = _structural(value, defs, keep_defaults=keep_defaults)
        else:
            result[key] = value
    return result


def model_schema(model: type[ApiModel], *, keep_defaults: bool = True) -> Schema:
    """The structural OpenAPI schema of one model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: Schema = _structural(raw, defs, keep_defaults=keep_defaults)
    return schema


def _immutable(spec: Schema, mutable: frozenset[str] | None, kind: str) -> Schema:
    """Transition rules that keep every spec field but `mutable` as it was at creation: each
    field must equal its old value, and none may be added or removed."""
    if mutable is None:
        return spec
    fixed = [name for name in spec.get("properties", {}) if name not in mutable]
    allowed = " and ".join(sorted(mutable))
    for name in fixed:
        prop = spec["properties"][name]
        prop["x-kubernetes-validations"] = [
            *prop.get("x-kubernetes-validations", []),
            {
                "rule": "self == oldSelf",
                "message": f"{name} cannot change once the {kind} exists (only {allowed} can)",
            },
        ]
    presence = " && ".join(f"has(self.{n}) == has(oldSelf.{n})" for n in fixed)
    spec["x-kubernetes-validations"] = [
        *spec.get("x-kubernetes-validations", []),
        {
            "rule": presence,
            "message": f"fields of a {kind} cannot be added or removed once it exists "
            f"(only {allowed} can)",
        },
    ]
    return spec


def _root_schema(cls: type[Resource]) -> Schema:
    spec, status = spec_and_status(cls)
    root_rules = [{"rule": r.cel, "message": r.message} for r in cls.__rules__ if r.cel is not None]
    return {
        "type": "object",
        "description": (cls.__doc__ or cls.INFO.kind).strip().splitlines()[0],
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _immutable(model_schema(spec), cls.INFO.mutable_spec, cls.INFO.kind),
            # The operator writes status; defaults there would only add noise.
            "status": model_schema(status, keep_defaults=False),
        },
        "x-kubernetes-validations": root_rules,
    }


def crd(cls: type[Resource]) -> Schema:
    info = cls.INFO
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"description": c.description} if c.description else {}),
            **({"priority": c.priority} if c.priority else {}),
        }
        for c in info.columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "kubatch"},
        },
        "spec": {
            "group": GROUP,
            "scope": info.scope,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": _root_schema(cls)},
                }
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    """File name -> CRD, for every kind."""
    return {f"{GROUP}_{cls.INFO.plural}.yaml": crd(cls) for cls in KINDS.values()}


def render(document: Schema) -> str:
    header = "# Generated from operator/kubatch/api by `make crds`. Do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in all_crds().items():
        path = directory / name
        path.write_text(render(document))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    targets = (argv if argv is not None else sys.argv[1:]) or ["crds"]
    for target in targets:
        for path in write(Path(target)):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
