"""Users drive Kubatch with kubectl: apply, get (with the printer columns), patch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.system import Scenario

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def kubectl(
    scenario: Scenario, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(scenario.kube.kubeconfig), "-n", scenario.namespace, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_apply_get_and_patch_with_kubectl(scenario: Scenario) -> None:
    ce, queue = scenario.name("ce"), scenario.name("q")
    manifests = [
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "ComputeEnvironment",
            "metadata": {"name": ce},
            "spec": {"computeResources": {"maxvCpus": 8, "instanceTypes": ["m5.xlarge"]}},
        },
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "JobQueue",
            "metadata": {"name": queue},
            "spec": {
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce}],
            },
        },
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "JobDefinition",
            "metadata": {"name": "hello"},
            "spec": {
                "containerProperties": {
                    "image": "busybox",
                    "command": ["echo", "hi"],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "1"},
                        {"type": "MEMORY", "value": "512"},
                    ],
                }
            },
        },
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "BatchJob",
            "metadata": {"name": "hello"},
            "spec": {"jobQueue": queue, "jobDefinition": "hello"},
        },
        {
            "apiVersion": "kubatch.io/v1alpha1",
            "kind": "BatchJob",
            "metadata": {"name": "waits", "annotations": {"sim.kubatch.io/start-delay": "600"}},
            "spec": {
                "jobQueue": queue,
                "jobDefinition": "hello",
                "dependsOn": [{"jobName": "never"}],
            },
        },
    ]
    scenario.created += [("computeenvironments", ce), ("jobqueues", queue)]
    applied = kubectl(scenario, "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
    assert applied.returncode == 0, applied.stderr
    assert "batchjob.kubatch.io/hello created" in applied.stdout
    scenario.wait("hello", "SUCCEEDED")
    table = kubectl(scenario, "get", "bj", "hello")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "STATUS", "QUEUE", "DEFINITION"]
    assert row.split()[:4] == ["hello", "SUCCEEDED", queue, "hello"]
    patched = kubectl(
        scenario,
        "patch",
        "bj",
        "waits",
        "--type",
        "merge",
        "-p",
        '{"spec":{"cancel":{"reason":"changed my mind"}}}',
    )
    assert patched.returncode == 0, patched.stderr
    assert scenario.wait("waits", "FAILED")["statusReason"] == "changed my mind"
    listed = kubectl(scenario, "get", "kubatch")
    assert "batchjob.kubatch.io/hello" in listed.stdout
    assert "jobdefinition.kubatch.io/hello" in listed.stdout


def test_kubectl_refuses_an_invalid_manifest_naming_the_field(scenario: Scenario) -> None:
    bad = {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": "bad"},
        "spec": {"jobQueue": "q", "jobDefinition": "d", "retryStrategy": {"attempts": 11}},
    }
    done = kubectl(scenario, "apply", "-f", "-", stdin=yaml.safe_dump(bad))
    assert done.returncode != 0
    assert "spec.retryStrategy.attempts" in done.stderr
    missing = kubectl(scenario, "get", "bj", "bad")
    assert missing.returncode != 0, "nothing was created"
    assert "NotFound" in missing.stderr or "not found" in missing.stderr


def test_server_side_dry_run_creates_nothing(scenario: Scenario) -> None:
    definition = {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "JobDefinition",
        "metadata": {"name": "dry"},
        "spec": {"containerProperties": {"image": "busybox"}},
    }
    done = kubectl(
        scenario, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(definition)
    )
    assert done.returncode == 0, done.stderr
    assert "(server dry run)" in done.stdout
    listed = kubectl(scenario, "get", "jobdefinitions", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == ""


def test_create_namespace_works_with_this_kubectl(scenario: Scenario) -> None:
    """kubectl sends some built-in kinds as protobuf first; a server that does not read it
    must answer 415 so that kubectl falls back to JSON."""
    name = f"{scenario.namespace}-made-by-kubectl"
    done = kubectl(scenario, "create", "namespace", name)
    try:
        assert done.returncode == 0, done.stderr
        assert kubectl(scenario, "get", "namespace", name).returncode == 0
    finally:
        kubectl(scenario, "delete", "namespace", name, "--wait=false")


def test_watching_with_kubectl_shows_the_columns_of_every_change(scenario: Scenario) -> None:
    scenario.job("watched", "no-such-queue")
    watch = subprocess.Popen(
        [
            *(KUBECTL, "--kubeconfig", str(scenario.kube.kubeconfig), "-n", scenario.namespace),
            *("get", "bj", "-w", "--output-watch-events"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert watch.stdout is not None
        lines.append(watch.stdout.readline())  # the listed job
        scenario.patch("watched", {"cancel": {"reason": "never mind"}})
        for _ in range(10):
            line = watch.stdout.readline()
            lines.append(line)
            if "FAILED" in line:
                break
    finally:
        watch.kill()
        watch.wait()
    changed = lines[-1].split()
    assert changed[:4] == ["MODIFIED", "watched", "FAILED", "no-such-queue"], lines


def test_kubectl_shows_pods_and_nodes_with_their_status(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(minvCpus=4),))
    scenario.definition()
    scenario.job("shown", queue)
    scenario.wait("shown", "SUCCEEDED", timeout=60)
    pods = kubectl(scenario, "get", "pods")
    assert pods.returncode == 0, pods.stderr
    header, row = pods.stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "READY", "STATUS"]
    assert row.split()[2] == "Completed"
    nodes = kubectl(
        scenario, "get", "nodes", "-l", f"kubatch.io/compute-environment={scenario.name('ce')}"
    )
    assert nodes.stdout.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    assert nodes.stdout.splitlines()[1].split()[1] == "Ready"


@pytest.mark.parametrize(
    ("field", "says"),
    [
        ("batchjobs.spec.arrayProperties.size", "How many children, 2 to 10000."),
        ("jobqueues.spec.computeEnvironmentOrder", "Up to 3 compute environments"),
        ("jobdefinitions.spec.retryStrategy.attempts", "Attempts in all, 1 to 10"),
    ],
)
def test_kubectl_explain_shows_the_fields_descriptions(
    scenario: Scenario, field: str, says: str
) -> None:
    done = kubectl(scenario, "explain", field)
    assert done.returncode == 0, done.stderr
    assert says in " ".join(done.stdout.split())
