"""Each validation rule of the API, by name: the models refuse a manifest that breaks it
with a message naming the field and the rule, and the generated CRD refuses it too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubatch.api import KINDS, InvalidManifest, parse
from kubatch.api.batchjob import BatchJobStatus, job_state
from kubatch.api.common import ApiModel, Rule
from kubatch.api.crdgen import crd
from kubatch.sim.apiserver import schema as crdcheck
from tests.support.manifests import (
    DELETE,
    Manifest,
    batch_job,
    compute_environment,
    job_definition,
    job_queue,
    with_field,
)

EXAMPLES = Path(__file__).parents[2] / "examples"

CE, JQ, JD, BJ = compute_environment(), job_queue(), job_definition(), batch_job()
SJ = {
    "apiVersion": "kubatch.io/v1alpha1",
    "kind": "ScheduledJob",
    "metadata": {"name": "sj1", "namespace": "default"},
    "spec": {
        "schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"jobQueue": "q1", "jobDefinition": "d1"}},
    },
}
SP = {
    "apiVersion": "kubatch.io/v1alpha1",
    "kind": "SchedulingPolicy",
    "metadata": {"name": "sp1"},
    "spec": {"fairsharePolicy": {}},
}
ARRAY_JOB = batch_job(arrayProperties={"size": 4})
ENV = "spec.containerProperties.environment"
REQ = "spec.containerProperties.resourceRequirements"


@dataclass(frozen=True)
class Case:
    rule: str
    manifest: Manifest
    path: str
    """Where the error points ("" for the object itself)."""
    says: str
    """A fragment of the message that states the rule."""
    schema_enforced: bool = True
    """False for the few rules only the operator can check (reported in status)."""


def case(
    rule: str, base: Manifest, field: str, value: Any, path: str, says: str, **kw: Any
) -> Case:
    return Case(rule, with_field(base, field, value), path, says, **kw)


def _exit_rules(n: int) -> list[dict[str, str]]:
    return [{"action": "RETRY", "onExitCode": str(i)} for i in range(n)]


CASES = [
    # retryStrategy
    case(
        "retry_attempts_at_most_10",
        JD,
        "spec.retryStrategy.attempts",
        11,
        "spec.retryStrategy.attempts",
        "less than or equal to 10",
    ),
    case(
        "retry_attempts_at_least_1",
        JD,
        "spec.retryStrategy.attempts",
        0,
        "spec.retryStrategy.attempts",
        "greater than or equal to 1",
    ),
    case(
        "job_retry_override_attempts_at_most_10",
        BJ,
        "spec.retryStrategy.attempts",
        12,
        "spec.retryStrategy.attempts",
        "less than or equal to 10",
    ),
    case(
        "evaluate_on_exit_at_most_5",
        JD,
        "spec.retryStrategy.evaluateOnExit",
        _exit_rules(6),
        "spec.retryStrategy.evaluateOnExit",
        "at most 5 items",
    ),
    case(
        "evaluate_on_exit_action_is_retry_or_exit",
        JD,
        "spec.retryStrategy.evaluateOnExit",
        [{"action": "RESTART"}],
        "spec.retryStrategy.evaluateOnExit[0].action",
        "must be RETRY or EXIT",
    ),
    case(
        "on_exit_code_is_digits_with_optional_trailing_star",
        JD,
        "spec.retryStrategy.evaluateOnExit",
        [{"action": "EXIT", "onExitCode": "1*2"}],
        "spec.retryStrategy.evaluateOnExit[0].onExitCode",
        'must be digits with an optional trailing "*"',
    ),
    case(
        "on_reason_allows_letters_digits_dot_colon_space",
        JD,
        "spec.retryStrategy.evaluateOnExit",
        [{"action": "exit", "onReason": "Oops!"}],
        "spec.retryStrategy.evaluateOnExit[0].onReason",
        "must be letters, digits, '.', ':' and spaces",
    ),
    case(
        "on_status_reason_star_only_at_end",
        JD,
        "spec.retryStrategy.evaluateOnExit",
        [{"action": "Retry", "onStatusReason": "Host*X"}],
        "spec.retryStrategy.evaluateOnExit[0].onStatusReason",
        "optional trailing '*' that matches any rest",
    ),
    # timeout
    case(
        "definition_timeout_at_least_60",
        JD,
        "spec.timeout.attemptDurationSeconds",
        59,
        "spec.timeout.attemptDurationSeconds",
        "greater than or equal to 60",
    ),
    case(
        "job_timeout_at_least_60",
        BJ,
        "spec.timeout.attemptDurationSeconds",
        30,
        "spec.timeout.attemptDurationSeconds",
        "greater than or equal to 60",
    ),
    # arrays and dependencies
    case(
        "array_size_at_least_2",
        BJ,
        "spec.arrayProperties.size",
        1,
        "spec.arrayProperties.size",
        "greater than or equal to 2",
    ),
    case(
        "array_size_at_most_10000",
        BJ,
        "spec.arrayProperties.size",
        10_001,
        "spec.arrayProperties.size",
        "less than or equal to 10000",
    ),
    case(
        "depends_on_at_most_20",
        BJ,
        "spec.dependsOn",
        [{"jobName": f"j{i}"} for i in range(21)],
        "spec.dependsOn",
        "at most 20 items",
    ),
    case(
        "dependency_type_is_known",
        BJ,
        "spec.dependsOn",
        [{"jobName": "a", "type": "ALL"}],
        "spec.dependsOn[0].type",
        "N_TO_N",
    ),
    case(
        "sequential_names_no_job",
        ARRAY_JOB,
        "spec.dependsOn",
        [{"jobName": "a", "type": "SEQUENTIAL"}],
        "spec.dependsOn[0]",
        "SEQUENTIAL names no",
    ),
    case(
        "dependency_needs_a_job_name",
        ARRAY_JOB,
        "spec.dependsOn",
        [{"type": "N_TO_N"}],
        "spec.dependsOn[0]",
        "needs a jobName",
    ),
    case(
        "n_to_n_names_a_whole_array",
        ARRAY_JOB,
        "spec.dependsOn",
        [{"jobName": "a:3", "type": "N_TO_N"}],
        "spec.dependsOn[0]",
        "names a whole array",
    ),
    case(
        "n_to_n_requires_an_array_job",
        BJ,
        "spec.dependsOn",
        [{"jobName": "a", "type": "N_TO_N"}],
        "spec",
        "require arrayProperties",
    ),
    case(
        "at_most_one_sequential",
        ARRAY_JOB,
        "spec.dependsOn",
        [{"type": "SEQUENTIAL"}, {"type": "SEQUENTIAL"}],
        "spec",
        "at most one SEQUENTIAL",
    ),
    case(
        "dependency_reference_is_name_or_name_index",
        BJ,
        "spec.dependsOn",
        [{"jobName": "a:b"}],
        "spec.dependsOn[0].jobName",
        'must be a job: "name", or "name:index"',
    ),
    # compute environment order
    case(
        "compute_environment_order_at_most_3",
        JQ,
        "spec.computeEnvironmentOrder",
        [{"order": i, "computeEnvironment": f"ce{i}"} for i in range(4)],
        "spec.computeEnvironmentOrder",
        "at most 3 items",
    ),
    case(
        "compute_environment_order_at_least_1",
        JQ,
        "spec.computeEnvironmentOrder",
        [],
        "spec.computeEnvironmentOrder",
        "at least 1 item",
    ),
    case(
        "compute_environment_order_orders_unique",
        JQ,
        "spec.computeEnvironmentOrder",
        [{"order": 1, "computeEnvironment": "a"}, {"order": 1, "computeEnvironment": "b"}],
        "spec",
        "must not repeat an order",
    ),
    case(
        "compute_environment_order_environments_unique",
        JQ,
        "spec.computeEnvironmentOrder",
        [{"order": 1, "computeEnvironment": "a"}, {"order": 2, "computeEnvironment": "a"}],
        "spec.computeEnvironmentOrder",
        "Duplicate value",
    ),
    # queues
    case(
        "queue_priority_at_most_1000",
        JQ,
        "spec.priority",
        1001,
        "spec.priority",
        "less than or equal to 1000",
    ),
    case("queue_state_is_enabled_or_disabled", JQ, "spec.state", "PAUSED", "spec.state", "ENABLED"),
    case(
        "queueing_strategy_is_known",
        JQ,
        "spec.queueingStrategy",
        "LIFO",
        "spec.queueingStrategy",
        "BEST_EFFORT_FIFO",
    ),
    case(
        "time_limit_max_time_at_least_600",
        JQ,
        "spec.jobStateTimeLimitActions",
        [{"reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "maxTimeSeconds": 599}],
        "spec.jobStateTimeLimitActions[0].maxTimeSeconds",
        "greater than or equal to 600",
    ),
    case(
        "time_limit_max_time_at_most_86400",
        JQ,
        "spec.jobStateTimeLimitActions",
        [{"reason": "x", "maxTimeSeconds": 86_401}],
        "spec.jobStateTimeLimitActions[0].maxTimeSeconds",
        "less than or equal to 86400",
    ),
    case(
        "time_limit_state_is_runnable",
        JQ,
        "spec.jobStateTimeLimitActions",
        [{"reason": "x", "maxTimeSeconds": 600, "state": "PENDING"}],
        "spec.jobStateTimeLimitActions[0].state",
        "RUNNABLE",
    ),
    case(
        "time_limit_action_is_cancel",
        JQ,
        "spec.jobStateTimeLimitActions",
        [{"reason": "x", "maxTimeSeconds": 600, "action": "TERMINATE"}],
        "spec.jobStateTimeLimitActions[0].action",
        "CANCEL",
    ),
    # scheduling priority and shares
    case(
        "scheduling_priority_at_most_9999",
        JD,
        "spec.schedulingPriority",
        10_000,
        "spec.schedulingPriority",
        "less than or equal to 9999",
    ),
    case(
        "scheduling_priority_override_at_least_0",
        BJ,
        "spec.schedulingPriorityOverride",
        -1,
        "spec.schedulingPriorityOverride",
        "greater than or equal to 0",
    ),
    case(
        "share_identifier_letters_digits_underscore",
        BJ,
        "spec.shareIdentifier",
        "team-a",
        "spec.shareIdentifier",
        "must be letters, digits and '_'",
    ),
    # compute environments
    case(
        "min_vcpus_at_most_max_vcpus",
        CE,
        "spec.computeResources.minvCpus",
        32,
        "spec.computeResources",
        "minvCpus must not exceed maxvCpus",
    ),
    case(
        "desired_vcpus_between_min_and_max",
        CE,
        "spec.computeResources.desiredvCpus",
        20,
        "spec.computeResources",
        "desiredvCpus must lie between",
    ),
    case(
        "max_vcpus_required",
        CE,
        "spec.computeResources.maxvCpus",
        DELETE,
        "spec.computeResources.maxvCpus",
        "required",
    ),
    case(
        "min_vcpus_not_negative",
        CE,
        "spec.computeResources.minvCpus",
        -1,
        "spec.computeResources.minvCpus",
        "greater than or equal to 0",
    ),
    case(
        "managed_requires_compute_resources",
        CE,
        "spec.computeResources",
        DELETE,
        "spec",
        "computeResources is required when type is MANAGED",
    ),
    case(
        "environment_type_is_managed_or_unmanaged",
        CE,
        "spec.type",
        "SERVERLESS",
        "spec.type",
        "MANAGED",
    ),
    case(
        "resource_type_is_known",
        CE,
        "spec.computeResources.type",
        "LAMBDA",
        "spec.computeResources.type",
        "FARGATE_SPOT",
    ),
    case(
        "allocation_strategy_is_known",
        CE,
        "spec.computeResources.allocationStrategy",
        "CHEAP",
        "spec.computeResources.allocationStrategy",
        "BEST_FIT",
    ),
    case(
        "spot_strategies_need_spot",
        CE,
        "spec.computeResources.allocationStrategy",
        "SPOT_CAPACITY_OPTIMIZED",
        "spec.computeResources",
        "apply only to type SPOT",
    ),
    case(
        "bid_percentage_at_most_100",
        with_field(CE, "spec.computeResources.type", "SPOT"),
        "spec.computeResources.bidPercentage",
        150,
        "spec.computeResources.bidPercentage",
        "less than or equal to 100",
    ),
    case(
        "bid_percentage_only_for_spot",
        CE,
        "spec.computeResources.bidPercentage",
        50,
        "spec.computeResources",
        "bidPercentage applies only to type SPOT",
    ),
    case(
        "instance_type_name_format",
        CE,
        "spec.computeResources.instanceTypes",
        ["M5.Large"],
        "spec.computeResources.instanceTypes[0]",
        'must be an instance type such as "m5.xlarge"',
    ),
    case(
        "custom_instance_memory_format",
        CE,
        "spec.computeResources.customInstanceTypes",
        [{"name": "big", "vcpus": 4, "memory": "lots"}],
        "spec.computeResources.customInstanceTypes[0].memory",
        "must be a number of MiB",
    ),
    case(
        "custom_instance_memory_not_negative",
        CE,
        "spec.computeResources.customInstanceTypes",
        [{"name": "big", "vcpus": 4, "memory": -1}],
        "spec.computeResources.customInstanceTypes[0].memory",
        "greater than or equal to 0",
    ),
    case(
        "taint_effect_is_known",
        CE,
        "spec.computeResources.taints",
        [{"key": "dedicated", "effect": "Never"}],
        "spec.computeResources.taints[0].effect",
        "NoSchedule",
    ),
    case(
        "provider_name_is_a_dns_label",
        CE,
        "spec.provider",
        {"name": "Cluster_API"},
        "spec.provider.name",
        "must be a DNS-1123 label",
    ),
    # environment variables and resources
    case(
        "reserved_aws_batch_prefix_in_definition",
        JD,
        ENV,
        [{"name": "AWS_BATCH_JOB_ID", "value": "x"}],
        f"{ENV}[0]",
        "must not start with AWS_BATCH_",
    ),
    case(
        "reserved_aws_batch_prefix_in_overrides",
        BJ,
        "spec.containerOverrides.environment",
        [{"name": "AWS_BATCH_JQ_NAME", "value": "x"}],
        "spec.containerOverrides.environment[0]",
        "must not start with AWS_BATCH_",
    ),
    case(
        "reserved_aws_batch_prefix_in_secrets",
        JD,
        "spec.containerProperties.secrets",
        [{"name": "AWS_BATCH_CE_NAME", "valueFrom": "creds:token"}],
        "spec.containerProperties.secrets[0]",
        "must not start with AWS_BATCH_",
    ),
    case(
        "environment_names_unique", JD, ENV, [{"name": "A"}, {"name": "A"}], ENV, "Duplicate value"
    ),
    case(
        "environment_name_format",
        JD,
        ENV,
        [{"name": "1BAD"}],
        f"{ENV}[0].name",
        "must be an environment variable name",
    ),
    case(
        "vcpu_value_is_a_number_or_millicores",
        JD,
        f"{REQ}[0].value",
        "two",
        f"{REQ}[0]",
        "VCPU value must be",
    ),
    case(
        "vcpu_value_at_most_millicore_precision",
        JD,
        f"{REQ}[0].value",
        "0.0005",
        f"{REQ}[0]",
        "VCPU value must be",
    ),
    case(
        "memory_value_is_mib_or_a_quantity",
        JD,
        f"{REQ}[1].value",
        "2Zi",
        f"{REQ}[1]",
        "MEMORY value must be",
    ),
    case(
        "gpu_value_is_a_whole_number",
        JD,
        REQ,
        [{"type": "GPU", "value": "0.5"}],
        f"{REQ}[0]",
        "GPU value must be a whole number",
    ),
    case(
        "vcpu_and_memory_greater_than_zero",
        JD,
        f"{REQ}[0].value",
        "0",
        f"{REQ}[0]",
        "greater than zero",
    ),
    case(
        "resource_value_is_a_string_as_in_aws",
        JD,
        f"{REQ}[0].value",
        2,
        f"{REQ}[0].value",
        "valid string",
    ),
    case(
        "resource_value_at_most_32_characters",
        JD,
        f"{REQ}[0].value",
        "1" * 33,
        f"{REQ}[0].value",
        "at most 32 characters",
    ),
    case(
        "resource_type_is_vcpu_memory_or_gpu", JD, f"{REQ}[0].type", "TPU", f"{REQ}[0].type", "VCPU"
    ),
    case(
        "resource_types_unique",
        JD,
        REQ,
        [{"type": "VCPU", "value": "1"}] * 2,
        REQ,
        "Duplicate value",
    ),
    case(
        "vcpu_in_vcpus_or_in_resource_requirements_not_both",
        JD,
        "spec.containerProperties.vcpus",
        2,
        "spec.containerProperties",
        "give VCPU either in vcpus or in resourceRequirements, not both",
    ),
    case(
        "memory_in_memory_or_in_resource_requirements_not_both",
        JD,
        "spec.containerProperties.memory",
        2048,
        "spec.containerProperties",
        "give MEMORY either in memory or in resourceRequirements, not both",
    ),
    case(
        "legacy_vcpus_at_least_1",
        JD,
        "spec.containerProperties.vcpus",
        0,
        "spec.containerProperties.vcpus",
        "greater than or equal to 1",
    ),
    # container properties
    case(
        "image_required",
        JD,
        "spec.containerProperties.image",
        DELETE,
        "spec.containerProperties.image",
        "required",
    ),
    case(
        "mount_points_name_a_volume",
        JD,
        "spec.containerProperties.mountPoints",
        [{"sourceVolume": "data", "containerPath": "/data"}],
        "spec.containerProperties",
        "must name one of volumes",
    ),
    case(
        "mount_path_is_absolute",
        JD,
        "spec.containerProperties.mountPoints",
        [{"sourceVolume": "data", "containerPath": "data"}],
        "spec.containerProperties.mountPoints[0].containerPath",
        "must be an absolute path",
    ),
    case(
        "volume_has_at_most_one_source",
        JD,
        "spec.containerProperties.volumes",
        [{"name": "data", "host": {"sourcePath": "/d"}, "emptyDir": {}}],
        "spec.containerProperties.volumes[0]",
        "at most one source",
    ),
    case(
        "secret_value_from_is_secret_colon_key",
        JD,
        "spec.containerProperties.secrets",
        [{"name": "TOKEN", "valueFrom": "creds"}],
        "spec.containerProperties.secrets[0].valueFrom",
        'must be "<secret>:<key>"',
    ),
    case(
        "user_is_uid_or_uid_gid",
        JD,
        "spec.containerProperties.user",
        "root",
        "spec.containerProperties.user",
        'must be a user id, or "uid:gid"',
    ),
    # definition shape
    case(
        "container_definition_requires_container_properties",
        JD,
        "spec.containerProperties",
        DELETE,
        "spec",
        "requires containerProperties",
    ),
    case(
        "eks_pod_container_names_are_unique",
        with_field(JD, "spec.containerProperties", DELETE),
        "spec.eksProperties",
        {
            "podProperties": {
                "containers": [{"name": "app", "image": "x"}],
                "initContainers": [{"name": "app", "image": "y"}],
            }
        },
        "spec.eksProperties.podProperties",
        "container names must be unique",
        schema_enforced=False,
    ),
    case(
        "eks_volume_has_exactly_one_source",
        with_field(JD, "spec.containerProperties", DELETE),
        "spec.eksProperties",
        {
            "podProperties": {
                "containers": [{"image": "x"}],
                "volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/tmp"}}],
            }
        },
        "spec.eksProperties.podProperties.volumes[0]",
        "a volume has exactly one source",
    ),
    case(
        "container_definition_not_both_container_and_eks_properties",
        JD,
        "spec.eksProperties",
        {"podProperties": {"containers": [{"image": "x"}]}},
        "spec",
        "containerProperties or eksProperties (one of them)",
    ),
    case(
        "multinode_definition_requires_node_properties",
        JD,
        "spec.type",
        "multinode",
        "spec",
        "requires nodeProperties",
    ),
    case(
        "main_node_less_than_num_nodes",
        with_field(job_definition(type="multinode"), "spec.containerProperties", DELETE),
        "spec.nodeProperties",
        {
            "numNodes": 2,
            "mainNode": 2,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": {"image": "x"}}],
        },
        "spec.nodeProperties",
        "mainNode must be less than numNodes",
    ),
    case(
        "num_nodes_at_most_1000",
        with_field(job_definition(type="multinode"), "spec.containerProperties", DELETE),
        "spec.nodeProperties",
        {
            "numNodes": 1001,
            "nodeRangeProperties": [{"targetNodes": "0", "container": {"image": "x"}}],
        },
        "spec.nodeProperties.numNodes",
        "less than or equal to 1000",
    ),
    case(
        "definition_at_most_24_kib",
        JD,
        "spec.containerProperties.command",
        ["x" * 25_000],
        "spec",
        "must not exceed 24576 bytes",
        schema_enforced=False,
    ),
    # jobs
    case(
        "definition_reference_is_name_or_name_revision",
        BJ,
        "spec.jobDefinition",
        "render:0",
        "spec.jobDefinition",
        'must be a JobDefinition: "name" or "name:revision"',
    ),
    case("job_queue_required", BJ, "spec.jobQueue", DELETE, "spec.jobQueue", "required"),
    case(
        "cancel_needs_a_reason",
        BJ,
        "spec.cancel",
        {"reason": ""},
        "spec.cancel.reason",
        "at least 1 character",
    ),
    case(
        "array_indexes_are_ranges",
        ARRAY_JOB,
        "spec.terminate",
        {"reason": "x", "arrayIndexes": "1-"},
        "spec.terminate.arrayIndexes",
        "must be array indexes and ranges",
    ),
    case(
        "array_indexes_need_an_array_job",
        BJ,
        "spec.cancel",
        {"reason": "x", "arrayIndexes": "1"},
        "spec",
        "require arrayProperties",
    ),
    # scheduling policies (fair share)
    case(
        "weight_factor_at_least_0_0001",
        SP,
        "spec.fairsharePolicy.shareDistribution",
        [{"shareIdentifier": "a", "weightFactor": 0}],
        "spec.fairsharePolicy.shareDistribution[0]",
        "weightFactor must be at least 0.0001",
    ),
    case(
        "weight_factor_at_most_999_9999",
        SP,
        "spec.fairsharePolicy.shareDistribution",
        [{"shareIdentifier": "a", "weightFactor": 1000}],
        "spec.fairsharePolicy.shareDistribution[0].weightFactor",
        "less than or equal to 999.9999",
    ),
    case(
        "share_decay_at_most_a_week",
        SP,
        "spec.fairsharePolicy.shareDecaySeconds",
        604801,
        "spec.fairsharePolicy.shareDecaySeconds",
        "less than or equal to 604800",
    ),
    case(
        "compute_reservation_at_most_99",
        SP,
        "spec.fairsharePolicy.computeReservation",
        100,
        "spec.fairsharePolicy.computeReservation",
        "less than or equal to 99",
    ),
    case(
        "share_identifier_letters_digits_underscore_optional_star",
        SP,
        "spec.fairsharePolicy.shareDistribution",
        [{"shareIdentifier": "a*b"}],
        "spec.fairsharePolicy.shareDistribution[0].shareIdentifier",
        "optional trailing '*' for a prefix",
    ),
    case(
        "share_identifiers_unique",
        SP,
        "spec.fairsharePolicy.shareDistribution",
        [{"shareIdentifier": "a"}, {"shareIdentifier": "a"}],
        "spec.fairsharePolicy.shareDistribution",
        "Duplicate value",
    ),
    # scheduled jobs
    case(
        "schedule_or_at_not_both",
        SJ,
        "spec.at",
        "2026-01-01T00:00:00Z",
        "spec",
        "exactly one of schedule and at",
    ),
    case(
        "schedule_or_at_required",
        SJ,
        "spec.schedule",
        DELETE,
        "spec",
        "exactly one of schedule and at",
    ),
    case(
        "schedule_is_a_cron_expression",
        SJ,
        "spec.schedule",
        "every day",
        "spec",
        "schedule must be a cron expression",
        schema_enforced=False,
    ),
    case(
        "time_zone_is_an_iana_zone",
        SJ,
        "spec.timeZone",
        "Mars/Olympus",
        "spec",
        "timeZone must be an IANA time zone",
        schema_enforced=False,
    ),
    case(
        "concurrency_policy_is_allow_forbid_or_replace",
        SJ,
        "spec.concurrencyPolicy",
        "Queue",
        "spec.concurrencyPolicy",
        "Allow",
    ),
    case(
        "starting_deadline_not_negative",
        SJ,
        "spec.startingDeadlineSeconds",
        -5,
        "spec.startingDeadlineSeconds",
        "greater than or equal to 0",
    ),
    case(
        "history_limit_not_negative",
        SJ,
        "spec.successfulJobsHistoryLimit",
        -1,
        "spec.successfulJobsHistoryLimit",
        "greater than or equal to 0",
    ),
    case(
        "job_template_is_a_valid_job",
        SJ,
        "spec.jobTemplate.spec.retryStrategy",
        {"attempts": 11},
        "spec.jobTemplate.spec.retryStrategy.attempts",
        "less than or equal to 10",
    ),
    # every kind
    case("name_is_a_dns_label", BJ, "metadata.name", "My_Job", "", "DNS-1123 label"),
    case("name_at_most_63_characters", JQ, "metadata.name", "q" * 64, "", "DNS-1123 label"),
    case(
        "unknown_fields_refused",
        JQ,
        "spec.prioritty",
        5,
        "spec.prioritty",
        "unknown field",
        schema_enforced=False,
    ),
    case(
        "api_version_is_kubatch_v1alpha1",
        BJ,
        "apiVersion",
        "batch/v1",
        "",
        "apiVersion must be",
        schema_enforced=False,
    ),
]


def names_the_field(expected: str, reported: str) -> bool:
    """Whether an API server's error names the field a case expects: the same path, or one
    inside it (a repeated list-map key is reported at the repeated item), or the object that
    holds it (rules on an object are reported at the object; "<nil>" is the root)."""
    reported = "" if reported == "<nil>" else reported
    if not expected or not reported:
        return expected == reported
    inside = reported.startswith((expected + ".", expected + "["))
    return reported == expected or inside or expected.startswith((reported + ".", reported + "["))


def _ids(c: Case) -> str:
    return c.rule


def test_the_table_is_large_and_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.rule for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", CASES, ids=_ids)
def test_models_refuse_with_field_and_rule(c: Case) -> None:
    with pytest.raises(InvalidManifest) as raised:
        parse(c.manifest)
    lines = raised.value.errors
    prefix = f"{c.path}: " if c.path else ""
    assert any(line.startswith(prefix) and c.says in line for line in lines), lines


@pytest.mark.parametrize("c", [c for c in CASES if c.schema_enforced], ids=_ids)
def test_generated_crd_refuses_too(c: Case) -> None:
    errors = crdcheck.validate(crd(KINDS[c.manifest["kind"]]), c.manifest)
    assert errors, "the CRD schema accepted what the models refuse"
    assert not [e for e in errors if crdcheck.EVALUATION_FAILED in e], "a rule lacks a has() guard"
    assert any(names_the_field(c.path, e.split(": ", 1)[0]) for e in errors), errors


def _declared_rules() -> list[Rule]:
    seen: list[Rule] = []
    pending: list[type[ApiModel]] = list(KINDS.values())
    visited: set[type] = set()
    while pending:
        model = pending.pop()
        if model in visited:
            continue
        visited.add(model)
        seen += [r for r in model.__rules__ if r not in seen]
        for field in model.model_fields.values():
            for arg in _types_in(field.annotation):
                if isinstance(arg, type) and issubclass(arg, ApiModel):
                    pending.append(arg)
    return seen


def _types_in(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    found = []
    for arg in args:
        found += _types_in(arg)
    return found


def test_every_cross_field_rule_has_a_case() -> None:
    messages = {c.says for c in CASES}
    missing = [
        r.message
        for r in _declared_rules()
        if r.message not in ("kind does not match the object",)
        and not any(m in r.message for m in messages)
    ]
    assert not missing


def _example_documents() -> list[Manifest]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_examples_cover_every_kind() -> None:
    assert {d["kind"] for d in _example_documents()} == set(KINDS)


@pytest.mark.parametrize("doc", _example_documents(), ids=lambda d: d["metadata"]["name"])
def test_examples_are_valid(doc: Manifest) -> None:
    parse(doc)
    assert crdcheck.validate(crd(KINDS[doc["kind"]]), doc) == []


@pytest.mark.parametrize(
    "doc",
    [compute_environment(), job_queue(), job_definition(), batch_job()],
    ids=lambda d: d["kind"],
)
def test_minimal_manifests_are_valid(doc: Manifest) -> None:
    parse(doc)
    assert crdcheck.validate(crd(KINDS[doc["kind"]]), doc) == []


def test_unknown_kind_is_named() -> None:
    with pytest.raises(InvalidManifest, match="kind: must be one of BatchJob"):
        parse({"apiVersion": "kubatch.io/v1alpha1", "kind": "Job", "metadata": {"name": "x"}})


# -- reading a status as the API serves it ---------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, (None, 0, None)),
        ({}, (None, 0, None)),
        ({"status": "RUNNING", "attemptCount": 2}, ("RUNNING", 2, None)),
        (
            {"status": "SUCCEEDED", "startedAt": "2026-12-03T10:00:00.250Z"},
            ("SUCCEEDED", 0, datetime(2026, 12, 3, 10, 0, 0, 250000, tzinfo=UTC)),
        ),
        # A field this version cannot read is not reported; the others still are.
        ({"status": "RUNNING", "attemptCount": "many"}, ("RUNNING", 0, None)),
        ({"status": "NOT-A-STATE", "attemptCount": 3}, (None, 3, None)),
        ({"status": "FAILED", "arrayProperties": {"indexes": {}}}, ("FAILED", 0, None)),
    ],
)
def test_a_status_reads_through_its_model_and_an_unreadable_field_reads_as_unreported(
    status: dict[str, Any] | None, expected: tuple[str | None, int, datetime | None]
) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "j"}}
    if status is not None:
        obj["status"] = status
    read = BatchJobStatus.of(obj)
    assert (read.status, read.attempt_count, read.started_at) == expected


@pytest.mark.parametrize(
    ("status", "state"),
    [(None, "SUBMITTED"), ({"status": "RUNNABLE"}, "RUNNABLE"), ({"status": "??"}, "SUBMITTED")],
)
def test_a_jobs_state_alone_is_read_with_the_models_key(
    status: dict[str, Any] | None, state: str
) -> None:
    assert job_state({"status": status} if status is not None else {}) == state
