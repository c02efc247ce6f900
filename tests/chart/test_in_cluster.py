"""The chart in a real cluster: the operator image, built here from the project's Dockerfile,
installed with a real helm and run as a pod on a real node (containerd, runc, the kubelet),
with its ServiceAccount token mounted, probes answered by the kubelet, a read-only root
filesystem and a non-root user; jobs run to their end through it, on the real node; a helm
upgrade to a new image keeps every job; the simulated-nodes mode runs in the cluster too."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubatch.sim.controlplane import ControlPlane, assets_from_environment, control_plane
from kubatch.sim.images import OPERATOR_IMAGE, cached_operator_image
from kubatch.sim.node import IMAGE_TOOLS, RealNode, real_node
from tests.support.cluster import (
    HELM,
    REAL_NODE_LABELS,
    _check_real_node,
    _node_ready,
    read_or_none,
    wait_for,
)
from tests.support.containers import IMAGE

ROOT = Path(__file__).parents[2]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
CHART = ROOT / "helm" / "kubatch"
IMAGES = ROOT / ".tools" / "images"
NAMESPACE, RELEASE, TEAM = "kubatch-system", "kubatch", "team"
G, V = "kubatch.io", "v1alpha1"
REPOSITORY, TAG = OPERATOR_IMAGE.rsplit(":", 1)


@dataclass
class InCluster:
    plane: ControlPlane
    node: RealNode
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def run(self, tool: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(tool), "--kubeconfig", str(self.plane.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"{tool.name} {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert HELM.exists(), "run `make tools` (make test does) to fetch helm"
        return self.run(HELM, *args, "-n", NAMESPACE, "--wait", "--timeout", "180s")

    def apply(self, kind: str, body: dict[str, Any]) -> None:
        body = {"apiVersion": f"{G}/{V}", "kind": kind, **body}
        plural = {"JobQueue": "jobqueues", "BatchJob": "batchjobs"}.get(kind, kind.lower() + "s")
        if kind in ("JobDefinition", "BatchJob"):
            self.custom.create_namespaced_custom_object(G, V, TEAM, plural, body)
        else:
            self.custom.create_cluster_custom_object(G, V, plural, body)

    def job(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            G, V, TEAM, "batchjobs", name
        )
        return found

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.job(name).get("status") or {}
        return status

    def operator_pods(self, component: str = "operator") -> list[Any]:
        selector = f"app.kubernetes.io/component={component}"
        pods: list[Any] = self.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        return pods

    def operator_log(self) -> str:
        return "\n".join(
            self.run(KUBECTL, "-n", NAMESPACE, "logs", p.metadata.name, check=False).stdout
            for p in self.operator_pods()
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InCluster]:
    _check_real_node(*IMAGE_TOOLS)
    assets = assets_from_environment()
    assert assets is not None
    workdir = tmp_path_factory.mktemp("in-cluster")
    archive = cached_operator_image(ROOT, IMAGES, workdir / "image-build.log")
    with ExitStack() as stack:
        plane = stack.enter_context(control_plane(assets, workdir / "control-plane"))
        node = stack.enter_context(
            real_node(
                plane,
                workdir / "node",
                name="kubatch-chart-node",
                labels=REAL_NODE_LABELS,
                subnet=1,
                images=[archive],
            )
        )
        api = config.new_client_from_config(str(plane.kubeconfig))
        found = InCluster(plane, node, api)
        wait_for(lambda: _node_ready(found, node.name), timeout=60, what="the node Ready")  # type: ignore[arg-type]
        yield found


def _finished(cluster: InCluster, *names: str, timeout: float = 120) -> None:
    for name in names:
        wait_for(
            lambda name=name: cluster.status(name).get("status") in ("SUCCEEDED", "FAILED"),  # type: ignore[misc]
            timeout=timeout,
            what=f"job {name} to finish",
        )
        status = cluster.status(name)
        assert status["status"] == "SUCCEEDED", (status, cluster.operator_log()[-3000:])


def test_the_operator_runs_as_a_pod_and_runs_jobs_on_the_node(cluster: InCluster) -> None:
    cluster.helm(
        "install", RELEASE, str(CHART), "--create-namespace",
        "--set", f"image.repository={REPOSITORY}", "--set", f"image.tag={TAG}",
        "--set", "image.pullPolicy=Never",
        "--set", "operator.leaseSeconds=5",
    )  # fmt: skip
    (pod,) = cluster.operator_pods()
    assert pod.status.phase == "Running"
    assert all(c.ready for c in pod.status.container_statuses), "the kubelet's probes answer"
    assert pod.spec.node_name == cluster.node.name
    container = pod.spec.containers[0]
    assert container.security_context.read_only_root_filesystem
    assert pod.spec.security_context.run_as_non_root

    def exec_(*command: str) -> subprocess.CompletedProcess[str]:
        name = pod.metadata.name
        return cluster.run(KUBECTL, "-n", NAMESPACE, "exec", name, "--", *command, check=False)

    assert exec_("id", "-u").stdout.strip() == "10001"
    written = exec_("touch", "/written")
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr
    token = exec_("cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    assert token.stdout == NAMESPACE

    cluster.core.create_namespace({"metadata": {"name": TEAM}})
    cluster.apply(
        "ComputeEnvironment",
        {
            "metadata": {"name": "node-ce"},
            "spec": {
                "type": "UNMANAGED",
                "computeResources": {"maxvCpus": 2, "nodeLabels": REAL_NODE_LABELS},
            },
        },
    )
    cluster.apply(
        "JobQueue",
        {
            "metadata": {"name": "node-q"},
            "spec": {
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "node-ce"}],
            },
        },
    )
    cluster.apply(
        "JobDefinition",
        {
            "metadata": {"name": "hello"},
            "spec": {
                "containerProperties": {
                    "image": IMAGE,
                    "command": [
                        "sh",
                        "-c",
                        "echo hello from $AWS_BATCH_JOB_ID; sleep Ref::seconds",
                    ],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "0.125"},
                        {"type": "MEMORY", "value": "64"},
                    ],
                },
                "parameters": {"seconds": "0"},
            },
        },
    )
    for name, extra in (("single", {}), ("array", {"arrayProperties": {"size": 3}})):
        cluster.apply(
            "BatchJob",
            {
                "metadata": {"name": name},
                "spec": {"jobQueue": "node-q", "jobDefinition": "hello", **extra},
            },
        )
    _finished(cluster, "single", "array")
    (job_pod,) = cluster.core.list_namespaced_pod(
        TEAM, label_selector="kubatch.io/job-name=single"
    ).items
    assert job_pod.spec.node_name == cluster.node.name
    uid = cluster.job("single")["metadata"]["uid"]
    log = cluster.run(KUBECTL, "-n", TEAM, "logs", job_pod.metadata.name).stdout
    assert log == f"hello from {uid}\n"

    metrics = urllib.request.urlopen(f"http://{pod.status.pod_ip}:8000/metrics", timeout=10)
    text = metrics.read().decode()
    assert 'kubatch_jobs_finished_total{outcome="SUCCEEDED",queue="node-q"} 2.0' in text, text
    assert "forbidden" not in cluster.operator_log().lower()


def test_a_helm_upgrade_to_a_new_image_keeps_every_job(cluster: InCluster) -> None:
    """A rollout while a job runs and others wait: every job ends once, none is lost or run
    twice."""
    new_tag = f"{TAG}-upgrade"
    cluster.node.ctr("images", "tag", "--force", OPERATOR_IMAGE, f"{REPOSITORY}:{new_tag}")
    names = ["long", *(f"queued-{i}" for i in range(4))]
    for name in names:
        seconds = "20" if name == "long" else "2"
        cluster.apply(
            "BatchJob",
            {
                "metadata": {"name": name},
                "spec": {
                    "jobQueue": "node-q",
                    "jobDefinition": "hello",
                    "parameters": {"seconds": seconds},
                },
            },
        )
    wait_for(
        lambda: cluster.status("long").get("status") == "RUNNING", timeout=60, what="long RUNNING"
    )
    cluster.helm("upgrade", RELEASE, str(CHART), "--reuse-values", "--set", f"image.tag={new_tag}")
    wait_for(
        lambda: (
            [p.spec.containers[0].image for p in cluster.operator_pods()]
            == [f"{REPOSITORY}:{new_tag}"]
        ),
        timeout=120,
        what="the new image to be the only one running",
    )
    _finished(cluster, *names, timeout=180)
    for name in names:
        assert cluster.status(name)["attemptCount"] == 1, cluster.status(name)
        pods = cluster.core.list_namespaced_pod(TEAM, label_selector=f"kubatch.io/job-name={name}")
        assert len(pods.items) == 1


def test_the_simulated_nodes_mode_runs_in_the_cluster(cluster: InCluster) -> None:
    cluster.helm(
        "upgrade", RELEASE, str(CHART), "--reuse-values", "--set", "simulatedNodes.enabled=true"
    )
    (kubelet,) = cluster.operator_pods("simulated-kubelet")
    assert kubelet.status.phase == "Running"
    cluster.apply(
        "ComputeEnvironment",
        {
            "metadata": {"name": "sim-ce"},
            "spec": {"computeResources": {"maxvCpus": 8, "instanceTypes": ["m5.xlarge"]}},
        },
    )
    cluster.apply(
        "JobQueue",
        {
            "metadata": {"name": "sim-q"},
            "spec": {
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "sim-ce"}],
            },
        },
    )
    cluster.apply(
        "BatchJob",
        {
            "metadata": {"name": "simulated", "annotations": {"sim.kubatch.io/duration": "1"}},
            "spec": {"jobQueue": "sim-q", "jobDefinition": "hello", "arrayProperties": {"size": 2}},
        },
    )
    _finished(cluster, "simulated")
    pods = cluster.core.list_namespaced_pod(
        TEAM, label_selector="kubatch.io/job-name=simulated"
    ).items
    nodes = {p.spec.node_name for p in pods}
    for name in nodes:
        node = cluster.core.read_node(name)
        assert node.metadata.labels.get("kubatch.io/simulated") == "true"
    cluster.helm("uninstall", RELEASE)
    wait_for(lambda: not cluster.operator_pods() or None, timeout=120, what="the operator gone")
    assert read_or_none(cluster.core.read_namespaced_service_account, RELEASE, NAMESPACE) is None
