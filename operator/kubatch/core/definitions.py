"""Job definitions: revisions, resolution of "def" / "def:3", parameters and overrides."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ..api.batchjob import BatchJobSpec
from ..api.jobdefinition import (
    ContainerProperties,
    JobDefinitionSpec,
    JobDefinitionType,
    KeyValuePair,
    PodTemplate,
    RetryStrategy,
)
from ..api.resources import Resources, merge_requirements, to_resources

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


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Replace "Ref::name" placeholders with parameter values; unknown ones stay as written.

    The longest parameter name wins, so "Ref::input_file" is not read as "Ref::input".
    """
    if not parameters:
        return list(command)
    names = sorted(parameters, key=len, reverse=True)
    pattern = re.compile("Ref::(" + "|".join(re.escape(n) for n in names) + ")")
    return [pattern.sub(lambda m: parameters[m.group(1)], part) for part in command]


def _merge_environment(
    base: Sequence[KeyValuePair], override: Sequence[KeyValuePair]
) -> list[KeyValuePair]:
    merged = {kv.name: kv for kv in base}
    merged.update({kv.name: kv for kv in override})
    return list(merged.values())


@dataclass(frozen=True)
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

    @property
    def attempts_allowed(self) -> int:
        return self.retry_strategy.attempts if self.retry_strategy else 1

    @cached_property
    def resource_problem(self) -> str | None:
        """Why the job can never be placed as asked, or None."""
        missing = [
            name
            for name, amount in (
                ("VCPU", self.resources.millicpu),
                ("MEMORY", self.resources.memory),
            )
            if amount <= 0
        ]
        if missing:
            return "resourceRequirements must give " + " and ".join(missing)
        return None


def resolve_job(spec: BatchJobSpec, revision: Revision) -> ResolvedJob | Refused:
    """Apply a job's parameters and overrides to a definition revision."""
    definition = revision.spec
    if definition.type == JobDefinitionType.MULTINODE or definition.container_properties is None:
        return Refused("multinode job definitions are not supported yet")
    container = definition.container_properties
    overrides = spec.container_overrides
    parameters = {**definition.parameters, **spec.parameters}
    command = (
        overrides.command if overrides and overrides.command is not None else container.command
    )
    requirements = merge_requirements(
        container.resource_requirements, overrides.resource_requirements if overrides else None
    )
    merged = container.model_copy(
        update={
            "command": substitute(command, parameters) if command is not None else None,
            "environment": _merge_environment(
                container.environment, overrides.environment if overrides else []
            ),
            "resource_requirements": requirements,
        }
    )
    timeout = spec.timeout or definition.timeout
    priority = spec.scheduling_priority_override
    if priority is None:
        priority = definition.scheduling_priority or 0
    propagate = (
        spec.propagate_tags if spec.propagate_tags is not None else definition.propagate_tags
    )
    return ResolvedJob(
        revision=revision.number,
        container=merged,
        resources=to_resources(requirements),
        retry_strategy=spec.retry_strategy or definition.retry_strategy,
        timeout_seconds=timeout.attempt_duration_seconds if timeout else None,
        scheduling_priority=priority,
        pod_template=definition.pod_template,
        tags={**definition.tags, **spec.tags},
        propagate_tags=propagate,
    )
