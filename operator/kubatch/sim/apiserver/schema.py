"""Validate a custom resource against its CRD's schema the way an API server does.

Prunes unknown fields (or refuses them under strict field validation), applies the schema's
defaults, then checks the OpenAPI keywords (jsonschema, draft 4 as OpenAPI v3.0 uses it),
int-or-string, list-map key uniqueness and every x-kubernetes-validations CEL rule
(cel-python). The embedded API server admits custom resources with it, and the tests use it
to prove that the generated CRDs carry the same rules as the pydantic models.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import celpy
import celpy.adapter
import celpy.evaluation
from jsonschema import Draft4Validator, validators

Schema = dict[str, Any]
EVALUATION_FAILED = "rule could not be evaluated:"
# What a real API server says instead of evaluating the CEL rules of an object that has a type
# error or a value outside an enum: rules could not be evaluated on such an object.
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
# The jsonschema keywords whose failures a real API server (1.28) reports as TypeInvalid,
# NotSupported, Required, TooMany or TooLong: the "blocking" errors that keep it from
# evaluating CEL rules.
_BLOCKING = frozenset({"type", "enum", "required", "maxItems", "maxLength", "maxProperties"})
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "object")


def _shown(value: Any) -> str:
    """A value as a real server shows it in "Invalid value: ..." (objects by their type)."""
    if isinstance(value, dict | list):
        return json.dumps(_json_type(value))
    return json.dumps(value)


def _error(e: Any) -> str:
    """One schema error as a real API server words it: the field, then the rule. Lists and
    long strings are never echoed."""
    path = _path(tuple(e.absolute_path))
    value, limit, keyword = e.instance, e.validator_value, e.validator
    if keyword == "required":
        missing = str(e.message).split("'")[1] if "'" in str(e.message) else ""
        return f"{path + '.' if path else ''}{missing}: Required value"
    if keyword in ("maxItems", "maxProperties"):
        return f"{path}: Too many: {len(value)}: must have at most {limit} items"
    if keyword == "maxLength":
        return f"{path}: Too long: may not be longer than {limit}"
    invalid = f"{path}: Invalid value: {_shown(value)}: {path} in body"
    if keyword == "minItems":
        count = len(value)
        return f"{path}: Invalid value: {count}: {path} in body should have at least {limit} items"
    if keyword == "minLength":
        return f"{invalid} should be at least {limit} chars long"
    if keyword == "pattern":
        return f"{invalid} should match '{limit}'"
    if keyword == "enum":
        supported = ", ".join(json.dumps(v) for v in limit)
        return f"{path}: Unsupported value: {_shown(value)}: supported values: {supported}"
    if keyword in ("minimum", "maximum"):
        if isinstance(value, int) and not isinstance(value, bool):
            limit = int(limit)
        relation = "greater" if keyword == "minimum" else "less"
        return f"{invalid} should be {relation} than or equal to {limit}"
    if keyword == "type":
        kind = _json_type(value)
        return f'{path}: Invalid value: "{kind}": {path} in body must be of type {limit}: "{kind}"'
    return f"{path}: {e.message}"


def _truncating(keyword: str) -> Any:
    """`minimum`/`maximum` as a real API server checks them: against an integer value, a
    fractional bound is first truncated to an integer (Go's int64()), so 0 passes
    `minimum: 0.0001`. Rules that must hold for integers too are written in CEL."""
    check = Draft4Validator.VALIDATORS[keyword]

    def bound(validator: Any, limit: Any, instance: Any, schema: Schema) -> Any:
        if isinstance(instance, int) and not isinstance(instance, bool):
            limit = int(limit)
        return check(validator, limit, instance, schema)

    return bound


OpenApiValidator = validators.extend(
    Draft4Validator, {"minimum": _truncating("minimum"), "maximum": _truncating("maximum")}
)


def apply_defaults(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_defaults(prop, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def compile_rule(rule: str) -> None:
    """Raises when the CEL expression does not compile."""
    _program(rule)


def _path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _int_or_string_errors(schema: Schema, value: Any, path: tuple[str | int, ...]) -> list[str]:
    """x-kubernetes-int-or-string values that are neither (type errors, so blocking)."""
    errors: list[str] = []
    if schema.get("x-kubernetes-int-or-string") and (
        isinstance(value, bool) or not isinstance(value, int | str)
    ):
        errors.append(f"{_path(path)}: must be an integer or a string")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _int_or_string_errors(schema["items"], item, (*path, i))
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                errors += _int_or_string_errors(prop, value[name], (*path, name))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                errors += _int_or_string_errors(extra, item, (*path, key))
    return errors


_ABSENT = object()


def _correlated(schema: Schema, old: Any, item: Any) -> Any:
    """The old item a list item corresponds to: only items of a map-type list correlate
    (by their keys), as on a real API server; elsewhere there is no old value."""
    keys: list[str] = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return _ABSENT
    if not isinstance(item, dict):
        return _ABSENT
    wanted = tuple(item.get(k) for k in keys)
    for candidate in old:
        if isinstance(candidate, dict) and tuple(candidate.get(k) for k in keys) == wanted:
            return candidate
    return _ABSENT


def _extensions(
    schema: Schema,
    value: Any,
    path: tuple[str | int, ...],
    rules: bool = True,
    old: Any = _ABSENT,
) -> list[str]:
    """List-map key uniqueness and (when `rules`) the CEL rules, depth first. Transition
    rules (those naming oldSelf) are evaluated only where an old value correlates: on
    update, never on create."""
    errors: list[str] = []
    if isinstance(value, list):
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema["x-kubernetes-list-map-keys"]
            seen = set()
            for i, item in enumerate(value):
                key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else None
                if key in seen:
                    # As a real API server: at the repeated item, naming its keys.
                    named = json.dumps({k: item.get(k) for k in keys}, separators=(",", ":"))
                    errors.append(f"{_path((*path, i))}: Duplicate value: {named}")
                seen.add(key)
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                errors += _extensions(
                    items, item, (*path, i), rules, _correlated(schema, old, item)
                )
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                before = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
                errors += _extensions(prop, value[name], (*path, name), rules, before)
    for validation in schema.get("x-kubernetes-validations", []) if rules else ():
        transition = "oldSelf" in validation["rule"]
        if transition and old is _ABSENT:
            continue
        try:
            bound = {"self": celpy.adapter.json_to_cel(_typed(schema, value))}
            if transition:
                bound["oldSelf"] = celpy.adapter.json_to_cel(_typed(schema, old))
            ok = _program(validation["rule"]).evaluate(bound)
        except Exception as e:  # a rule that cannot be evaluated is a failure too
            errors.append(f"{_path(path)}: {EVALUATION_FAILED} {validation['rule']!r}: {e}")
            continue
        if isinstance(ok, celpy.evaluation.CELEvalError) or not ok:
            errors.append(f"{_path(path)}: {validation['message']}")
    return errors


def _typed(schema: Schema, value: Any) -> Any:
    """`value` as CEL sees it under `schema`: a `number` is a double even when written as an
    integer (JSON has one kind of number; the schema says which CEL type it has)."""
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_typed(schema["items"], item) for item in value]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: _typed(properties.get(k) or (extra if isinstance(extra, dict) else {}), v)
            for k, v in value.items()
        }
    return value


def prune(schema: Schema, value: Any, path: tuple[str | int, ...] = ()) -> list[str]:
    """Remove fields the schema does not know, in place; returns their paths."""
    removed: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return removed
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is not None:
            for key in list(value):
                if key not in properties:
                    del value[key]
                    removed.append(_path((*path, key)))
                else:
                    removed += prune(properties[key], value[key], (*path, key))
        elif isinstance(extra, dict):
            for key in value:
                removed += prune(extra, value[key], (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            removed += prune(schema["items"], item, (*path, i))
    return removed


_ROOT_FIELDS = {"apiVersion", "kind", "metadata"}


def admit(
    schema: Schema, obj: dict[str, Any], strict: bool = False, old: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The object as it would be stored (pruned, defaulted) and every error an API server
    would report for it; strict refuses unknown fields instead of dropping them. `old` is the
    stored object on an update (for transition rules)."""
    value = copy.deepcopy(obj)
    kept = {k: value.pop(k) for k in list(value) if k in _ROOT_FIELDS}
    removed = prune(schema, value)
    errors = [f"{p}: unknown field" for p in removed] if strict else []
    value.update(kept)
    value = apply_defaults(schema, value)
    found = list(OpenApiValidator(schema).iter_errors(value))
    errors += [_error(e) for e in found]
    mistyped = _int_or_string_errors(schema, value, ())
    errors += mistyped
    blocking = bool(mistyped) or any(e.validator in _BLOCKING for e in found)
    errors += _extensions(schema, value, (), not blocking, _ABSENT if old is None else old)
    if blocking and _has_rules(schema):
        errors.append(f"<nil>: {RULES_NOT_CHECKED}")
    return value, errors


def _has_rules(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("x-kubernetes-validations"):
        return True
    children = [*schema.get("properties", {}).values(), schema.get("items")]
    children.append(schema.get("additionalProperties"))
    return any(_has_rules(child) for child in children)


def validate(crd: Schema, obj: dict[str, Any]) -> list[str]:
    """Every error an API server would report for `obj`; empty when it is accepted."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return admit(schema, obj)[1]


NOT_SUPPORTED = ("patternProperties", "dependencies", "definitions", "additionalItems", "$ref")
"""OpenAPI keywords an API server refuses in a CRD's schema ("Forbidden: ... is not
supported")."""


def refused_keywords(schema: Any, path: str = "spec.validation.openAPIV3Schema") -> list[str]:
    """What an API server refuses in a CRD's schema, in its words."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return problems
    for key in NOT_SUPPORTED:
        if key in schema:
            problems.append(f"{path}.{key}: Forbidden: {key} is not supported")
    for name, prop in (schema.get("properties") or {}).items():
        problems += refused_keywords(prop, f"{path}.properties[{name}]")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += refused_keywords(schema[key], f"{path}.{key}")
    return problems


def structural_problems(schema: Any, path: str = "") -> list[str]:
    """What would keep an API server from accepting this as a structural schema."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return problems
    for key in NOT_SUPPORTED:
        if key in schema:
            problems.append(f"{path}: has {key}")
    for key in ("$ref", "$defs", "title", "const", "oneOf"):
        if key in schema:
            problems.append(f"{path}: has {key}")
    if "type" not in schema and not (
        schema.get("x-kubernetes-int-or-string")
        or schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        problems.append(f"{path}: has no type")
    if schema.get("additionalProperties") is False:
        problems.append(f"{path}: additionalProperties: false")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: both properties and additionalProperties")
    if schema.get("type") == "array" and "maxItems" not in schema and path.count("items") > 0:
        problems.append(f"{path}: nested list without maxItems (CEL cost cannot be bounded)")
    for name, prop in schema.get("properties", {}).items():
        problems += structural_problems(prop, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += structural_problems(schema[key], f"{path}.{key}")
    return problems
