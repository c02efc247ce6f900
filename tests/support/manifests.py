"""Small valid manifests of each kind, and a way to break one field of them."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

API = "kubatch.io/v1alpha1"
DELETE = object()

Manifest = dict[str, Any]


def compute_environment(name: str = "ce1", **spec: Any) -> Manifest:
    body = {"computeResources": {"minvCpus": 0, "maxvCpus": 16}, **spec}
    return {
        "apiVersion": API,
        "kind": "ComputeEnvironment",
        "metadata": {"name": name},
        "spec": body,
    }


def job_queue(name: str = "q1", **spec: Any) -> Manifest:
    body = {
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce1"}],
        **spec,
    }
    return {"apiVersion": API, "kind": "JobQueue", "metadata": {"name": name}, "spec": body}


def job_definition(name: str = "def1", **spec: Any) -> Manifest:
    body = {
        "containerProperties": {
            "image": "busybox",
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "512"},
            ],
        },
        **spec,
    }
    return {
        "apiVersion": API,
        "kind": "JobDefinition",
        "metadata": {"name": name, "namespace": "default"},
        "spec": body,
    }


def batch_job(name: str = "job1", **spec: Any) -> Manifest:
    body = {"jobQueue": "q1", "jobDefinition": "def1", **spec}
    return {
        "apiVersion": API,
        "kind": "BatchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": body,
    }


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        steps.append(name)
        steps += [int(i) for i in indexes if i]
    return steps


def with_field(manifest: Manifest, path: str, value: Any) -> Manifest:
    """A copy of `manifest` with the field at `path` ("spec.dependsOn[0].type") set or
    deleted (value DELETE). Missing objects on the way are created."""
    result = copy.deepcopy(manifest)
    steps = _steps(path)
    node: Any = result
    for step, following in itertools.pairwise(steps):
        if isinstance(step, str) and step not in node:
            node[step] = [] if isinstance(following, int) else {}
        node = node[step]
    last = steps[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = copy.deepcopy(value)
    return result
