"""Job definitions: revisions, "def" and "def:3", parameters and overrides."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import BatchJobSpec, JobDefinitionSpec
from kubatch.api.resources import MIB, Resources
from kubatch.core.jobs.definitions import (
    Refused,
    ResolvedJob,
    Revision,
    Unresolved,
    resolve_job,
    resolve_revision,
    revision_hash,
)
from kubatch.core.jobs.parameters import substitute
from tests.support.world import DEFINITION

SPEC = JobDefinitionSpec.model_validate(DEFINITION)


def revisions(*active: bool) -> list[Revision]:
    return [Revision(i + 1, SPEC, a) for i, a in enumerate(active)]


@pytest.mark.parametrize(
    ("rule", "ref", "known", "expected"),
    [
        ("name_is_the_latest_active_revision", "d", revisions(True, True, True), 3),
        ("name_skips_inactive_revisions", "d", revisions(True, True, False), 2),
        ("name_with_revision_is_that_revision", "d:1", revisions(True, True), 1),
        (
            "inactive_revision_is_refused",
            "d:2",
            revisions(True, False),
            Refused("JobDefinition d:2 is INACTIVE"),
        ),
        (
            "no_active_revision_is_refused",
            "d",
            revisions(False, False),
            Refused("JobDefinition d has no ACTIVE revision"),
        ),
        ("missing_definition_waits", "d", None, Unresolved("JobDefinition d does not exist yet")),
        (
            "future_revision_waits",
            "d:5",
            revisions(True),
            Unresolved("JobDefinition d:5 does not exist yet (latest is 1)"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "_" in v else "",
)
def test_revision_resolution(
    rule: str, ref: str, known: list[Revision] | None, expected: object
) -> None:
    found = resolve_revision(ref, known)
    if isinstance(expected, int):
        assert isinstance(found, Revision)
        assert found.number == expected
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("command", "parameters", "expected"),
    [
        (["echo", "Ref::msg"], {"msg": "hi"}, ["echo", "hi"]),
        (["cp", "s3://b/Ref::key.txt"], {"key": "k1"}, ["cp", "s3://b/k1.txt"]),
        (["x", "Ref::unknown"], {"msg": "hi"}, ["x", "Ref::unknown"]),
        (["Ref::input_file"], {"input": "a", "input_file": "b"}, ["b"]),
        (["Ref::a Ref::a"], {"a": "1"}, ["1 1"]),
        (["no refs"], {}, ["no refs"]),
    ],
)
def test_ref_substitution(
    command: list[str], parameters: dict[str, str], expected: list[str]
) -> None:
    assert substitute(command, parameters) == expected


def _resolve(**job: Any) -> ResolvedJob:
    spec = BatchJobSpec.model_validate({"jobQueue": "q", "jobDefinition": "d", **job})
    resolved = resolve_job(spec, Revision(1, SPEC))
    assert isinstance(resolved, ResolvedJob)
    return resolved


def test_job_parameters_override_definition_defaults() -> None:
    assert _resolve().container.command == ["echo", "hello"]
    assert _resolve(parameters={"greeting": "bye"}).container.command == ["echo", "bye"]


def test_container_overrides_merge() -> None:
    resolved = _resolve(
        containerOverrides={
            "command": ["printf", "Ref::greeting"],
            "environment": [{"name": "A", "value": "1"}],
            "resourceRequirements": [
                {"type": "MEMORY", "value": "1Gi"},
                {"type": "GPU", "value": "1"},
            ],
        }
    )
    assert resolved.container.command == ["printf", "hello"]
    assert [(e.name, e.value) for e in resolved.container.environment] == [("A", "1")]
    assert resolved.resources == Resources(millicpu=1000, memory=1024 * MIB, gpus=1)


def test_job_retry_strategy_and_priority_override_the_definitions() -> None:
    resolved = _resolve(retryStrategy={"attempts": 4}, schedulingPriorityOverride=7)
    assert (resolved.attempts_allowed, resolved.scheduling_priority) == (4, 7)


def test_missing_vcpu_or_memory_is_a_resource_problem() -> None:
    spec = JobDefinitionSpec.model_validate({"containerProperties": {"image": "x"}})
    job = BatchJobSpec.model_validate({"jobQueue": "q", "jobDefinition": "d"})
    resolved = resolve_job(job, Revision(1, spec))
    assert isinstance(resolved, ResolvedJob)
    assert resolved.resource_problem == "resourceRequirements must give VCPU and MEMORY"


def test_revision_hash_ignores_deregistration_and_sees_real_changes() -> None:
    changed = JobDefinitionSpec.model_validate({**DEFINITION, "parameters": {"greeting": "x"}})
    deregistered = JobDefinitionSpec.model_validate({**DEFINITION, "deregisteredRevisions": [1]})
    assert revision_hash(SPEC) == revision_hash(deregistered)
    assert revision_hash(SPEC) != revision_hash(changed)


LEGACY = {"containerProperties": {"image": "x", "vcpus": 2, "memory": 512}}
MODERN = {
    "containerProperties": {
        "image": "x",
        "resourceRequirements": [
            {"type": "VCPU", "value": "2"},
            {"type": "MEMORY", "value": "512"},
        ],
    }
}


@pytest.mark.parametrize(
    ("definition", "overrides", "millicpu", "mib", "kept"),
    [
        (LEGACY, None, 2000, 512, {"vcpus": 2, "memory": 512}),
        (LEGACY, {"vcpus": 4}, 4000, 512, {"vcpus": 4, "memory": 512}),
        (
            LEGACY,
            {"resourceRequirements": [{"type": "VCPU", "value": "0.5"}]},
            500,
            512,
            {"vcpus": None, "memory": 512},
        ),
        (MODERN, {"memory": 1024}, 2000, 1024, {"vcpus": None, "memory": 1024}),
        (MODERN, None, 2000, 512, {"vcpus": None, "memory": None}),
    ],
    ids=[
        "legacy_fields_are_requirements",
        "a_legacy_override_wins",
        "a_modern_override_replaces_a_legacy_field",
        "a_legacy_override_replaces_a_requirement",
        "modern_fields_alone",
    ],
)
def test_aws_older_vcpus_and_memory_fields_count_as_requirements_and_stay_as_given(
    definition: dict[str, Any],
    overrides: dict[str, Any] | None,
    millicpu: int,
    mib: int,
    kept: dict[str, int | None],
) -> None:
    spec = JobDefinitionSpec.model_validate(definition)
    job = BatchJobSpec.model_validate(
        {"jobQueue": "q", "jobDefinition": "d", "containerOverrides": overrides}
    )
    resolved = resolve_job(job, Revision(1, spec))
    assert isinstance(resolved, ResolvedJob)
    assert resolved.resources == Resources(millicpu=millicpu, memory=mib * MIB, gpus=0)
    container = resolved.container
    assert {"vcpus": container.vcpus, "memory": container.memory} == kept
    assert resolved.resource_problem is None


def test_a_new_registration_token_is_a_new_revision() -> None:
    again = JobDefinitionSpec.model_validate({**DEFINITION, "registration": "second"})
    first = JobDefinitionSpec.model_validate({**DEFINITION, "registration": "first"})
    assert revision_hash(first) != revision_hash(again)
