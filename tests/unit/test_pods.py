"""Pod rendering and reading pods back."""

from __future__ import annotations

from typing import Any

import pytest

from kubatch.api import BatchJobSpec, JobDefinitionSpec
from kubatch.core.jobs.attempts import PodPhase, pod_name
from kubatch.core.jobs.definitions import ResolvedJob, Revision, resolve_job
from kubatch.core.jobs.observe import observe_pod
from kubatch.core.jobs.pods import AttemptSpec, Pool, merge_manifest, render_pod

DEFINITION: dict[str, Any] = {
    "containerProperties": {
        "image": "busybox:1.36",
        "command": ["echo", "Ref::msg"],
        "environment": [{"name": "MODE", "value": "fast"}],
        "resourceRequirements": [
            {"type": "VCPU", "value": "0.5"},
            {"type": "MEMORY", "value": "2048"},
            {"type": "GPU", "value": "1"},
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "pvc1"}},
            {"name": "tmp"},
        ],
        "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}],
        "secrets": [{"name": "TOKEN", "valueFrom": "creds:token"}],
        "serviceAccountName": "batch-runner",
        "readonlyRootFilesystem": True,
        "user": "1000:2000",
        "linuxParameters": {"sharedMemorySize": 64},
    },
    "parameters": {"msg": "hi"},
}
POOL = Pool(
    "ce1",
    {"kubatch.io/pool": "gpu"},
    [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
)


def resolved(**definition: Any) -> ResolvedJob:
    spec = JobDefinitionSpec.model_validate({**DEFINITION, **definition})
    job = BatchJobSpec.model_validate({"jobQueue": "q", "jobDefinition": "d"})
    result = resolve_job(job, Revision(3, spec))
    assert isinstance(result, ResolvedJob)
    return result


def attempt(index: int | None = 7, size: int | None = 10, number: int = 2) -> AttemptSpec:
    return AttemptSpec(
        namespace="ns",
        job_name="render",
        job_uid="1234-abcd",
        queue="high",
        index=index,
        size=size,
        attempt=number,
        pod_name=pod_name("render", "1234-abcd", index, number),
    )


def env_of(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        e["name"]: e.get("value", e.get("valueFrom")) for e in pod["spec"]["containers"][0]["env"]
    }


def test_pod_names_are_deterministic_and_distinct() -> None:
    assert pod_name("render", "1234-abcd", 7, 2) == pod_name("render", "1234-abcd", 7, 2)
    assert pod_name("a", "u1", 1, 2) != pod_name("a-1", "u2", None, 2)
    assert len({pod_name("j", "u", i, a) for i in range(5) for a in range(1, 4)}) == 15


def test_labels_and_owner_reference() -> None:
    pod = render_pod(attempt(), resolved(), POOL)
    labels = pod["metadata"]["labels"]
    assert labels["kubatch.io/job-name"] == "render"
    assert labels["kubatch.io/job-uid"] == "1234-abcd"
    assert labels["kubatch.io/job-queue"] == "high"
    assert labels["kubatch.io/compute-environment"] == "ce1"
    assert labels["kubatch.io/array-index"] == "7"
    assert labels["kubatch.io/attempt"] == "2"
    (owner,) = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("BatchJob", "1234-abcd", True)


def test_aws_batch_variables_are_set() -> None:
    env = env_of(render_pod(attempt(), resolved(), POOL))
    assert env["AWS_BATCH_JOB_ID"] == "1234-abcd:7"
    assert env["AWS_BATCH_JQ_NAME"] == "high"
    assert env["AWS_BATCH_CE_NAME"] == "ce1"
    assert env["AWS_BATCH_JOB_ATTEMPT"] == "2"
    assert env["AWS_BATCH_JOB_ARRAY_INDEX"] == "7"
    assert env["AWS_BATCH_JOB_ARRAY_SIZE"] == "10"
    assert env["MODE"] == "fast"
    assert env["TOKEN"] == {"secretKeyRef": {"name": "creds", "key": "token"}}


def test_single_job_has_no_array_variables() -> None:
    env = env_of(render_pod(attempt(None, None, 1), resolved(), POOL))
    assert env["AWS_BATCH_JOB_ID"] == "1234-abcd"
    assert "AWS_BATCH_JOB_ARRAY_INDEX" not in env


def test_resources_command_and_restart_policy() -> None:
    pod = render_pod(attempt(), resolved(), POOL)
    main = pod["spec"]["containers"][0]
    assert main["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048Mi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "2048Mi", "nvidia.com/gpu": "1"},
    }
    assert main["args"] == ["echo", "hi"]
    assert "command" not in main  # the image's entrypoint stays, as in AWS Batch
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30


def test_pool_selector_tolerations_role_volumes_and_security() -> None:
    spec = render_pod(attempt(), resolved(), POOL)["spec"]
    assert spec["nodeSelector"] == {"kubatch.io/pool": "gpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["serviceAccountName"] == "batch-runner"
    assert {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in spec["volumes"]} == {
        "data": {"persistentVolumeClaim": {"claimName": "pvc1", "readOnly": False}},
        "tmp": {"emptyDir": {}},
        "dshm": {"emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    }
    main = spec["containers"][0]
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in main["volumeMounts"]
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsUser": 1000,
        "runAsGroup": 2000,
    }


def test_pod_template_is_merged_last_but_keeps_tracking_labels() -> None:
    template = {
        "metadata": {"labels": {"team": "vision", "kubatch.io/job-name": "evil"}},
        "spec": {
            "priorityClassName": "batch",
            "containers": [
                {"name": "main", "imagePullPolicy": "Always"},
                {"name": "sidecar", "image": "proxy"},
            ],
        },
    }
    pod = render_pod(attempt(), resolved(podTemplate=template), POOL)
    assert pod["metadata"]["labels"]["team"] == "vision"
    assert pod["metadata"]["labels"]["kubatch.io/job-name"] == "render"
    assert pod["spec"]["priorityClassName"] == "batch"
    main, sidecar = pod["spec"]["containers"]
    assert (main["image"], main["imagePullPolicy"], sidecar["image"]) == (
        "busybox:1.36",
        "Always",
        "proxy",
    )


def test_simulation_annotations_are_copied_from_the_job() -> None:
    pod = render_pod(attempt(), resolved(), POOL, {"sim.kubatch.io/exit-code": "3", "other": "x"})
    assert pod["metadata"]["annotations"] == {"sim.kubatch.io/exit-code": "3"}


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
        ({"l": [1, 2]}, {"l": [3]}, {"l": [3]}),
        (
            {"l": [{"name": "a", "v": 1}]},
            {"l": [{"name": "a", "w": 2}, {"name": "b"}]},
            {"l": [{"name": "a", "v": 1, "w": 2}, {"name": "b"}]},
        ),
    ],
)
def test_merge_manifest(base: Any, override: Any, merged: Any) -> None:
    assert merge_manifest(base, override) == merged


def _pod(
    phase: str, state: dict[str, Any], status_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    status = {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]}
    if status_reason is not None:
        status["reason"] = status_reason
    return {
        "metadata": {
            "name": "p",
            "labels": {
                "kubatch.io/job-uid": "u",
                "kubatch.io/attempt": "2",
                "kubatch.io/array-index": "4",
            },
            **extra,
        },
        "spec": {"nodeName": "n1"},
        "status": status,
    }


def test_observe_a_finished_pod() -> None:
    obs = observe_pod(
        _pod(
            "Failed",
            {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "startedAt": "2026-01-01T00:00:00Z",
                    "finishedAt": "2026-01-01T00:01:00Z",
                }
            },
        )
    )
    assert obs is not None
    assert (obs.index, obs.attempt, obs.phase, obs.exit_code, obs.reason, obs.node_name) == (
        4,
        2,
        PodPhase.FAILED,
        137,
        "OOMKilled",
        "n1",
    )
    assert obs.finished


def test_observe_an_image_pull_failure() -> None:
    obs = observe_pod(
        _pod("Pending", {"waiting": {"reason": "ImagePullBackOff", "message": "nope"}})
    )
    assert obs is not None
    assert obs.cannot_start
    assert obs.finished


def test_observe_a_deleting_pod_and_a_foreign_one() -> None:
    obs = observe_pod(
        _pod(
            "Running",
            {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            deletionTimestamp="2026-01-01T00:02:00Z",
        )
    )
    assert obs is not None
    assert obs.deleting
    assert not obs.finished
    assert observe_pod({"metadata": {"name": "x", "labels": {}}}) is None


@pytest.mark.parametrize(
    ("case", "pod", "reason", "started"),
    [
        (
            "the_kubelet_stopped_it_at_its_deadline",
            _pod(
                "Failed",
                {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": "2026-01-01T00:00:00Z",
                    }
                },
                status_reason="DeadlineExceeded",
            ),
            "DeadlineExceeded",
            True,
        ),
        (
            "evicted_while_its_container_says_error",
            _pod(
                "Failed",
                {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "Error",
                        "startedAt": "2026-01-01T00:00:00Z",
                    }
                },
                status_reason="Evicted",
            ),
            "Evicted",
            True,
        ),
        (
            # The pod garbage collector marks a pod of a node that is gone Failed, its
            # container still said to run, before it deletes it.
            "its_node_was_removed",
            {
                **_pod("Running", {"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
                "status": {
                    "phase": "Failed",
                    "containerStatuses": [
                        {
                            "name": "main",
                            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                        }
                    ],
                    "conditions": [
                        {
                            "type": "DisruptionTarget",
                            "status": "True",
                            "reason": "DeletionByPodGC",
                            "message": "PodGC: node no longer exists",
                        }
                    ],
                },
            },
            "DeletionByPodGC",
            True,
        ),
        (
            "its_command_could_not_be_run",
            _pod(
                "Failed",
                {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "startedAt": "1970-01-01T00:00:00Z",
                    }
                },
            ),
            "StartError",
            False,
        ),
        (
            "its_container_ended_before_the_phase_said_running",
            _pod(
                "Pending",
                {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": "2026-01-01T00:00:00Z",
                    }
                },
            ),
            "Completed",
            True,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "_" in v else "",
)
def test_observe_reads_reasons_and_start_times_as_the_kubelet_writes_them(
    case: str, pod: dict[str, Any], reason: str, started: bool
) -> None:
    obs = observe_pod(pod)
    assert obs is not None
    assert obs.reason == reason
    assert (obs.started_at is not None) == started
