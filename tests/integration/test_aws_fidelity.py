"""What AWS Batch does, field by field, as scripts written for AWS (not for Kubatch) see it
through boto3, on both tiers: revisions, revisions named by name, unknown jobs, times,
array children, fields given back as they were given, references checked at once, and the
operations added to AWS Batch since 2023."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kubatch.awsapi.names import object_name
from tests.integration.test_aws_api import OTHER_REGION, REGION, Batch, batch, client, endpoint
from tests.support.cluster import wait_for

pytestmark = pytest.mark.integration
__all__ = ["batch", "endpoint"]  # fixtures, shared with the API's tests


def _refused(call: Any, **request: Any) -> str:
    """The message of the ClientException `call(**request)` answers."""
    with pytest.raises(ClientError) as refused:
        call(**request)
    error = refused.value.response["Error"]
    assert error["Code"] == "ClientException", error
    return str(error["Message"])


def _spec(**container: Any) -> dict[str, Any]:
    return {
        "type": "container",
        "containerProperties": {
            "image": "busybox",
            "command": ["echo", "hello"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "0.25"},
                {"type": "MEMORY", "value": "128"},
            ],
            **container,
        },
    }


# -- 1. revisions --------------------------------------------------------------------------


def test_every_registration_is_a_new_revision_and_a_deregistered_spec_registers_again(
    batch: Batch,
) -> None:
    queue = batch.queue(f"rev-{batch.scenario.namespace}")
    register = batch.user.register_job_definition
    first = register(jobDefinitionName="same", **_spec())
    again = register(jobDefinitionName="same", **_spec())
    assert (first["revision"], again["revision"]) == (1, 2), "AWS: a revision at every call"
    batch.user.deregister_job_definition(jobDefinition="same:1")
    batch.user.deregister_job_definition(jobDefinition=again["jobDefinitionArn"])
    third = register(jobDefinitionName="same", **_spec())
    assert third["revision"] == 3
    described = batch.user.describe_job_definitions(jobDefinitionName="same")["jobDefinitions"]
    assert [(d["revision"], d["status"]) for d in described] == [
        (1, "INACTIVE"),
        (2, "INACTIVE"),
        (3, "ACTIVE"),
    ]
    job = batch.user.submit_job(jobName="after", jobQueue=queue, jobDefinition="same")
    done = batch.wait(job["jobId"], "SUCCEEDED", "FAILED")
    assert (done["status"], done["jobDefinition"].rsplit(":", 1)[1]) == ("SUCCEEDED", "3")


def test_registrations_sent_at_once_each_get_their_own_revision(batch: Batch) -> None:
    """Each registration replaces the object's spec while the operator writes its status: a
    write that meets a newer version reads again, so none is refused or lost."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda i: batch.user.register_job_definition(
                    jobDefinitionName="burst", **_spec(command=["echo", str(i)])
                ),
                range(6),
            )
        )
    assert sorted(a["revision"] for a in answers) == [1, 2, 3, 4, 5, 6]
    described = batch.user.describe_job_definitions(jobDefinitionName="burst")["jobDefinitions"]
    commands = {d["revision"]: d["containerProperties"]["command"][1] for d in described}
    assert {commands[a["revision"]] for a in answers} == {str(i) for i in range(6)}


# -- 2. a definition named by its name -------------------------------------------------------


def test_submit_by_name_runs_the_latest_active_revision_named_at_once(batch: Batch) -> None:
    queue = batch.queue(f"name-{batch.scenario.namespace}")
    batch.user.register_job_definition(jobDefinitionName="named", **_spec())
    batch.user.register_job_definition(jobDefinitionName="named", **_spec(command=["true"]))
    job = batch.user.submit_job(jobName="j", jobQueue=queue, jobDefinition="named")
    (described,) = batch.user.describe_jobs(jobs=[job["jobId"]])["jobs"]
    assert described["jobDefinition"].endswith(":job-definition/named:2")


# -- 3. CancelJob and TerminateJob of an unknown job; CancelJobs and TerminateJobs ---------------


@pytest.mark.parametrize("operation", ["cancel_job", "terminate_job"])
def test_stopping_an_unknown_job_answers_200_as_aws_does(batch: Batch, operation: str) -> None:
    answer = getattr(batch.user, operation)(jobId=str(uuid.uuid4()), reason="gone")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_cancel_jobs_and_terminate_jobs_answer_for_each_job(batch: Batch) -> None:
    queue = batch.queue(f"bulk-{batch.scenario.namespace}")
    batch.definition()
    blocker = batch.user.submit_job(
        jobName="blocker",
        jobQueue=queue,
        jobDefinition="work",
        tags={"sim.kubatch.io/duration": "120", "sim.kubatch.io/sigterm-exit-code": "143"},
    )
    waiting = [
        batch.user.submit_job(
            jobName=f"waiting-{i}",
            jobQueue=queue,
            jobDefinition="work",
            dependsOn=[{"jobId": blocker["jobId"]}],
        )["jobId"]
        for i in range(2)
    ]
    unknown = str(uuid.uuid4())
    malformed = "arn:aws:batch:us-east-1:000000000000:job-queue/not-a-job"
    answer = batch.user.cancel_jobs(jobs=[*waiting, unknown, malformed], reason="not needed")
    assert answer["successful"] == [*waiting, unknown], "an unknown job counts as done"
    assert [(e["job"], e["code"]) for e in answer["errors"]] == [(malformed, "ValidationException")]
    for job_id in waiting:
        assert batch.wait(job_id, "FAILED")["statusReason"] == "not needed"
    batch.wait(blocker["jobId"], "RUNNING")
    stopped = batch.user.terminate_jobs(jobs=[blocker["jobId"]], reason="stop it")
    assert (stopped["successful"], stopped["errors"]) == ([blocker["jobId"]], [])
    assert batch.wait(blocker["jobId"], "FAILED")["statusReason"] == "stop it"
    message = _refused(batch.user.cancel_jobs, jobs=[unknown] * 51, reason="too many")
    assert "jobs must hold 1 to 50 job ids" in message


def test_the_queue_snapshot_lists_the_waiting_jobs_in_dispatch_order(batch: Batch) -> None:
    queue = batch.queue(f"snap-{batch.scenario.namespace}", max_vcpus=4)
    batch.definition(
        "big",
        resourceRequirements=[{"type": "VCPU", "value": "3"}, {"type": "MEMORY", "value": "512"}],
    )
    ids = [
        batch.user.submit_job(
            jobName=f"s{i}",
            jobQueue=queue,
            jobDefinition="big",
            tags={"sim.kubatch.io/duration": "120", "sim.kubatch.io/sigterm-exit-code": "143"},
        )["jobId"]
        for i in range(4)
    ]
    batch.wait(ids[0], "RUNNING")

    def waiting() -> dict[str, Any] | None:
        found: dict[str, Any] = batch.user.get_job_queue_snapshot(jobQueue=queue)
        return found if len(found["frontOfQueue"]["jobs"]) == 3 else None

    snapshot = wait_for(waiting, timeout=30, what="three jobs in the snapshot")
    front = snapshot["frontOfQueue"]["jobs"]
    assert [j["jobArn"].rsplit("/", 1)[1] for j in front] == ids[1:], "in the order submitted"
    assert all(isinstance(j["earliestTimeAtPosition"], int) for j in front)
    usage = snapshot["queueUtilization"]["totalCapacityUsage"]
    assert usage == [{"capacityUnit": "VCPU", "quantity": 3.0}], "the one running job's"
    assert batch.user.terminate_jobs(jobs=ids, reason="enough")["errors"] == []


def test_a_consumable_resource_holds_jobs_back_until_units_are_left(batch: Batch) -> None:
    queue = batch.queue(f"seats-{batch.scenario.namespace}")
    name = f"Seats_{batch.scenario.namespace}"
    created = batch.admin.create_consumable_resource(
        consumableResourceName=name, totalQuantity=1, resourceType="REPLENISHABLE"
    )
    batch.scenario.created.append(("consumableresources", object_name(name)))
    arn = created["consumableResourceArn"]
    batch.user.register_job_definition(
        jobDefinitionName="seated",
        consumableResourceProperties={
            "consumableResourceList": [{"consumableResource": arn, "quantity": 1}]
        },
        **_spec(),
    )
    slow = {"sim.kubatch.io/duration": "120", "sim.kubatch.io/sigterm-exit-code": "143"}
    ids = [
        batch.user.submit_job(
            jobName=f"seated-{i}", jobQueue=queue, jobDefinition="seated", tags=slow
        )["jobId"]
        for i in range(2)
    ]
    batch.wait(ids[0], "RUNNING")
    waiting = batch.wait(ids[1], "RUNNABLE")

    def blocked() -> str | None:
        (found,) = batch.user.describe_jobs(jobs=[ids[1]])["jobs"]
        reason = found.get("statusReason") or ""
        return reason if reason.startswith("CAPACITY:CONSUMABLE_RESOURCE_UNAVAILABLE") else None

    reason = wait_for(blocked, timeout=30, what="the second job to say what it waits for")
    assert object_name(name) in reason, reason
    assert waiting["consumableResourceProperties"]["consumableResourceList"] == [
        {"consumableResource": arn, "quantity": 1}
    ]
    described = batch.admin.describe_consumable_resource(consumableResource=arn)
    assert (described["totalQuantity"], described["inUseQuantity"]) == (1, 1)
    assert described["availableQuantity"] == 0
    listed = batch.user.list_jobs_by_consumable_resource(consumableResource=arn)["jobs"]
    assert sorted(j["jobArn"].rsplit("/", 1)[1] for j in listed) == sorted(ids)
    assert {j["quantity"] for j in listed} == {1}
    batch.admin.update_consumable_resource(consumableResource=arn, operation="ADD", quantity=1)
    batch.wait(ids[1], "RUNNING")
    assert batch.user.terminate_jobs(jobs=ids, reason="enough")["errors"] == []


# -- 4. times ----------------------------------------------------------------------------------


def test_times_are_epoch_milliseconds_and_agree_between_a_job_its_attempts_and_dependents(
    batch: Batch,
) -> None:
    queue = batch.queue(f"times-{batch.scenario.namespace}")
    batch.definition()
    first = batch.user.submit_job(
        jobName="first",
        jobQueue=queue,
        jobDefinition="work",
        retryStrategy={"attempts": 2},
        tags={"sim.kubatch.io/exit-code": "1", "sim.kubatch.io/fail-attempts": "1"},
    )
    second = batch.user.submit_job(
        jobName="second",
        jobQueue=queue,
        jobDefinition="work",
        dependsOn=[{"jobId": first["jobId"]}],
    )
    done = batch.wait(second["jobId"], "SUCCEEDED", "FAILED")
    (before,) = batch.user.describe_jobs(jobs=[first["jobId"]])["jobs"]
    for job in (before, done):
        times = [job["createdAt"], job["startedAt"], job["stoppedAt"]]
        for attempt in job["attempts"]:
            times += [attempt["startedAt"], attempt["stoppedAt"]]
        assert all(isinstance(t, int) and t > 10**12 for t in times), times
        assert job["createdAt"] <= job["attempts"][0]["startedAt"]
        assert job["createdAt"] <= job["startedAt"] <= job["stoppedAt"]
        # A retried job went RUNNING again: its startedAt is its latest attempt's.
        assert job["startedAt"] == job["attempts"][-1]["startedAt"]
        assert job["stoppedAt"] == job["attempts"][-1]["stoppedAt"]
    assert len(before["attempts"]) == 2
    assert before["attempts"][0]["stoppedAt"] <= before["attempts"][1]["startedAt"]
    assert done["startedAt"] >= before["stoppedAt"], "a dependent starts after its dependency"


# -- 5. array children -------------------------------------------------------------------------


def test_an_array_childs_attempt_and_exit_code_are_shown_like_any_jobs(batch: Batch) -> None:
    queue = batch.queue(f"kids-{batch.scenario.namespace}")
    batch.definition()
    array = batch.user.submit_job(
        jobName="kids", jobQueue=queue, jobDefinition="work", arrayProperties={"size": 3}
    )
    batch.wait(array["jobId"], "SUCCEEDED")
    (child,) = batch.user.describe_jobs(jobs=[f"{array['jobId']}:1"])["jobs"]
    (attempt,) = child["attempts"]
    assert attempt["container"]["exitCode"] == 0
    assert attempt["container"]["logStreamName"]
    assert attempt["startedAt"] <= attempt["stoppedAt"]
    assert (child["startedAt"], child["stoppedAt"]) == (attempt["startedAt"], attempt["stoppedAt"])
    assert child["container"]["exitCode"] == 0
    summaries = batch.user.list_jobs(arrayJobId=array["jobId"], jobStatus="SUCCEEDED")
    assert [s["container"] for s in summaries["jobSummaryList"]] == [{"exitCode": 0}] * 3


def test_a_multi_node_job_runs_with_its_node_overrides(batch: Batch) -> None:
    queue = batch.queue(f"mnp-{batch.scenario.namespace}")
    worker = {
        "image": "busybox",
        "command": ["echo", "worker"],
        "resourceRequirements": [
            {"type": "VCPU", "value": "0.5"},
            {"type": "MEMORY", "value": "256"},
        ],
    }
    batch.user.register_job_definition(
        jobDefinitionName="gang",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {"targetNodes": "0", "container": worker},
                {"targetNodes": "1:", "container": worker},
            ],
        },
    )
    job = batch.user.submit_job(
        jobName="gang",
        jobQueue=queue,
        jobDefinition="gang",
        nodeOverrides={
            "numNodes": 3,
            "nodePropertyOverrides": [
                {"targetNodes": "2", "containerOverrides": {"command": ["echo", "two"]}}
            ],
        },
    )
    done = batch.wait(job["jobId"], "SUCCEEDED", "FAILED", timeout=90)
    assert done["status"] == "SUCCEEDED"
    assert done["nodeProperties"]["numNodes"] == 3
    (third,) = batch.user.describe_jobs(jobs=[f"{job['jobId']}#2"])["jobs"]
    assert third["container"]["command"] == ["echo", "two"]
    (second,) = batch.user.describe_jobs(jobs=[f"{job['jobId']}#1"])["jobs"]
    assert second["container"]["command"] == ["echo", "worker"]


# -- 6. fields given back as they were given ----------------------------------------------------


def test_a_definition_is_described_as_it_was_registered(batch: Batch) -> None:
    batch.user.register_job_definition(
        jobDefinitionName="legacy",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={"image": "busybox", "vcpus": 2, "memory": 512},
        retryStrategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "3", "action": "exit"}]},
    )
    (described,) = batch.user.describe_job_definitions(jobDefinitionName="legacy")["jobDefinitions"]
    container = described["containerProperties"]
    assert (container.get("vcpus"), container.get("memory")) == (2, 512)
    assert container["resourceRequirements"] == []
    assert described["platformCapabilities"] == ["FARGATE"]
    assert "propagateTags" not in described, "never set, so never said"
    assert described["retryStrategy"]["evaluateOnExit"][0]["action"] == "EXIT"
    assert described["containerOrchestrationType"] == "ECS"


def test_a_jobs_overrides_in_the_older_fields_are_shown_in_them(batch: Batch) -> None:
    queue = batch.queue(f"legacy-{batch.scenario.namespace}")
    batch.user.register_job_definition(
        jobDefinitionName="old",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 256},
    )
    job = batch.user.submit_job(
        jobName="old",
        jobQueue=queue,
        jobDefinition="old",
        containerOverrides={"vcpus": 2},
        propagateTags=False,
    )
    done = batch.wait(job["jobId"], "SUCCEEDED", "FAILED")
    assert done["status"] == "SUCCEEDED"
    assert (done["container"].get("vcpus"), done["container"].get("memory")) == (2, 256)
    assert done["propagateTags"] is False
    assert done["platformCapabilities"] == ["EC2"]


def test_an_environment_is_described_as_it_was_created(batch: Batch) -> None:
    name = f"echo-{batch.scenario.namespace}"
    created = batch.admin.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        serviceRole=f"arn:aws:iam::000000000000:role/{name}-service",
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 8,
            "instanceTypes": ["m5.large"],
            "instanceRole": "ecsInstanceRole",
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
        },
    )
    batch.scenario.created.append(("computeenvironments", name))
    (described,) = batch.admin.describe_compute_environments(
        computeEnvironments=[created["computeEnvironmentArn"]]
    )["computeEnvironments"]
    assert described["serviceRole"] == f"arn:aws:iam::000000000000:role/{name}-service"
    assert described["containerOrchestrationType"] == "ECS"
    assert described["ecsClusterArn"].startswith(f"arn:aws:ecs:{REGION}:000000000000:cluster/")
    compute = described["computeResources"]
    assert (compute["instanceRole"], compute["subnets"], compute["securityGroupIds"]) == (
        "ecsInstanceRole",
        ["subnet-1"],
        ["sg-1"],
    )
    assert "eksConfiguration" not in described

    eks = batch.admin.create_compute_environment(
        computeEnvironmentName=f"{name}-eks",
        type="MANAGED",
        eksConfiguration={
            "eksClusterArn": "arn:aws:eks:us-east-1:000000000000:cluster/batch",
            "kubernetesNamespace": "batch",
        },
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 8,
            "instanceTypes": ["m5.large"],
            "instanceRole": "eksInstanceRole",
            "subnets": ["subnet-1"],
        },
    )
    batch.scenario.created.append(("computeenvironments", f"{name}-eks"))
    (described,) = batch.admin.describe_compute_environments(
        computeEnvironments=[eks["computeEnvironmentArn"]]
    )["computeEnvironments"]
    assert described["containerOrchestrationType"] == "EKS"
    assert described["eksConfiguration"]["kubernetesNamespace"] == "batch"
    assert "ecsClusterArn" not in described


def test_an_eks_definition_runs_and_is_described_as_it_was_registered(batch: Batch) -> None:
    queue = batch.queue(f"eks-{batch.scenario.namespace}")
    pod = {
        "containers": [
            {
                "name": "app",
                "image": "busybox",
                "command": ["echo"],
                "args": ["Ref::who"],
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}},
            }
        ],
        "metadata": {"labels": {"team": "eks"}},
    }
    batch.user.register_job_definition(
        jobDefinitionName="eks",
        type="container",
        parameters={"who": "world"},
        eksProperties={"podProperties": pod},
    )
    (described,) = batch.user.describe_job_definitions(jobDefinitionName="eks")["jobDefinitions"]
    assert described["eksProperties"]["podProperties"]["containers"][0]["args"] == ["Ref::who"]
    assert described["containerOrchestrationType"] == "EKS"
    assert "containerProperties" not in described
    job = batch.user.submit_job(
        jobName="eks",
        jobQueue=queue,
        jobDefinition="eks",
        eksPropertiesOverride={
            "podProperties": {"containers": [{"name": "app", "image": "busybox:1.36"}]}
        },
    )
    done = batch.wait(job["jobId"], "SUCCEEDED", "FAILED")
    assert done["status"] == "SUCCEEDED", (done.get("statusReason"), done.get("attempts"))
    (app,) = done["eksProperties"]["podProperties"]["containers"]
    assert (app["image"], app["args"], app["exitCode"]) == ("busybox:1.36", ["world"], 0)
    (attempt,) = done["eksAttempts"]
    assert attempt["containers"] == [{"name": "app", "exitCode": 0}]
    assert attempt["podName"]
    assert "container" not in done


# -- 7. references checked at once -------------------------------------------------------------


def _compute(**changed: Any) -> dict[str, Any]:
    resources = {
        "type": "EC2",
        "minvCpus": 0,
        "maxvCpus": 8,
        "instanceTypes": ["m5.large"],
        "instanceRole": "ecsInstanceRole",
        "subnets": ["subnet-1"],
    }
    resources.update(changed)
    return {k: v for k, v in resources.items() if v is not None}


@pytest.mark.parametrize(
    ("compute", "says"),
    [
        (_compute(instanceRole=None), "computeResources.instanceRole"),
        (_compute(minvCpus=None), "computeResources.minvCpus"),
        (_compute(instanceTypes=["unknown"]), "computeResources.instanceTypes"),
    ],
    ids=["no_instance_role", "no_min_vcpus", "an_unknown_instance_type"],
)
def test_an_ec2_environment_missing_what_aws_requires_is_refused_at_once(
    batch: Batch, compute: dict[str, Any], says: str
) -> None:
    message = _refused(
        batch.admin.create_compute_environment,
        computeEnvironmentName=f"bad-{batch.scenario.namespace}",
        type="MANAGED",
        computeResources=compute,
    )
    assert says in message, message


def test_a_queue_naming_what_does_not_exist_is_refused_at_once(batch: Batch) -> None:
    order = [{"order": 1, "computeEnvironment": f"nowhere-{batch.scenario.namespace}"}]
    message = _refused(
        batch.admin.create_job_queue,
        jobQueueName=f"q-{batch.scenario.namespace}",
        priority=1,
        computeEnvironmentOrder=order,
    )
    assert "computeEnvironmentOrder[0].computeEnvironment" in message, message
    assert "does not exist" in message, message
    queue = batch.queue(f"pol-{batch.scenario.namespace}")
    environment = batch.admin.describe_job_queues(jobQueues=[queue])["jobQueues"][0][
        "computeEnvironmentOrder"
    ]
    message = _refused(
        batch.admin.create_job_queue,
        jobQueueName=f"q2-{batch.scenario.namespace}",
        priority=1,
        computeEnvironmentOrder=environment,
        schedulingPolicyArn="fair",
    )
    assert "schedulingPolicyArn" in message, message
    assert "ARN" in message, message


# -- 8. errors in AWS's words ------------------------------------------------------------------


def test_a_value_outside_its_set_is_refused_in_aws_words_naming_the_field(batch: Batch) -> None:
    message = _refused(
        batch.admin.create_compute_environment,
        computeEnvironmentName=f"words-{batch.scenario.namespace}",
        type="MANAGED",
        state="ON",
        computeResources=_compute(),
    )
    assert message == (
        "1 validation error detected: Value 'ON' at 'state' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ENABLED, DISABLED]"
    )


def test_a_queue_becomes_valid_once_its_environment_exists(batch: Batch) -> None:
    """The order AWS users apply things in: an environment, then its queue."""
    queue = batch.queue(f"order-{batch.scenario.namespace}")
    wait_for(
        lambda: (
            batch.admin.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["status"] == "VALID"
        ),
        timeout=30,
        what="the queue to be VALID",
    )


# -- 9. one endpoint, several regions ----------------------------------------------------------


def test_one_endpoint_serves_each_of_its_regions_with_that_regions_arns(batch: Batch) -> None:
    queue = batch.queue(f"regions-{batch.scenario.namespace}")
    other = client(batch.endpoint, batch.user_key, region=OTHER_REGION)
    (described,) = other.describe_job_queues(jobQueues=[queue.rsplit("/", 1)[1]])["jobQueues"]
    assert described["jobQueueArn"].startswith(f"arn:aws:batch:{OTHER_REGION}:")
    batch.definition()
    job = other.submit_job(jobName="far", jobQueue=described["jobQueueArn"], jobDefinition="work")
    assert job["jobArn"].startswith(f"arn:aws:batch:{OTHER_REGION}:")
    message = _refused(
        batch.user.submit_job,
        jobName="mixed",
        jobQueue=described["jobQueueArn"],
        jobDefinition="work",
    )
    assert f"belongs to region {OTHER_REGION!r}" in message, "an ARN of the region signed for"
    elsewhere = client(batch.endpoint, batch.user_key, region="ap-south-1")
    with pytest.raises(ClientError) as refused:
        elsewhere.describe_job_queues()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert f"'{REGION}', '{OTHER_REGION}'" in refused.value.response["Error"]["Message"]
