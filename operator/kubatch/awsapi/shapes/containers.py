"""A container as AWS Batch writes it (containerProperties, containerOverrides) <-> a
Kubatch container spec."""

from __future__ import annotations

from typing import Any

from ...api.common import Obj
from ..errors import ClientError
from ..names import (
    Arns,
    object_name,
)
from .common import drop_none, expect


def requirements(container: Obj, field: str) -> Obj:
    """A container's (or overrides') resourceRequirements and AWS's older vcpus and memory,
    each kept in the field it was given in."""
    found = [
        dict(r)
        for r in expect(
            container.get("resourceRequirements"), list, field + ".resourceRequirements", "a list"
        )
        or []
    ]
    kinds = {r.get("type") for r in found}
    legacy: Obj = {}
    for name, kind in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        value = container.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ClientError(f"{field}.{name} must be a whole number, 1 or more")
        if kind in kinds:
            raise ClientError(
                f"{field}: give {kind} either in {name} or in resourceRequirements, not both"
            )
        legacy[name] = value
    return {"resourceRequirements": found or None, **legacy}


def _role_name(arn: str) -> str:
    return object_name(arn.rsplit("/", 1)[-1] if "/" in arn else arn)


def container_spec(container: Any, field: str) -> Obj:
    """AWS containerProperties -> Kubatch's containerProperties."""
    expect(container, dict, field, "an object")
    if not container or not isinstance(container.get("image"), str) or not container["image"]:
        raise ClientError(f"{field}.image is required")
    volumes = []
    for i, volume in enumerate(
        expect(container.get("volumes"), list, field + ".volumes", "a list") or []
    ):
        name = volume.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError(f"{field}.volumes[{i}].name is required")
        source = (volume.get("host") or {}).get("sourcePath")
        volumes.append(
            {
                "name": object_name(name),
                **({"host": {"sourcePath": source}} if source else {"emptyDir": {}}),
            }
        )
    mounts = [
        drop_none(
            {
                "sourceVolume": object_name(str(m.get("sourceVolume") or "")),
                "containerPath": m.get("containerPath"),
                "readOnly": m.get("readOnly"),
            }
        )
        for m in expect(container.get("mountPoints"), list, field + ".mountPoints", "a list") or []
    ]
    linux = container.get("linuxParameters") or {}
    spec = {
        "image": container["image"],
        "command": container.get("command"),
        "environment": container.get("environment") or None,
        **requirements(container, field),
        "volumes": volumes or None,
        "mountPoints": mounts or None,
        "secrets": container.get("secrets") or None,
        "privileged": container.get("privileged"),
        "readonlyRootFilesystem": container.get("readonlyRootFilesystem"),
        "user": container.get("user"),
        "serviceAccountName": _role_name(container["jobRoleArn"])
        if container.get("jobRoleArn")
        else None,
        "linuxParameters": drop_none(
            {
                "sharedMemorySize": linux.get("sharedMemorySize"),
                "initProcessEnabled": linux.get("initProcessEnabled"),
            }
        )
        or None,
    }
    return drop_none(spec)


def container_detail(spec: Obj, arns: Arns) -> Obj:
    """Kubatch's containerProperties -> AWS's."""
    return drop_none(
        {
            "image": spec.get("image"),
            "command": spec.get("command") or [],
            "environment": spec.get("environment") or [],
            "resourceRequirements": spec.get("resourceRequirements") or [],
            "vcpus": spec.get("vcpus"),
            "memory": spec.get("memory"),
            "volumes": [
                drop_none({"name": v["name"], "host": v.get("host")})
                for v in spec.get("volumes") or []
            ],
            "mountPoints": spec.get("mountPoints") or [],
            "secrets": spec.get("secrets") or [],
            "privileged": spec.get("privileged"),
            "readonlyRootFilesystem": spec.get("readonlyRootFilesystem"),
            "user": spec.get("user"),
            "jobRoleArn": f"arn:aws:iam::{arns.account}:role/{spec['serviceAccountName']}"
            if spec.get("serviceAccountName")
            else None,
            "linuxParameters": spec.get("linuxParameters"),
            "ulimits": [],
        }
    )
