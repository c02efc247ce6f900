"""AWS Batch request and response shapes <-> Kubatch's custom resources (pure: no I/O), one
module per family: common (times, names, tags, field checks), containers, definitions, jobs
and platform (compute environments, job queues, scheduling policies). The operations read
them as `shapes.<name>`.

Field names are AWS's own; most of Kubatch's spec fields already carry them (retryStrategy,
evaluateOnExit, timeout, parameters, resourceRequirements...), so a translation is mostly a
selection. What has no meaning on Kubernetes (log drivers, IAM execution roles, Fargate
platform settings, ulimits) is accepted and ignored, as the README says.
"""

from .common import aws_fields, aws_name, drop_none, expect, millis, string_map, tags_of
from .containers import container_detail, container_spec
from .definitions import UNSUPPORTED_REGISTER, definition_detail, definition_spec
from .jobs import (
    UNSUPPORTED_SUBMIT,
    Children,
    children,
    definition_reference,
    job_detail,
    job_manifest,
    job_summary,
    node_status,
)
from .platform import (
    check_environment,
    environment_aws_fields,
    environment_detail,
    environment_spec,
    policy_detail,
    policy_spec,
    queue_detail,
    queue_spec,
)

__all__ = [
    "UNSUPPORTED_REGISTER",
    "UNSUPPORTED_SUBMIT",
    "Children",
    "aws_fields",
    "aws_name",
    "check_environment",
    "children",
    "container_detail",
    "container_spec",
    "definition_detail",
    "definition_reference",
    "definition_spec",
    "drop_none",
    "environment_aws_fields",
    "environment_detail",
    "environment_spec",
    "expect",
    "job_detail",
    "job_manifest",
    "job_summary",
    "millis",
    "node_status",
    "policy_detail",
    "policy_spec",
    "queue_detail",
    "queue_spec",
    "string_map",
    "tags_of",
]
