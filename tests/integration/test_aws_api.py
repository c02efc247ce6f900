"""The AWS Batch API served by Kubatch (`kubatch api`), driven by the clients AWS users have:
the real boto3 and the real AWS CLI, signing with SigV4, on both tiers."""

from __future__ import annotations

import atexit
import base64
import functools
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from kubernetes.client.rest import ApiException

from kubatch.awsapi.names import object_name
from kubatch.sim.stack import start_aws_api
from tests.support.cluster import Cluster, wait_for
from tests.support.system import Scenario, System

pytestmark = pytest.mark.integration

SECRET_NAMESPACE, SECRET_NAME = "default", "kubatch-aws-api"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
"""The endpoint serves both: a caller signs for either."""


@pytest.fixture(scope="session")
def endpoint(system: System) -> str:
    """`kubatch api` against the tier's cluster, its access keys in a Secret (none yet)."""
    body = {
        "metadata": {"name": SECRET_NAME},
        "stringData": {"credentials.yaml": "[]\n"},
    }
    try:
        system.cluster.core.create_namespaced_secret(SECRET_NAMESPACE, body)
    except ApiException as e:
        if e.status != 409:
            raise
    return start_aws_api(
        system.stack,
        system.operator.workdir,
        system.cluster.kubeconfig,
        f"{SECRET_NAMESPACE}/{SECRET_NAME}",
        regions=(REGION, OTHER_REGION),
    )


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str


def add_key(cluster: Cluster, namespace: str, admin: bool) -> Key:
    """A new access key for `namespace`, added to the Secret the endpoint reads."""
    key = Key("AKIA" + uuid.uuid4().hex[:16].upper(), uuid.uuid4().hex + uuid.uuid4().hex[:8])
    for _ in range(20):
        secret = cluster.core.read_namespaced_secret(SECRET_NAME, SECRET_NAMESPACE)
        keys = yaml.safe_load(base64.b64decode(secret.data["credentials.yaml"])) or []
        keys.append(
            {
                "accessKeyId": key.access_key_id,
                "secretAccessKey": key.secret_access_key,
                "namespace": namespace,
                "admin": admin,
            }
        )
        secret.data = {"credentials.yaml": base64.b64encode(yaml.safe_dump(keys).encode()).decode()}
        try:
            cluster.core.replace_namespaced_secret(SECRET_NAME, SECRET_NAMESPACE, secret)
            return key
        except ApiException as e:
            if e.status != 409:
                raise
    raise AssertionError("the Secret of access keys could not be updated")


def client(
    endpoint: str, key: Key, validate: bool = True, region: str = REGION, service: str = "batch"
) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


@dataclass
class Batch:
    """A namespace's view of the endpoint: an admin client and a user client."""

    scenario: Scenario
    endpoint: str
    admin: Any
    user: Any
    user_key: Key

    def queue(self, name: str, max_vcpus: int = 16) -> str:
        """A VALID environment and a queue on it, created through the API; the queue's ARN."""
        environment = self.admin.create_compute_environment(
            computeEnvironmentName=f"{name}-ce",
            type="MANAGED",
            computeResources={
                "type": "EC2",
                "minvCpus": 0,
                "maxvCpus": max_vcpus,
                "instanceTypes": ["m5.xlarge"],
                "instanceRole": "ecsInstanceRole",
                "subnets": ["subnet-ignored"],
            },
        )
        self.scenario.created.append(("computeenvironments", f"{name}-ce".lower()))
        wait_for(
            lambda: (
                self.admin.describe_compute_environments(
                    computeEnvironments=[environment["computeEnvironmentArn"]]
                )["computeEnvironments"][0]["status"]
                == "VALID"
            ),
            timeout=30,
            what="the environment to be VALID",
        )
        queue = self.admin.create_job_queue(
            jobQueueName=name,
            priority=1,
            computeEnvironmentOrder=[
                {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
            ],
        )
        self.scenario.created.append(("jobqueues", object_name(name)))
        return str(queue["jobQueueArn"])

    def definition(self, name: str = "work", **container: Any) -> str:
        return str(
            self.user.register_job_definition(
                jobDefinitionName=name,
                type="container",
                containerProperties={
                    "image": "busybox",
                    "command": ["echo", "Ref::msg"],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "1"},
                        {"type": "MEMORY", "value": "512"},
                    ],
                    **container,
                },
                parameters={"msg": "hello"},
            )["jobDefinitionArn"]
        )

    def wait(self, job_id: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            jobs = self.user.describe_jobs(jobs=[job_id])["jobs"]
            return jobs[0] if jobs and jobs[0]["status"] in states else None

        return wait_for(reached, timeout=timeout, what=f"job {job_id} to be {'/'.join(states)}")


@pytest.fixture
def batch(scenario: Scenario, endpoint: str) -> Batch:
    cluster = scenario.kube
    admin = add_key(cluster, scenario.namespace, admin=True)
    user = add_key(cluster, scenario.namespace, admin=False)
    return Batch(scenario, endpoint, client(endpoint, admin), client(endpoint, user), user)


def test_boto3_runs_a_single_job_an_array_and_a_dependent_job_to_success(batch: Batch) -> None:
    queue = batch.queue(f"Queue_{batch.scenario.namespace}")
    assert queue.startswith(f"arn:aws:batch:{REGION}:")
    assert queue.endswith(f":job-queue/Queue_{batch.scenario.namespace}")
    first = batch.definition("render_frames")
    assert first.endswith(":job-definition/render_frames:1")
    # A changed definition is a new revision; jobs naming the definition get the latest.
    second = batch.definition("render_frames", command=["echo", "Ref::msg", "again"])
    assert second.endswith(":job-definition/render_frames:2")

    single = batch.user.submit_job(
        jobName="First_Job",
        jobQueue=queue,
        jobDefinition="render_frames",
        parameters={"msg": "hi"},
        tags={"team": "vision"},
    )
    array = batch.user.submit_job(
        jobName="frames", jobQueue=queue, jobDefinition=first, arrayProperties={"size": 3}
    )
    after = batch.user.submit_job(
        jobName="after-first",
        jobQueue=queue,
        jobDefinition="render_frames:1",
        dependsOn=[{"jobId": single["jobId"]}],
    )
    assert single["jobArn"].endswith(f":job/{single['jobId']}")

    done = {
        name: batch.wait(job["jobId"], "SUCCEEDED", "FAILED")
        for name, job in (("single", single), ("array", array), ("after", after))
    }
    assert {n: d["status"] for n, d in done.items()} == dict.fromkeys(done, "SUCCEEDED")

    one = done["single"]
    assert one["jobName"] == "First_Job"
    assert one["jobQueue"] == queue
    assert one["jobDefinition"].endswith(":job-definition/render_frames:2")
    assert one["container"]["command"] == ["echo", "hi", "again"]
    assert one["container"]["exitCode"] == 0
    assert one["tags"] == {"team": "vision"}
    assert [a["container"]["exitCode"] for a in one["attempts"]] == [0]
    assert one["createdAt"] <= one["startedAt"] <= one["stoppedAt"]
    dependent = done["after"]
    assert dependent["dependsOn"] == [{"jobId": single["jobId"]}]
    # (Kubernetes records a container's start to the second.)
    assert dependent["startedAt"] // 1000 >= one["stoppedAt"] // 1000

    parent = done["array"]
    assert parent["arrayProperties"]["size"] == 3
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    children = batch.user.list_jobs(arrayJobId=array["jobId"], jobStatus="SUCCEEDED")
    assert sorted(c["jobId"] for c in children["jobSummaryList"]) == [
        f"{array['jobId']}:{i}" for i in range(3)
    ]
    child = batch.user.describe_jobs(jobs=[f"{array['jobId']}:1"])["jobs"][0]
    assert (child["status"], child["arrayProperties"]) == ("SUCCEEDED", {"index": 1})

    # ListJobs: by queue and status, a page at a time, and with filters.
    ids, token, pages = [], None, 0
    while True:
        more: dict[str, str] = {"nextToken": token} if token else {}
        page = batch.user.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED", maxResults=1, **more)
        ids += [j["jobId"] for j in page["jobSummaryList"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert (sorted(ids), pages) == (sorted(j["jobId"] for j in (single, array, after)), 3)
    named = batch.user.list_jobs(
        jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["first*"]}]
    )["jobSummaryList"]
    assert [j["jobId"] for j in named] == [single["jobId"]]
    assert batch.user.list_jobs(jobQueue=queue)["jobSummaryList"] == []  # none RUNNING

    # Definitions: by name and status; a deregistered revision takes no new jobs.
    revisions = batch.user.describe_job_definitions(jobDefinitionName="render_frames")
    assert [(d["revision"], d["status"]) for d in revisions["jobDefinitions"]] == [
        (1, "ACTIVE"),
        (2, "ACTIVE"),
    ]
    batch.user.deregister_job_definition(jobDefinition=first)
    inactive = batch.user.describe_job_definitions(
        jobDefinitions=["render_frames"], status="INACTIVE"
    )["jobDefinitions"]
    assert [d["revision"] for d in inactive] == [1]
    with pytest.raises(ClientError) as refused:
        batch.user.submit_job(jobName="late", jobQueue=queue, jobDefinition=first)
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert "INACTIVE" in refused.value.response["Error"]["Message"]

    # Tags on a job.
    batch.user.tag_resource(resourceArn=single["jobArn"], tags={"stage": "done"})
    batch.user.untag_resource(resourceArn=single["jobArn"], tagKeys=["team"])
    tags = batch.user.list_tags_for_resource(resourceArn=single["jobArn"])["tags"]
    assert tags == {"stage": "done"}


def test_boto3_runs_a_multi_node_job_and_describes_each_node(batch: Batch) -> None:
    queue = batch.queue(f"Nodes_{batch.scenario.namespace}")
    worker = {
        "image": "busybox",
        "command": ["echo", "node"],
        "resourceRequirements": [
            {"type": "VCPU", "value": "1"},
            {"type": "MEMORY", "value": "512"},
        ],
    }
    batch.user.register_job_definition(
        jobDefinitionName="gang",
        type="multinode",
        nodeProperties={
            "numNodes": 3,
            "mainNode": 0,
            "nodeRangeProperties": [
                {"targetNodes": "0", "container": {**worker, "image": "main-image"}},
                {"targetNodes": "1:", "container": worker},
            ],
        },
    )
    job = batch.user.submit_job(jobName="gang", jobQueue=queue, jobDefinition="gang")
    done = batch.wait(job["jobId"], "SUCCEEDED", "FAILED", timeout=90)
    assert done["status"] == "SUCCEEDED"
    assert done["nodeProperties"]["numNodes"] == 3
    assert done["nodeProperties"]["mainNode"] == 0
    ranges = done["nodeProperties"]["nodeRangeProperties"]
    assert [(r["targetNodes"], r["container"]["image"]) for r in ranges] == [
        ("0:0", "main-image"),
        ("1:2", "busybox"),
    ]
    node = batch.user.describe_jobs(jobs=[f"{job['jobId']}#1"])["jobs"][0]
    assert node["jobId"] == f"{job['jobId']}#1"
    assert node["nodeDetails"] == {"nodeIndex": 1, "isMainNode": False}
    assert node["container"]["image"] == "busybox"
    listed = batch.user.list_jobs(multiNodeJobId=job["jobId"], jobStatus="SUCCEEDED")
    summaries = listed["jobSummaryList"]
    assert [s["jobId"] for s in summaries] == [f"{job['jobId']}#{i}" for i in range(3)]
    assert summaries[0]["nodeProperties"] == {"isMainNode": True, "nodeIndex": 0}
    assert batch.user.describe_jobs(jobs=[f"{job['jobId']}#7"])["jobs"] == []


def test_cancel_acts_before_running_and_terminate_stops_a_running_job(batch: Batch) -> None:
    queue = batch.queue(f"{batch.scenario.namespace}-stop")
    batch.definition()
    long = batch.user.submit_job(
        jobName="long",
        jobQueue=queue,
        jobDefinition="work",
        tags={"sim.kubatch.io/duration": "120", "sim.kubatch.io/sigterm-exit-code": "143"},
    )
    waiting = batch.user.submit_job(
        jobName="waiting",
        jobQueue=queue,
        jobDefinition="work",
        dependsOn=[{"jobId": long["jobId"]}],
    )
    batch.wait(waiting["jobId"], "PENDING")
    batch.user.cancel_job(jobId=waiting["jobId"], reason="not needed any more")
    cancelled = batch.wait(waiting["jobId"], "FAILED")
    assert cancelled["statusReason"] == "not needed any more"

    batch.wait(long["jobId"], "RUNNING")
    # AWS: CancelJob succeeds but does nothing to a RUNNING job ...
    batch.user.cancel_job(jobId=long["jobId"], reason="too late to cancel")
    # ... and TerminateJob stops it; its reason (not the cancel's) is the job's.
    batch.user.terminate_job(jobId=long["jobId"], reason="stopped by the operator on call")
    stopped = batch.wait(long["jobId"], "FAILED")
    assert stopped["statusReason"] == "stopped by the operator on call"


def _raw(
    endpoint: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(
        endpoint + path, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


ERRORS = [
    # (case, call(batch, queue) -> None, HTTP status, error code, words of the message)
    (
        "unknown_queue",
        lambda b, q: b.user.submit_job(jobName="j", jobQueue="nope", jobDefinition="work"),
        400,
        "ClientException",
        "Job queue nope does not exist",
    ),
    (
        "unknown_definition",
        lambda b, q: b.user.submit_job(jobName="j", jobQueue=q, jobDefinition="missing:3"),
        400,
        "ClientException",
        "Job definition missing:3 not found",
    ),
    (
        "bad_job_name",
        lambda b, q: b.user.submit_job(jobName="no spaces", jobQueue=q, jobDefinition="work"),
        400,
        "ClientException",
        "jobName must be 1 to 128 letters",
    ),
    (
        "array_too_small",
        lambda b, q: b.user.submit_job(
            jobName="j", jobQueue=q, jobDefinition="work", arrayProperties={"size": 1}
        ),
        400,
        "ClientException",
        "arrayProperties.size must be between 2 and 10000",
    ),
    (
        "too_many_attempts",
        lambda b, q: b.user.submit_job(
            jobName="j", jobQueue=q, jobDefinition="work", retryStrategy={"attempts": 11}
        ),
        400,
        "ClientException",
        "1 validation error detected: Value '11' at 'retryStrategy.attempts' failed to satisfy "
        "constraint: Member must be less than or equal to 10",
    ),
    (
        "missing_parameter_checked_by_the_server",
        lambda b, q: client(b.endpoint, b.user_key, validate=False).submit_job(
            jobQueue=q, jobDefinition="work"
        ),
        400,
        "ClientException",
        'Missing required parameter in input: "jobName"',
    ),
    (
        "malformed_job_id",
        lambda b, q: b.user.terminate_job(
            jobId="arn:aws:batch:us-east-1:1:job-queue/x", reason="x"
        ),
        400,
        "ClientException",
        "is not the ARN of a job",
    ),
    (
        "deregister_needs_a_revision",
        lambda b, q: b.user.deregister_job_definition(jobDefinition="work"),
        400,
        "ClientException",
        "must name a revision",
    ),
    (
        "delete_an_enabled_queue",
        lambda b, q: b.admin.delete_job_queue(jobQueue=q),
        400,
        "ClientException",
        "state must be DISABLED first",
    ),
    (
        "user_key_cannot_manage_environments",
        lambda b, q: b.user.create_compute_environment(
            computeEnvironmentName="x", type="UNMANAGED"
        ),
        403,
        "AccessDeniedException",
        "is not authorized to perform: batch:CreateComputeEnvironment",
    ),
    (
        "unknown_access_key",
        lambda b, q: client(b.endpoint, Key("AKIAUNKNOWNKEY00001", "x" * 40)).list_jobs(jobQueue=q),
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid",
    ),
    (
        "wrong_secret",
        lambda b, q: client(b.endpoint, Key(b.user_key.access_key_id, "y" * 40)).list_jobs(
            jobQueue=q
        ),
        403,
        "InvalidSignatureException",
        "does not match the signature you provided",
    ),
    (
        "unsupported_operation",
        lambda b, q: b.user.list_service_jobs(jobQueue=q),
        400,
        "ClientException",
        "ListServiceJobs is not supported by Kubatch",
    ),
]


def test_every_error_is_the_shape_botocore_parses(batch: Batch) -> None:
    queue = batch.queue(f"{batch.scenario.namespace}-err")
    batch.definition()
    wrong: dict[str, object] = {}
    for case, call, status, code, words in ERRORS:
        try:
            call(batch, queue)  # type: ignore[no-untyped-call]
        except ClientError as e:
            got = (
                e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"]["Code"],
                e.response["Error"]["Message"],
            )
            if got[:2] != (status, code) or words not in got[2]:
                wrong[case] = got
        else:
            wrong[case] = "no error"
    assert not wrong, wrong
    # Describing ids that do not exist is not an error: AWS leaves them out.
    assert batch.user.describe_jobs(jobs=[str(uuid.uuid4())])["jobs"] == []
    # An unsigned request.
    status, headers, body = _raw(batch.endpoint, "/v1/listjobs", {"jobQueue": queue}, {})
    assert (status, headers.get("x-amzn-ErrorType"), body["__type"]) == (
        403,
        "MissingAuthenticationTokenException",
        "MissingAuthenticationTokenException",
    )


@functools.cache
def newest_batch_model() -> Path:
    """A data folder with botocore's newest batch model, for the AWS CLI: awscli v1 carries a
    botocore of its own whose model predates CancelJobs and TerminateJobs, and reads newer
    models from AWS_DATA_PATH (as `aws configure add-model` puts them in ~/.aws/models)."""
    source = Path(botocore.__file__).parent / "data" / "batch" / "2016-08-10"
    found = source / "service-2.json.gz"
    model = (
        gzip.decompress(found.read_bytes())
        if found.exists()
        else (source / "service-2.json").read_bytes()
    )
    folder = Path(tempfile.mkdtemp(prefix="aws-data-"))
    atexit.register(shutil.rmtree, folder, True)
    target = folder / "batch" / "2016-08-10"
    target.mkdir(parents=True)
    (target / "service-2.json").write_bytes(model)
    return folder


def aws_cli(batch: Batch, *args: str) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI (awscli from PyPI), with the user's key, no config files, and
    botocore's newest batch model."""
    env = {
        "AWS_DATA_PATH": str(newest_batch_model()),
        **os.environ,
        "AWS_ACCESS_KEY_ID": batch.user_key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": batch.user_key.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    aws = Path(sys.executable).parent / "aws"
    return subprocess.run(
        [str(aws), "batch", *args, "--endpoint-url", batch.endpoint, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_aws_cli_registers_submits_and_describes(batch: Batch) -> None:
    queue = batch.queue(f"{batch.scenario.namespace}-cli")
    registered = aws_cli(
        batch,
        "register-job-definition",
        "--job-definition-name",
        "cli_def",
        "--type",
        "container",
        "--container-properties",
        json.dumps({"image": "busybox", "command": ["true"], "vcpus": 1, "memory": 256}),
    )
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["revision"] == 1
    submitted = aws_cli(
        batch,
        "submit-job",
        "--job-name",
        "from-the-cli",
        "--job-queue",
        queue,
        "--job-definition",
        "cli_def",
        "--array-properties",
        "size=2",
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["jobId"]

    def succeeded() -> dict[str, Any] | None:
        described = aws_cli(batch, "describe-jobs", "--jobs", job_id)
        assert described.returncode == 0, described.stderr
        job: dict[str, Any] = json.loads(described.stdout)["jobs"][0]
        return job if job["status"] == "SUCCEEDED" else None

    job = wait_for(succeeded, timeout=60, what="the CLI's job to succeed")
    assert job["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
    assert (job["container"]["vcpus"], job["container"]["memory"]) == (1, 256), "as given"
    snapshot = aws_cli(batch, "get-job-queue-snapshot", "--job-queue", queue)
    assert snapshot.returncode == 0, snapshot.stderr
    assert json.loads(snapshot.stdout)["frontOfQueue"]["jobs"] == []  # nothing waits
    cancelled = aws_cli(batch, "cancel-jobs", "--jobs", job_id, "--reason", "done already")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout) == {"successful": [job_id], "errors": []}
    refused = aws_cli(
        batch, "submit-job", "--job-name", "x", "--job-queue", "nope", "--job-definition", "cli_def"
    )
    assert refused.returncode != 0
    assert (
        "An error occurred (ClientException) when calling the SubmitJob operation: "
        "Job queue nope does not exist" in refused.stderr
    )
