"""Every operation of botocore's newest `batch` model, walked: each one Kubatch serves is
called as an AWS user would (in an order that makes each meaningful) and its answer checked
against the model's output shape, type by type (times in epoch milliseconds); each one it does
not serve answers a ClientException that says so and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape

from kubatch.awsapi.server import NOT_SUPPORTED
from tests.integration.test_aws_api import Batch, batch, endpoint
from tests.support.cluster import wait_for

pytestmark = pytest.mark.integration
__all__ = ["batch", "endpoint"]  # fixtures, shared with the API's tests

MODEL = botocore.session.get_session().get_service_model("batch")


def type_problems(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Where `value` is not what `shape` declares; a long named "...At" must be epoch
    milliseconds (AWS's times)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not an object"]
        members = shape.members
        problems = [f"{path}.{k}: not in the model" for k in value if k not in members]
        for name, member in members.items():
            if name in value:
                problems += type_problems(value[name], member, f"{path}.{name}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list"]
        member = shape.member
        return [p for i, v in enumerate(value) for p in type_problems(v, member, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a map"]
        values = shape.value
        return [p for k, v in value.items() for p in type_problems(v, values, f"{path}.{k}")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a string"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.enum}"]
        return []
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: {value!r} is not a whole number"]
        if path.endswith("At") and not 10**12 < value < 10**14:
            return [f"{path}: {value} is not a time in epoch milliseconds"]
        return []
    if kind in ("double", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    return [f"{path}: a {kind} Kubatch does not expect to answer"]


def example(shape: Shape) -> Any:
    """The least request that the model's own validation takes."""
    kind = shape.type_name
    if kind == "structure":
        required = shape.required_members
        return {n: example(m) for n, m in shape.members.items() if n in required}
    if kind == "list":
        return [example(shape.member)]
    if kind == "map":
        return {"k": example(shape.value)}
    if kind == "string":
        return shape.enum[0] if shape.enum else "x"
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return True
    raise AssertionError(f"no example of a {kind}")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


Step = tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]


def _steps(prefix: str) -> list[Step]:
    """Every served operation, in an order that gives each something to act on; `c` holds
    what earlier answers named."""
    compute = {
        "type": "EC2",
        "minvCpus": 0,
        "maxvCpus": 16,
        "instanceTypes": ["m5.xlarge"],
        "instanceRole": "ecsInstanceRole",
        "subnets": ["subnet-1"],
    }
    container = {
        "image": "busybox",
        "command": ["echo", "hi"],
        "resourceRequirements": [
            {"type": "VCPU", "value": "0.25"},
            {"type": "MEMORY", "value": "128"},
        ],
    }
    return [
        (
            "CreateSchedulingPolicy",
            lambda c: {
                "name": f"{prefix}-fair",
                "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a"}]},
            },
        ),
        (
            "UpdateSchedulingPolicy",
            lambda c: {"arn": c["arn"], "fairsharePolicy": {"shareDecaySeconds": 60}},
        ),
        ("DescribeSchedulingPolicies", lambda c: {"arns": [c["arn"]]}),
        ("ListSchedulingPolicies", lambda c: {}),
        (
            "CreateComputeEnvironment",
            lambda c: {
                "computeEnvironmentName": f"{prefix}-ce",
                "type": "MANAGED",
                "computeResources": compute,
            },
        ),
        (
            "UpdateComputeEnvironment",
            lambda c: {
                "computeEnvironment": c["computeEnvironmentArn"],
                "computeResources": {"maxvCpus": 32},
            },
        ),
        (
            "DescribeComputeEnvironments",
            lambda c: {"computeEnvironments": [c["computeEnvironmentArn"]]},
        ),
        (
            "CreateJobQueue",
            lambda c: {
                "jobQueueName": f"{prefix}-queue",
                "priority": 1,
                "computeEnvironmentOrder": [
                    {"order": 1, "computeEnvironment": c["computeEnvironmentArn"]}
                ],
            },
        ),
        ("UpdateJobQueue", lambda c: {"jobQueue": c["jobQueueArn"], "priority": 2}),
        ("DescribeJobQueues", lambda c: {"jobQueues": [c["jobQueueArn"]]}),
        (
            "CreateConsumableResource",
            lambda c: {"consumableResourceName": f"{prefix}-seats", "totalQuantity": 3},
        ),
        (
            "UpdateConsumableResource",
            lambda c: {
                "consumableResource": c["consumableResourceArn"],
                "operation": "ADD",
                "quantity": 1,
            },
        ),
        (
            "DescribeConsumableResource",
            lambda c: {"consumableResource": c["consumableResourceArn"]},
        ),
        ("ListConsumableResources", lambda c: {}),
        (
            "RegisterJobDefinition",
            lambda c: {
                "jobDefinitionName": f"{prefix}-work",
                "type": "container",
                "containerProperties": container,
                "consumableResourceProperties": {
                    "consumableResourceList": [
                        {"consumableResource": c["consumableResourceArn"], "quantity": 1}
                    ]
                },
            },
        ),
        ("DescribeJobDefinitions", lambda c: {"jobDefinitionName": f"{prefix}-work"}),
        (
            "SubmitJob",
            lambda c: {
                "jobName": "walked",
                "jobQueue": c["jobQueueArn"],
                "jobDefinition": c["jobDefinitionArn"],
                "arrayProperties": {"size": 2},
            },
        ),
        ("DescribeJobs", lambda c: {"jobs": [c["jobId"], f"{c['jobId']}:1"]}),
        ("ListJobs", lambda c: {"jobQueue": c["jobQueueArn"], "jobStatus": "SUCCEEDED"}),
        ("GetJobQueueSnapshot", lambda c: {"jobQueue": c["jobQueueArn"]}),
        (
            "ListJobsByConsumableResource",
            lambda c: {"consumableResource": c["consumableResourceArn"]},
        ),
        ("TagResource", lambda c: {"resourceArn": c["jobArn"], "tags": {"k": "v"}}),
        ("ListTagsForResource", lambda c: {"resourceArn": c["jobArn"]}),
        ("UntagResource", lambda c: {"resourceArn": c["jobArn"], "tagKeys": ["k"]}),
        ("CancelJob", lambda c: {"jobId": c["jobId"], "reason": "walked"}),
        ("CancelJobs", lambda c: {"jobs": [c["jobId"]], "reason": "walked"}),
        ("TerminateJob", lambda c: {"jobId": c["jobId"], "reason": "walked"}),
        ("TerminateJobs", lambda c: {"jobs": [c["jobId"]], "reason": "walked"}),
        ("DeregisterJobDefinition", lambda c: {"jobDefinition": c["jobDefinitionArn"]}),
        ("UpdateJobQueue", lambda c: {"jobQueue": c["jobQueueArn"], "state": "DISABLED"}),
        ("DeleteJobQueue", lambda c: {"jobQueue": c["jobQueueArn"]}),
        (
            "UpdateComputeEnvironment",
            lambda c: {"computeEnvironment": c["computeEnvironmentArn"], "state": "DISABLED"},
        ),
        ("DeleteComputeEnvironment", lambda c: {"computeEnvironment": c["computeEnvironmentArn"]}),
        ("DeleteSchedulingPolicy", lambda c: {"arn": c["arn"]}),
        ("DeleteConsumableResource", lambda c: {"consumableResource": c["consumableResourceArn"]}),
    ]


def test_every_served_operation_answers_in_the_models_shape(batch: Batch) -> None:
    steps = _steps(batch.scenario.namespace)
    served = {name for name in MODEL.operation_names if name not in NOT_SUPPORTED}
    assert {name for name, _ in steps} == served, "every served operation is walked"
    context: dict[str, Any] = {}
    for name, request in steps:
        operation = MODEL.operation_model(name)
        answer = getattr(batch.admin, _snake(name))(**request(context))
        answer.pop("ResponseMetadata", None)
        problems = type_problems(answer, operation.output_shape, name)
        assert problems == [], problems
        context.update({k: v for k, v in answer.items() if isinstance(v, str)})
        if name == "SubmitJob":
            wait_for(
                lambda: (
                    batch.admin.describe_jobs(jobs=[context["jobId"]])["jobs"][0]["status"]
                    == "SUCCEEDED"
                ),
                timeout=60,
                what="the walked job to succeed",
            )


@pytest.mark.parametrize("name", sorted(NOT_SUPPORTED))
def test_every_operation_not_served_says_so_and_why(batch: Batch, name: str) -> None:
    operation = MODEL.operation_model(name)
    request = example(operation.input_shape) if operation.input_shape else {}
    with pytest.raises(ClientError) as refused:
        getattr(batch.user, _snake(name))(**request)
    error = refused.value.response["Error"]
    assert error["Code"] == "ClientException"
    assert error["Message"] == f"{name} is not supported by Kubatch: {NOT_SUPPORTED[name]}"
