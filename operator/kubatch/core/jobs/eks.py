"""A job definition written the AWS Batch on EKS way (eksProperties): the job's overrides and
parameters applied to its pod, what the pod asks of a node, and the container the rest of
Kubatch reads as the job's (the first, the essential one)."""

from __future__ import annotations

from collections.abc import Mapping

from ...api.eks import (
    EksContainer,
    EksContainerOverride,
    EksPodProperties,
    EksPropertiesOverride,
    names_of,
)
from ...api.jobdefinition import ContainerProperties, KeyValuePair
from ...api.resources import Resources, quantity_int, quantity_millis
from .parameters import substitute


class UnknownContainer(ValueError):
    """An override names a container the pod does not have."""


def _applied(
    containers: list[EksContainer], overrides: list[EksContainerOverride], base: str
) -> list[EksContainer]:
    """Each override changes the container it names (the first when it names none)."""
    found = list(containers)
    names = names_of(containers, base)
    for override in overrides:
        if override.name is not None and override.name not in names:
            raise UnknownContainer(
                f"eksPropertiesOverride names container {override.name}, which the pod does not "
                f"have (it has {', '.join(names)})"
            )
        index = names.index(override.name) if override.name else 0
        container = found[index]
        env = {e.name: e for e in container.env}
        env.update({e.name: e for e in override.env})
        update: dict[str, object] = {"env": list(env.values())}
        if override.image is not None:
            update["image"] = override.image
        if override.command is not None:
            update["command"] = override.command
        if override.args is not None:
            update["args"] = override.args
        if override.resources is not None:
            update["resources"] = override.resources
        found[index] = container.model_copy(update=update)
    return found


def _substituted(
    containers: list[EksContainer], parameters: Mapping[str, str]
) -> list[EksContainer]:
    return [
        c.model_copy(
            update={
                "command": substitute(c.command, parameters),
                "args": substitute(c.args, parameters),
            }
        )
        for c in containers
    ]


def eks_pod(
    pod: EksPodProperties, override: EksPropertiesOverride | None, parameters: Mapping[str, str]
) -> EksPodProperties:
    """The definition's pod with the job's overrides and parameters applied, every container
    named (as Kubernetes needs them to be)."""
    changes = override.pod_properties if override else None
    containers = _applied(pod.containers, changes.containers if changes else [], "default")
    inits = _applied(pod.init_containers, changes.init_containers if changes else [], "init")
    metadata = pod.metadata
    if changes is not None and changes.metadata is not None:
        base = pod.metadata.model_copy() if pod.metadata else changes.metadata.model_copy()
        metadata = base.model_copy(
            update={
                "labels": {**base.labels, **changes.metadata.labels},
                "annotations": {**base.annotations, **changes.metadata.annotations},
            }
        )
    named = [
        c.model_copy(update={"name": n})
        for c, n in zip(containers, names_of(containers, "default"), strict=True)
    ]
    named_inits = [
        c.model_copy(update={"name": n})
        for c, n in zip(inits, names_of(inits, "init"), strict=True)
    ]
    return pod.model_copy(
        update={
            "containers": _substituted(named, parameters),
            "init_containers": _substituted(named_inits, parameters),
            "metadata": metadata,
        }
    )


def _requests(container: EksContainer) -> Resources:
    """What one container is placed by: its requests, its limits where it requests nothing."""
    asked = {**container.resources.limits.amounts(), **container.resources.requests.amounts()}
    return Resources(
        quantity_millis(asked["cpu"]) if "cpu" in asked else 0,
        quantity_int(asked["memory"]) if "memory" in asked else 0,
        quantity_int(asked["nvidia.com/gpu"]) if "nvidia.com/gpu" in asked else 0,
    )


def eks_resources(pod: EksPodProperties) -> Resources:
    """What the pod asks of a node, as Kubernetes counts it: its containers together, or its
    largest init container if that asks more."""
    total = Resources()
    for container in pod.containers:
        total = total + _requests(container)
    for init in pod.init_containers:
        asked = _requests(init)
        total = Resources(
            max(total.millicpu, asked.millicpu),
            max(total.memory, asked.memory),
            max(total.gpus, asked.gpus),
        )
    return total


def essential_view(pod: EksPodProperties) -> ContainerProperties:
    """The essential container (the first) as a container of Kubatch's own kind, for what
    reads a job's container (its image, command and variables)."""
    first = pod.containers[0]
    return ContainerProperties(
        image=first.image,
        command=[*first.command, *first.args] or None,
        environment=[KeyValuePair(name=e.name, value=e.value or "") for e in first.env],
        service_account_name=pod.service_account_name,
    )
