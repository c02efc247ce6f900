"""The AWS Batch API's pure parts: names and ARNs, request and response shapes, paging,
ListJobs filters, and SigV4 checked against requests signed by botocore itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kubatch.api import parse
from kubatch.awsapi import shapes
from kubatch.awsapi.auth import AccessKey, read_keys, verify
from kubatch.awsapi.base import page
from kubatch.awsapi.errors import (
    AwsError,
    BadSignature,
    ClientError,
    MissingToken,
    UnknownClient,
)
from kubatch.awsapi.jobs import _matches
from kubatch.awsapi.names import DNS_LABEL, Arns, check_name, generate_name, object_name

ARNS = Arns("eu-west-1", "123456789012")


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ("render", "render"),
        ("my-queue-2", "my-queue-2"),
        ("Queue_A", "queue-a-"),
        ("__x__", "x-"),
        ("a" * 128, "a" * 40 + "-"),
        ("UPPER", "upper-"),
    ],
)
def test_aws_names_map_to_one_stable_kubernetes_name(aws: str, expected: str) -> None:
    name = object_name(aws)
    assert name == object_name(aws), "the same AWS name always maps to the same object"
    assert DNS_LABEL.match(name)
    assert len(name) <= 63
    if expected.endswith("-"):
        assert name.startswith(expected)
        assert len(name) == len(expected) + 8, "a digest tells apart names that clean alike"
    else:
        assert name == expected


def test_names_that_clean_alike_stay_apart() -> None:
    assert object_name("Queue_A") != object_name("queue-a_")


@pytest.mark.parametrize("bad", ["", "has space", "-leading", "a" * 129, "dots.no", 7, None])
def test_a_name_aws_refuses_is_a_client_error_naming_the_rule(bad: Any) -> None:
    with pytest.raises(ClientError, match=r"jobName must be 1 to 128 letters"):
        check_name("jobName", bad)


def test_job_names_become_generate_name_prefixes() -> None:
    assert generate_name("Nightly_Report") == "nightly-report-"
    assert generate_name("___") == "job-"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("job-queue", "high", "high"),
        ("job-queue", "arn:aws:batch:eu-west-1:123456789012:job-queue/high", "high"),
        ("job", "arn:aws:batch:eu-west-1:123456789012:job/abc:3", "abc:3"),
        (
            "job-definition",
            "arn:aws:batch:eu-west-1:123456789012:job-definition/render:2",
            "render:2",
        ),
    ],
)
def test_names_and_arns_give_the_name(kind: str, value: str, expected: str) -> None:
    assert ARNS.parse(kind, value, "f") == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            "arn:aws:batch:eu-west-1:123456789012:compute-environment/x",
            "is not the ARN of a job-queue",
        ),
        ("arn:aws:batch:us-east-1:123456789012:job-queue/x", "this endpoint serves region"),
        ("arn:aws:batch:eu-west-1:999999999999:job-queue/x", "account '999999999999'"),
        ("arn:aws:s3:::bucket", "is not the ARN of a job-queue"),
        ("", "must be a name or an ARN"),
    ],
)
def test_an_arn_of_another_kind_region_or_account_is_refused(value: str, words: str) -> None:
    with pytest.raises(ClientError, match=words):
        ARNS.parse("job-queue", value, "jobQueue")


def _dependency(job_id: str) -> str:
    return {"u1": "first-abcde", "u2:4": "frames-xyz12:4"}[job_id]


def test_submit_job_maps_to_a_batch_job_the_api_accepts() -> None:
    manifest = shapes.job_manifest(
        {
            "jobName": "Nightly_Report",
            "jobQueue": "q",
            "jobDefinition": "arn:aws:batch:eu-west-1:123456789012:job-definition/Render_It:3",
            "arrayProperties": {"size": 4},
            "dependsOn": [{"jobId": "u1"}, {"jobId": "u2:4"}, {"type": "SEQUENTIAL"}],
            "parameters": {"scene": "teapot"},
            "containerOverrides": {"vcpus": 2, "environment": [{"name": "A", "value": "1"}]},
            "retryStrategy": {
                "attempts": 3,
                "evaluateOnExit": [{"onExitCode": "137", "action": "EXIT"}],
            },
            "timeout": {"attemptDurationSeconds": 600},
            "tags": {"team": "a", "sim.kubatch.io/duration": "5"},
            "shareIdentifier": "teamA",
            "schedulingPriorityOverride": 7,
        },
        ARNS,
        _dependency,
        "q",
    )
    assert manifest["metadata"]["generateName"] == "nightly-report-"
    assert manifest["metadata"]["annotations"] == {
        "kubatch.io/aws-name": "Nightly_Report",
        "sim.kubatch.io/duration": "5",
    }
    spec = manifest["spec"]
    assert spec["jobDefinition"] == object_name("Render_It") + ":3"
    assert spec["dependsOn"] == [
        {"jobName": "first-abcde"},
        {"jobName": "frames-xyz12:4"},
        {"type": "SEQUENTIAL"},
    ]
    assert spec["containerOverrides"]["vcpus"] == 2, "kept as AWS users gave it"
    parse({**manifest, "metadata": {**manifest["metadata"], "name": "x"}})  # the API accepts it


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"arrayProperties": {"size": 1}}, "arrayProperties.size must be between 2 and 10000"),
        ({"arrayProperties": {"size": 10001}}, "arrayProperties.size must be between"),
        ({"dependsOn": [{"jobId": "u1", "type": "ALL"}]}, "dependsOn[0].type must be"),
        ({"dependsOn": [{}]}, "dependsOn[0].jobId is required"),
        ({"dependsOn": [{"jobId": "u1"}] * 21}, "at most 20 jobs"),
        ({"ecsPropertiesOverride": {}}, "ecsPropertiesOverride is not supported"),
        ({"jobDefinition": "def:x"}, "revision must be a number"),
        ({"parameters": {"a": 1}}, "parameters must be a map of strings"),
        (
            {
                "containerOverrides": {
                    "vcpus": 1,
                    "resourceRequirements": [{"type": "VCPU", "value": "2"}],
                }
            },
            "not both",
        ),
    ],
)
def test_a_submit_aws_would_refuse_is_a_client_error(request_: dict[str, Any], words: str) -> None:
    base = {"jobName": "j", "jobQueue": "q", "jobDefinition": "d"}
    with pytest.raises(ClientError) as refused:
        shapes.job_manifest({**base, **request_}, ARNS, _dependency, "q")
    assert words in refused.value.message


def test_register_job_definition_maps_aws_container_properties() -> None:
    spec = shapes.definition_spec(
        {
            "jobDefinitionName": "d",
            "type": "container",
            "containerProperties": {
                "image": "busybox",
                "vcpus": 2,
                "memory": 2048,
                "jobRoleArn": "arn:aws:iam::123456789012:role/Batch_Role",
                "volumes": [{"name": "scratch"}, {"name": "data", "host": {"sourcePath": "/data"}}],
                "mountPoints": [{"sourceVolume": "data", "containerPath": "/in", "readOnly": True}],
                "logConfiguration": {"logDriver": "awslogs"},
            },
            "retryStrategy": {"attempts": 2},
        },
        "token",
        ARNS,
    )
    container = spec["containerProperties"]
    assert (container["vcpus"], container["memory"]) == (2, 2048), "kept as AWS users gave them"
    assert "resourceRequirements" not in container
    assert container["serviceAccountName"] == object_name("Batch_Role")
    assert container["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "data", "host": {"sourcePath": "/data"}},
    ]
    assert "logConfiguration" not in container
    parse(
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "JobDefinition",
            "metadata": {"name": "d"},
            "spec": spec,
        }
    )
    detail = shapes.definition_detail("d", 1, spec, True, {}, ARNS)
    assert detail["jobDefinitionArn"] == "arn:aws:batch:eu-west-1:123456789012:job-definition/d:1"
    assert detail["containerProperties"]["jobRoleArn"].endswith(
        ":role/" + object_name("Batch_Role")
    )


@pytest.mark.parametrize(
    ("ranges", "parent", "index", "state"),
    [
        ({"SUCCEEDED": "0-2", "RUNNING": "3"}, "PENDING", 3, "RUNNING"),
        ({"SUCCEEDED": "0-2,5"}, "PENDING", 5, "SUCCEEDED"),
        ({}, "SUBMITTED", 1, "SUBMITTED"),
        ({"FAILED": "0"}, "FAILED", 4, "PENDING"),
    ],
)
def test_a_child_state_comes_from_the_parent_index_ranges(
    ranges: dict[str, str], parent: str, index: int, state: str
) -> None:
    status = {"status": parent, "arrayProperties": {"size": 6, "indexes": ranges}}
    assert shapes.children({"status": status}, 6).states[index] == state


def test_pages_follow_their_tokens_to_the_end() -> None:
    items, seen, token = list(range(7)), [], None
    while True:
        shown, token = page(items, {"maxResults": 3, **({"nextToken": token} if token else {})})
        seen += shown
        if token is None:
            break
    assert seen == items


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"nextToken": "garbage"}, "nextToken"),
        ({"maxResults": 0}, "maxResults"),
        ({"maxResults": 5000}, "maxResults"),
    ],
)
def test_a_bad_page_request_is_a_client_error(request_: dict[str, Any], words: str) -> None:
    with pytest.raises(ClientError, match=words):
        page([1, 2], request_)


DETAIL = {
    "jobName": "Nightly_Report",
    "jobDefinition": "arn:aws:batch:eu-west-1:123456789012:job-definition/render:2",
    "createdAt": 1_000,
}


@pytest.mark.parametrize(
    ("name", "value", "matches"),
    [
        ("JOB_NAME", "nightly_report", True),
        ("JOB_NAME", "nightly*", True),
        ("JOB_NAME", "night", False),
        ("JOB_DEFINITION", "render", True),
        ("JOB_DEFINITION", "render:2", True),
        ("JOB_DEFINITION", "render:1", False),
        ("JOB_DEFINITION", "arn:aws:batch:eu-west-1:123456789012:job-definition/render:2", True),
        ("JOB_DEFINITION", "rend*", True),
        ("BEFORE_CREATED_AT", "1001", True),
        ("BEFORE_CREATED_AT", "1000", False),
        ("AFTER_CREATED_AT", "999", True),
    ],
)
def test_list_jobs_filters(name: str, value: str, matches: bool) -> None:
    assert _matches(DETAIL, [{"name": name, "values": [value]}]) is matches


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        ([{"name": "COLOUR", "values": ["x"]}], "filter name must be"),
        ([{"name": "JOB_NAME", "values": []}], "needs at least one value"),
        ([{"name": "AFTER_CREATED_AT", "values": ["yesterday"]}], "epoch milliseconds"),
    ],
)
def test_a_bad_filter_is_a_client_error(filters: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(ClientError, match=words):
        _matches(DETAIL, filters)


# -- SigV4 and access keys -------------------------------------------------------------------

KEY = AccessKey(
    access_key_id="AKIAUNITTEST0000001",
    secret_access_key="unit-test-secret-key",
    namespace="team-a",
)
URL = "http://127.0.0.1:8430/v1/tags/arn%3Aaws%3Abatch%3Aeu-west-1%3A1%3Ajob%2Fabc?tagKeys=a"
BODY = b'{"tags": {"a": "1"}}'


def _signed(secret: str = KEY.secret_access_key, region: str = "eu-west-1") -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=URL, data=BODY, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(KEY.access_key_id, secret), "batch", region).add_auth(request)
    return {**dict(request.headers.items()), "Host": "127.0.0.1:8430"}


def _verify(
    headers: dict[str, str],
    body: bytes = BODY,
    now: datetime | None = None,
    regions: tuple[str, ...] = ("eu-west-1",),
) -> Any:
    keys = {KEY.access_key_id: KEY}
    return verify("POST", URL, headers, body, keys, regions, now or datetime.now(UTC))


def test_a_request_signed_by_botocore_is_accepted_as_its_key() -> None:
    assert _verify(_signed()).key == KEY


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_an_endpoint_of_several_regions_answers_each_in_the_region_it_was_signed_for(
    region: str,
) -> None:
    signed = _verify(_signed(region=region), regions=("eu-west-1", "us-east-1"))
    assert (signed.key, signed.region) == (KEY, region)


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("unsigned", MissingToken, "Missing Authentication Token"),
        ("unknown_key", UnknownClient, "security token included in the request is invalid"),
        ("wrong_secret", BadSignature, "does not match the signature you provided"),
        ("body_changed", BadSignature, "does not match"),
        ("other_region", BadSignature, "this endpoint serves region 'eu-west-1'"),
        ("too_old", BadSignature, "Signature expired"),
        ("garbled", BadSignature, "requires 'Credential'"),
    ],
)
def test_requests_that_are_not_signed_by_a_known_key_are_refused(
    case: str, error: type[AwsError], words: str
) -> None:
    headers, body, now = _signed(), BODY, None
    if case == "unsigned":
        headers.pop("Authorization")
    elif case == "unknown_key":
        headers["Authorization"] = headers["Authorization"].replace(
            KEY.access_key_id, "AKIAOTHER0000000001"
        )
    elif case == "wrong_secret":
        headers = _signed(secret="another-secret-key")
    elif case == "body_changed":
        body = b'{"tags": {"a": "2"}}'
    elif case == "other_region":
        headers = _signed(region="us-east-1")
    elif case == "too_old":
        now = datetime.now(UTC) + timedelta(minutes=16)
    elif case == "garbled":
        headers["Authorization"] = "AWS4-HMAC-SHA256 nonsense"
    with pytest.raises(error) as refused:
        _verify(headers, body, now)
    assert words in refused.value.message
    assert refused.value.status == 403


ENTRY = "- {{accessKeyId: AKIAUNITTEST0000001, secretAccessKey: s1234567890123456, namespace: {}"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{}", "expected a list of access keys"),
        ("- accessKeyId: short\n  secretAccessKey: x\n  namespace: a", "accessKeyId"),
        (
            ENTRY.format("Bad_NS") + "}",
            "namespace",
        ),
        (
            ENTRY.format("a") + ", role: x}",
            "role",
        ),
        (
            ENTRY.format("a") + "}\n" + ENTRY.format("b") + "}",
            "appears twice",
        ),
        ("[: bad", "not valid YAML"),
    ],
)
def test_a_bad_access_key_configuration_names_the_entry_and_field(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="Secret x") as refused:
        read_keys(text, "Secret x")
    assert words in str(refused.value)


def test_the_operation_table_names_botocore_operations_and_every_handler() -> None:
    """Requests are routed by an explicit table: each name is an operation of botocore's
    batch model, and every handler method of the server is in it (none unreachable)."""
    import inspect

    import botocore.session

    from kubatch.awsapi.server import BatchApi

    api = BatchApi.__new__(BatchApi)  # the table needs no client or caches
    table = api.operations()
    model = botocore.session.get_session().get_service_model("batch")
    assert set(table) <= set(model.operation_names)
    handlers = {name for name, _ in inspect.getmembers(BatchApi) if name.startswith("op_")}
    assert {h.__name__ for h in table.values()} == handlers
    assert {"SubmitJob", "DescribeJobs", "ListJobs", "TerminateJob"} <= set(table)
