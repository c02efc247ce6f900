"""Job definitions: revisions, resolution of "def" / "def:3", parameters and overrides."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ...api.batchjob import BatchJobSpec, ContainerOverrides
from ...api.eks import EksPodProperties
from ...api.jobdefinition import (
    ContainerProperties,
    JobDefinitionSpec,
    JobDefinitionType,
    KeyValuePair,
    NodeProperties,
    PodTemplate,
    RetryStrategy,
    target_range,
)
from ...api.resources import ResourceKind, Resources, merge_requirements, to_resources
from .eks import UnknownContainer, eks_pod, eks_resources, essential_view
from .parameters import substitute

# Fields of a definition's spec that are not part of what a revision runs.
_NOT_REVISIONED = {"deregisteredRevisions"}


def revision_hash(spec: JobDefinitionSpec) -> str:
    """A stable digest of what a revision runs: equal specs give equal hashes."""
    body = {k: v for k, v in spec.wire().items() if k not in _NOT_REVISIONED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Revision:
    number: int
    spec: JobDefinitionSpec
    active: bool = True


@dataclass(frozen=True)
class Unresolved:
    """Cannot resolve yet, but may later (objects can be applied in any order)."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """Can never resolve: the job fails with this reason."""

    reason: str


def split_reference(ref: str) -> tuple[str, int | None]:
    """ "render" -> ("render", None); "render:3" -> ("render", 3)."""
    name, _, number = ref.partition(":")
    return name, int(number) if number else None


def resolve_revision(
    ref: str, revisions: Sequence[Revision] | None, pinned: bool = False
) -> Revision | Unresolved | Refused:
    """The revision a job names: "def" is the latest ACTIVE revision, "def:3" revision 3.

    `revisions` is None when the JobDefinition does not exist (yet). A job `pinned` to its
    revision when it was accepted keeps it even once it is deregistered: as in AWS,
    deregistering affects new submissions only.
    """
    name, number = split_reference(ref)
    if revisions is None:
        return Unresolved(f"JobDefinition {name} does not exist yet")
    if number is None:
        active = [r for r in revisions if r.active]
        if not active:
            if not revisions:
                return Unresolved(f"JobDefinition {name} has no revision yet")
            return Refused(f"JobDefinition {name} has no ACTIVE revision")
        return max(active, key=lambda r: r.number)
    for revision in revisions:
        if revision.number == number:
            if not revision.active and not pinned:
                return Refused(f"JobDefinition {name}:{number} is INACTIVE")
            return revision
    latest = max((r.number for r in revisions), default=0)
    if number > latest:
        return Unresolved(f"JobDefinition {name}:{number} does not exist yet (latest is {latest})")
    return Refused(f"JobDefinition {name}:{number} does not exist")


def _merge_environment(
    base: Sequence[KeyValuePair], override: Sequence[KeyValuePair]
) -> list[KeyValuePair]:
    merged = {kv.name: kv for kv in base}
    merged.update({kv.name: kv for kv in override})
    return list(merged.values())


@dataclass(frozen=True, kw_only=True)
class NodeGroup:
    """The container of a range of a multi-node job's nodes (first to last, inclusive)."""

    first: int
    last: int
    container: ContainerProperties
    resources: Resources


@dataclass(frozen=True, kw_only=True)
class ResolvedJob:
    """Everything a job's attempts run with: the definition revision with the job's
    parameters and overrides applied."""

    revision: int
    container: ContainerProperties
    resources: Resources
    retry_strategy: RetryStrategy | None = None
    timeout_seconds: int | None = None
    scheduling_priority: int = 0
    pod_template: PodTemplate | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    propagate_tags: bool = False
    node_groups: tuple[NodeGroup, ...] = ()
    """A multi-node job's containers by node range (container and resources are the main
    node's); empty for other jobs."""
    main_node: int = 0
    distinct_nodes: bool = False
    consumables: tuple[tuple[str, int], ...] = ()
    """(ConsumableResource, units) each child holds while it runs (a multi-node job: the
    job, once)."""
    eks: EksPodProperties | None = None
    """The pod of a definition written the EKS way (its containers as given, named)."""

    @property
    def attempts_allowed(self) -> int:
        return self.retry_strategy.attempts if self.retry_strategy else 1

    @property
    def multinode(self) -> bool:
        return bool(self.node_groups)

    @property
    def num_nodes(self) -> int:
        return self.node_groups[-1].last + 1 if self.node_groups else 1

    def group(self, node: int) -> NodeGroup:
        for g in self.node_groups:
            if g.first <= node <= g.last:
                return g
        raise KeyError(node)

    def for_node(self, node: int | None) -> ResolvedJob:
        """What node `node` of a multi-node job runs (the job itself for other jobs)."""
        if node is None or not self.node_groups:
            return self
        g = self.group(node)
        return replace(self, container=g.container, resources=g.resources)

    @cached_property
    def gang(self) -> tuple[Resources, ...]:
        """Every node's request, by node index (a multi-node job is placed all at once)."""
        return tuple(g.resources for g in self.node_groups for _ in range(g.first, g.last + 1))

    @cached_property
    def gang_total(self) -> Resources:
        """What all the nodes of a multi-node job ask for together."""
        total = Resources()
        for r in self.gang:
            total = total + r
        return total

    @cached_property
    def resource_problem(self) -> str | None:
        """Why the job can never be placed as asked, or None."""
        groups = self.node_groups or (
            NodeGroup(first=0, last=0, container=self.container, resources=self.resources),
        )
        for g in groups:
            missing = [
                name
                for name, amount in (("VCPU", g.resources.millicpu), ("MEMORY", g.resources.memory))
                if amount <= 0
            ]
            if missing:
                where = f" (nodes {g.first}-{g.last})" if self.node_groups else ""
                return "resourceRequirements must give " + " and ".join(missing) + where
        return None


def _container(
    container: ContainerProperties,
    overrides: ContainerOverrides | None,
    parameters: Mapping[str, str],
) -> ContainerProperties:
    """A container with the job's parameters and overrides applied."""
    command = (
        overrides.command if overrides and overrides.command is not None else container.command
    )
    return container.model_copy(
        update={
            "command": substitute(command, parameters) if command is not None else None,
            "environment": _merge_environment(
                container.environment, overrides.environment if overrides else []
            ),
            **_merged_resources(container, overrides),
        }
    )


def _merged_resources(
    container: ContainerProperties, overrides: ContainerOverrides | None
) -> dict[str, Any]:
    """The overrides' requirements over the definition's, type by type, each kept in the
    field it was given in (resourceRequirements, or AWS's older vcpus and memory)."""
    if overrides is None:
        return {}
    requirements = merge_requirements(
        container.resource_requirements, overrides.resource_requirements
    )
    fields: dict[str, Any] = {"vcpus": container.vcpus, "memory": container.memory}
    given = {r.type for r in overrides.resource_requirements}
    for legacy, kind in (("vcpus", ResourceKind.VCPU), ("memory", ResourceKind.MEMORY)):
        value = getattr(overrides, legacy)
        if value is not None:
            fields[legacy] = value
            requirements = [r for r in requirements if r.type != kind]
        elif kind in given:
            fields[legacy] = None
    return {"resource_requirements": requirements, **fields}


def _node_groups(
    spec: BatchJobSpec, nodes: NodeProperties, parameters: Mapping[str, str]
) -> tuple[NodeGroup, ...] | Refused:
    if spec.array_properties is not None:
        return Refused("a multinode job cannot be an array job: remove arrayProperties")
    if spec.container_overrides is not None:
        return Refused(
            "containerOverrides do not apply to a multinode job (AWS Batch refuses them too): "
            "use nodeOverrides.nodePropertyOverrides"
        )
    overrides = spec.node_overrides
    count = nodes.num_nodes
    if overrides is not None and overrides.num_nodes is not None:
        problem = _node_count_problem(nodes, overrides.num_nodes)
        if problem:
            return Refused(problem)
        count = overrides.num_nodes
    # Each node's container: its range's in the definition, then the overrides that name it.
    each: list[ContainerProperties] = []
    for index in range(count):
        found = next(
            r.container
            for r in nodes.node_range_properties
            if index in _open_range(r.target_nodes, nodes.num_nodes, count)
        )
        for override in overrides.node_property_overrides if overrides else ():
            if index in target_range(override.target_nodes, count):
                found = _container(found, override.container_overrides, {})
        each.append(found)
    groups: list[NodeGroup] = []
    for index, container in enumerate(each):
        if index and container is each[index - 1]:  # the same range, untouched by overrides
            groups[-1] = replace(groups[-1], last=index)
            continue
        resolved = _container(container, None, parameters)
        if groups and groups[-1].container == resolved:
            groups[-1] = replace(groups[-1], last=index)
            continue
        groups.append(
            NodeGroup(
                first=index,
                last=index,
                container=resolved,
                resources=to_resources(resolved.requirements()),
            )
        )
    return tuple(groups)


def _open_range(target: str, defined: int, count: int) -> range:
    """A definition's node range once the job runs `count` nodes: a range open at its end
    ("1:") reaches the last of them."""
    found = target_range(target, defined)
    if target.endswith(":"):
        return range(found.start, count)
    return found


def _node_count_problem(nodes: NodeProperties, count: int) -> str | None:
    """Why a job may not run `count` nodes of this definition (AWS's rules for
    nodeOverrides.numNodes), or None."""
    open_ranges = [r for r in nodes.node_range_properties if r.target_nodes.endswith(":")]
    if not open_ranges:
        return (
            "nodeOverrides.numNodes needs a node range of the definition open at its end "
            '(such as "1:")'
        )
    if any(target_range(r.target_nodes, nodes.num_nodes).start >= count for r in open_ranges):
        return f"nodeOverrides.numNodes {count} must be more than the start of every open range"
    if nodes.main_node >= count:
        return f"nodeOverrides.numNodes {count} must be more than the main node ({nodes.main_node})"
    closed = [r for r in nodes.node_range_properties if not r.target_nodes.endswith(":")]
    if any(target_range(r.target_nodes, nodes.num_nodes).stop > count for r in closed):
        return f"nodeOverrides.numNodes {count} leaves a node range of the definition empty"
    return None


def resolve_job(spec: BatchJobSpec, revision: Revision) -> ResolvedJob | Refused:
    """Apply a job's parameters and overrides to a definition revision."""
    definition = revision.spec
    parameters = {**definition.parameters, **spec.parameters}
    groups: tuple[NodeGroup, ...] = ()
    main = 0
    pod: EksPodProperties | None = None
    if definition.eks_properties is None and spec.eks_properties_override is not None:
        return Refused(
            "eksPropertiesOverride applies to a definition with eksProperties only: use "
            "containerOverrides"
        )
    if definition.type == JobDefinitionType.MULTINODE and definition.node_properties is not None:
        found = _node_groups(spec, definition.node_properties, parameters)
        if isinstance(found, Refused):
            return found
        groups, main = found, definition.node_properties.main_node
        container = next(g.container for g in groups if g.first <= main <= g.last)
    elif definition.eks_properties is not None:
        if spec.container_overrides is not None:
            return Refused(
                "containerOverrides do not apply to a definition with eksProperties: use "
                "eksPropertiesOverride"
            )
        try:
            pod = eks_pod(
                definition.eks_properties.pod_properties, spec.eks_properties_override, parameters
            )
        except UnknownContainer as e:
            return Refused(str(e))
        container = essential_view(pod)
    elif definition.container_properties is not None:
        container = _container(
            definition.container_properties, spec.container_overrides, parameters
        )
    else:
        return Refused(f"JobDefinition revision {revision.number} has no container")
    timeout = spec.timeout or definition.timeout
    priority = spec.scheduling_priority_override
    if priority is None:
        priority = definition.scheduling_priority or 0
    propagate = (
        spec.propagate_tags if spec.propagate_tags is not None else bool(definition.propagate_tags)
    )
    return ResolvedJob(
        revision=revision.number,
        container=container,
        resources=eks_resources(pod) if pod else to_resources(container.requirements()),
        retry_strategy=spec.retry_strategy or definition.retry_strategy,
        timeout_seconds=timeout.attempt_duration_seconds if timeout else None,
        scheduling_priority=priority,
        pod_template=definition.pod_template,
        tags={**definition.tags, **spec.tags},
        propagate_tags=propagate,
        node_groups=groups,
        main_node=main,
        distinct_nodes=bool(
            definition.node_properties and definition.node_properties.distinct_nodes
        ),
        consumables=_consumables(definition, spec),
        eks=pod,
    )


def _consumables(definition: JobDefinitionSpec, spec: BatchJobSpec) -> tuple[tuple[str, int], ...]:
    """The definition's consumable resources with the job's override, resource by resource."""
    found: dict[str, int] = {}
    for properties in (
        definition.consumable_resource_properties,
        spec.consumable_resource_properties_override,
    ):
        for need in properties.consumable_resource_list if properties else ():
            found[need.consumable_resource] = need.quantity
    return tuple(sorted(found.items()))
