"""Definitions written the AWS Batch on EKS way (eksProperties): a job's overrides and
parameters applied to the pod, what the pod asks of a node, the pod rendered as given, and
its first container's end as the attempt's."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import BatchJobSpec, JobDefinitionSpec
from kubatch.api.resources import MIB, Resources
from kubatch.core.jobs.attempt_pods import render_eks_pod
from kubatch.core.jobs.definitions import Refused, ResolvedJob, Revision, resolve_job
from kubatch.core.jobs.observe import observe_pod
from kubatch.core.jobs.pods import AttemptSpec, Pool

POD: dict[str, Any] = {
    "podProperties": {
        "serviceAccountName": "runner",
        "dnsPolicy": "ClusterFirst",
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "command": ["python", "-m", "app"],
                "args": ["--input", "Ref::input"],
                "env": [{"name": "MODE", "value": "batch"}],
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            },
            {"image": "sidecar:1", "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
        ],
        "initContainers": [
            {"name": "fetch", "image": "fetch:1", "resources": {"requests": {"cpu": "2"}}}
        ],
        "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory"}}],
        "metadata": {"labels": {"team": "vision", "kubatch.io/job-name": "not-mine"}},
    }
}


def resolved(**job: Any) -> ResolvedJob | Refused:
    definition = JobDefinitionSpec.model_validate(
        {"eksProperties": POD, "parameters": {"input": "s3://a"}}
    )
    spec = BatchJobSpec.model_validate({"jobQueue": "q", "jobDefinition": "d", **job})
    return resolve_job(spec, Revision(1, definition))


def test_a_pod_asks_for_its_containers_together_or_its_largest_init_container() -> None:
    job = resolved()
    assert isinstance(job, ResolvedJob)
    # cpu: 1 + 0.5 (the sidecar's limit, as its request) < 2 (the init container's)
    assert job.resources == Resources(millicpu=2000, memory=1024 * MIB + 256 * MIB, gpus=0)
    assert job.resource_problem is None


def test_overrides_change_containers_by_name_and_parameters_fill_the_arguments() -> None:
    override = {
        "podProperties": {
            "containers": [
                {"name": "app", "args": ["--input", "Ref::input", "--fast"]},
                {"name": "default-1", "image": "sidecar:2"},
            ],
            "metadata": {"labels": {"run": "7"}},
        }
    }
    job = resolved(eksPropertiesOverride=override, parameters={"input": "s3://b"})
    assert isinstance(job, ResolvedJob)
    assert job.eks is not None
    app, sidecar = job.eks.containers
    assert app.args == ["--input", "s3://b", "--fast"]
    assert app.command == ["python", "-m", "app"], "untouched"
    assert (sidecar.name, sidecar.image) == ("default-1", "sidecar:2")
    assert job.eks.metadata is not None
    assert job.eks.metadata.labels == {
        "team": "vision",
        "kubatch.io/job-name": "not-mine",
        "run": "7",
    }


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (
            {"eksPropertiesOverride": {"podProperties": {"containers": [{"name": "nope"}]}}},
            "eksPropertiesOverride names container nope, which the pod does not have "
            "(it has app, default-1)",
        ),
        (
            {"containerOverrides": {"command": ["x"]}},
            "containerOverrides do not apply to a definition with eksProperties",
        ),
    ],
    ids=["an_unknown_container", "container_overrides"],
)
def test_what_an_eks_job_cannot_have_is_refused_saying_why(
    job: dict[str, Any], reason: str
) -> None:
    found = resolved(**job)
    assert isinstance(found, Refused)
    assert found.reason.startswith(reason)


def _pod() -> dict[str, Any]:
    job = resolved()
    assert isinstance(job, ResolvedJob)
    spec = AttemptSpec(
        namespace="team-a",
        job_name="train",
        job_uid="uid-1",
        queue="q",
        index=None,
        size=None,
        attempt=1,
        pod_name="train-uid1-1",
    )
    return render_eks_pod(spec, job, Pool("ce", {"pool": "gpu"}))


def test_the_pod_is_the_definitions_as_given_with_aws_batchs_variables_in_each_container() -> None:
    pod = _pod()
    spec = pod["spec"]
    assert [c["name"] for c in spec["containers"]] == ["app", "default-1"]
    assert [c["name"] for c in spec["initContainers"]] == ["fetch"]
    app = spec["containers"][0]
    assert (app["command"], app["args"]) == (["python", "-m", "app"], ["--input", "s3://a"])
    assert app["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}}
    assert app["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch", "readOnly": False}]
    for container in [*spec["containers"], *spec["initContainers"]]:
        names = {e["name"] for e in container["env"]}
        assert {"AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ATTEMPT", "AWS_BATCH_JQ_NAME"} <= names
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {"medium": "Memory"}}]
    assert (spec["serviceAccountName"], spec["dnsPolicy"]) == ("runner", "ClusterFirst")
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["restartPolicy"] == "Never"
    meta = pod["metadata"]
    assert meta["labels"]["team"] == "vision"
    assert meta["labels"]["kubatch.io/job-name"] == "train", "Kubatch's labels win"
    assert meta["annotations"]["kubectl.kubernetes.io/default-container"] == "app"


def test_the_first_containers_end_is_the_attempts() -> None:
    pod = _pod()
    pod["status"] = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "default-1",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            },
            {
                "name": "app",
                "state": {
                    "terminated": {
                        "exitCode": 3,
                        "reason": "Error",
                        "startedAt": "2026-01-01T00:00:00Z",
                        "finishedAt": "2026-01-01T00:00:05Z",
                    }
                },
            },
        ],
    }
    obs = observe_pod(pod)
    assert obs is not None
    assert obs.exit_code == 3
