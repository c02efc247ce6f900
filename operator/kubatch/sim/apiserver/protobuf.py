"""Read the Kubernetes protobuf encoding of the few built-in kinds kubectl sends that way.

kubectl (1.32 and later) creates built-in objects with `Content-Type:
application/vnd.kubernetes.protobuf` and does not fall back to JSON, so `kubectl create
namespace` against the emulator needs it. The body is the 4-byte magic `k8s\\0` followed by a
`runtime.Unknown` message (typeMeta, raw) whose `raw` is the object in the protobuf form of
k8s.io/api's generated.proto. Only the fields of the kinds below are read, which is what
`kubectl create namespace|configmap|secret|serviceaccount` sends; any other kind is refused
with 415, naming it.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"

# A field is (name, type): "string", "bytes", "bool", "int", a nested message (a dict of
# the same shape), ("map", value type) or ("repeated", type).
FieldType = Any
Message = dict[int, tuple[str, FieldType]]

OBJECT_META: Message = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    14: ("finalizers", ("repeated", "string")),
}
LOCAL_OBJECT_REFERENCE: Message = {1: ("name", "string")}
KINDS: dict[str, Message] = {
    "Namespace": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    },
    "ConfigMap": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", OBJECT_META),
        3: ("imagePullSecrets", ("repeated", LOCAL_OBJECT_REFERENCE)),
        4: ("automountServiceAccountToken", "bool"),
    },
}
UNKNOWN: Message = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "bytes"),
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}


class ProtobufError(ValueError):
    """The body is not the protobuf of an object this server reads."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: varints as ints, length-delimited fields as bytes."""
    found: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            found.append((number, value))
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ProtobufError("truncated field")
            found.append((number, data[at : at + size]))
            at += size
        elif wire in (1, 5):  # fixed 64 / 32 bits: no field read here has them; skip
            at += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return found


def _value(kind: FieldType, raw: int | bytes) -> Any:
    if kind == "int":
        return raw
    if kind == "bool":
        return bool(raw)
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a length-delimited field")
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()  # as JSON carries bytes
    return decode(kind, raw)


def decode(message: Message, data: bytes) -> dict[str, Any]:
    """A protobuf message as the JSON object of the same fields."""
    result: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in message:
            continue
        name, kind = message[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(raw, bytes):
                raise ProtobufError(f"{name}: expected a map entry")
            entry = dict(_fields(raw))
            key = entry.get(1, b"")
            assert isinstance(key, bytes)
            result.setdefault(name, {})[key.decode()] = _value(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            result.setdefault(name, []).append(_value(kind[1], raw))
        else:
            result[name] = _value(kind, raw)
    return result


def read_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded built-in object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (no k8s magic)")
    unknown = decode(UNKNOWN, body[len(MAGIC) :])
    type_meta = unknown.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    schema = KINDS.get(kind)
    if schema is None:
        raise ProtobufError(f"kind {kind or '(none)'} is not read from protobuf here; send JSON")
    raw = base64.b64decode(unknown.get("raw", ""))
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **decode(schema, raw)}
