"""ComputeEnvironments in another cluster (spec.cluster): a second cluster of the tier's kind
(a second real control plane with its own ports and certificates, or a second emulator),
with its own simulated kubelet and no Kubatch install: only the worker chart
(helm/kubatch-worker: job namespaces and RBAC), and on the real tier the operator reaches it
with that chart's ServiceAccount, so the real authorizer judges the RBAC."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml
from click.testing import CliRunner, Result
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from kubatch.autoscaling.simulated import node_manifest
from kubatch.autoscaling.types import NodeShape
from kubatch.cli.main import cli
from kubatch.keys import KWOK_KEY
from kubatch.sim.controlplane import ControlPlane, assets_from_environment, control_plane
from kubatch.sim.stack import start_apiserver, start_kubelet
from tests.integration.test_aws_api import add_key, endpoint
from tests.integration.test_aws_api import client as aws_client
from tests.integration.test_operations import scrape_until
from tests.support.cluster import HELM, Cluster, read_or_none, wait_for
from tests.support.consoles import Consoles, get
from tests.support.system import (
    KUBELET_LEASE_SECONDS,
    KUBELET_STATUS_REPORT_SECONDS,
    Scenario,
    System,
    unique,
)

ROOT = Path(__file__).parents[2]
WORKER_CHART = ROOT / "helm" / "kubatch-worker"
__all__ = ["endpoint"]  # a fixture, shared with the API's tests (consoles: conftest)
G, V = "kubatch.io", "v1alpha1"
WORKER_NAMESPACE = "kubatch-worker"
UP = "kubatch_worker_cluster_up"
OPERATOR_NAMESPACE = "default"
"""Where the test operator reads Secrets (KUBATCH_NAMESPACE's default)."""

SET = ("--set", "nodes.manage=true")
"""The simulated autoscaler adds and removes the worker cluster's nodes itself."""


@dataclass
class Worker:
    name: str
    kubeconfig: Path
    api: client.ApiClient
    plane: ControlPlane | None
    secret: str
    """The Secret (operator's namespace, management cluster) that holds its kubeconfig."""
    restarted: bool = False
    """Its API server was started again during the test (see _schedules_again)."""

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def pods(self, namespace: str, job: str) -> list[Any]:
        found: list[Any] = self.core.list_namespaced_pod(
            namespace, label_selector=f"kubatch.io/job-name={job}"
        ).items
        return found

    def pool(self, environment: str) -> list[Any]:
        found: list[Any] = self.core.list_node(
            label_selector=f"kubatch.io/compute-environment={environment}"
        ).items
        return found


def _install_worker_chart(api: client.ApiClient, rbac: bool) -> None:
    """The worker chart, rendered by a real helm and created as `helm install` would (without
    its RBAC on the emulator, which has no authorizer and serves no RBAC kinds)."""
    core = client.CoreV1Api(api)
    if read_or_none(core.read_namespace, WORKER_NAMESPACE) is None:
        core.create_namespace({"metadata": {"name": WORKER_NAMESPACE}})
    rendered = subprocess.run(
        [str(HELM), "template", "kubatch-worker", str(WORKER_CHART), "-n", WORKER_NAMESPACE, *SET],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for doc in yaml.safe_load_all(rendered):
        if doc and (rbac or not doc["apiVersion"].startswith("rbac.")):
            utils.create_from_dict(api, doc, namespace=WORKER_NAMESPACE)


def put_secret(kube: Cluster, name: str, kubeconfig: str) -> None:
    body = {
        "metadata": {"name": name},
        "data": {"kubeconfig": base64.b64encode(kubeconfig.encode()).decode()},
    }
    try:
        kube.core.create_namespaced_secret(OPERATOR_NAMESPACE, body)
    except ApiException as e:
        if e.status != 409:
            raise
        kube.core.replace_namespaced_secret(name, OPERATOR_NAMESPACE, body)


@pytest.fixture(scope="module")
def worker(
    kube: Cluster, system: System, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    workdir = tmp_path_factory.mktemp("worker")
    with ExitStack() as stack:
        plane = None
        if kube.embedded:
            kubeconfig = start_apiserver(stack, workdir)
        else:
            assets = assets_from_environment()
            assert assets is not None
            plane = stack.enter_context(control_plane(assets, workdir / "control-plane"))
            kubeconfig = plane.kubeconfig
        api = config.new_client_from_config(str(kubeconfig))
        wait_for(lambda: _answers(api), timeout=60, what="the worker cluster's API server")
        start_kubelet(
            stack,
            workdir,
            kubeconfig,
            bind=kube.embedded,
            lease_seconds=KUBELET_LEASE_SECONDS,
            status_report_seconds=KUBELET_STATUS_REPORT_SECONDS,
        )
        _install_worker_chart(api, rbac=plane is not None)
        secret = f"worker-{unique()}"
        if plane is None:  # the emulator has no authorizer (nor TokenRequest): admin it is
            put_secret(kube, secret, kubeconfig.read_text())
        else:  # the real authorizer: the chart's ServiceAccount, as `kubatch connect-cluster`
            plane.wait_for_default_service_account()  # hands it over
            merged = merged_kubeconfig(kube.kubeconfig, kubeconfig, "w1", workdir / "both")
            args = ["--kubeconfig", str(merged), "connect-cluster", "w1", "--secret", secret]
            done = CliRunner().invoke(
                cli, [*args, "--operator-namespace", OPERATOR_NAMESPACE, "--hours", "2"]
            )
            assert done.exit_code == 0, done.output
            assert f"kubeconfigSecret:\n      name: {secret}" in done.output
        yield Worker("w1", kubeconfig, api, plane, secret)
        kube.core.delete_namespaced_secret(secret, OPERATOR_NAMESPACE)


def _answers(api: client.ApiClient) -> bool:
    try:
        client.CoreV1Api(api).list_namespace()
    except Exception:
        return False
    return True


@pytest.fixture
def remote(worker: Worker, scenario: Scenario) -> Iterator[Worker]:
    """The worker cluster with the scenario's namespace (the worker chart's jobNamespaces)."""
    worker.core.create_namespace({"metadata": {"name": scenario.namespace}})
    yield worker
    worker.core.delete_namespace(scenario.namespace)
    if worker.restarted:
        worker.restarted = False
        _schedules_again(worker)


def remote_environment(
    scenario: Scenario, worker: Worker, base: str = "far", **resources: Any
) -> str:
    cluster = {"name": worker.name, "kubeconfigSecret": {"name": worker.secret}}
    return scenario.environment(base, spec={"cluster": cluster}, **resources)


def near_and_far(scenario: Scenario, remote: Worker, near_cpus: int) -> tuple[str, str]:
    """A queue over a local environment (first) and one in the worker cluster (8 vCPUs), and
    the scenario's definition: (queue, the remote environment)."""
    near = scenario.environment("near", maxvCpus=near_cpus)
    far = remote_environment(scenario, remote, maxvCpus=8)
    scenario.definition()
    return scenario.queue(environments=(near, far)), far


def far_jobs(
    scenario: Scenario, remote: Worker, prefix: str, count: int, duration: int
) -> tuple[str, list[str]]:
    """Jobs on a queue of the worker cluster's environment only: (environment, names)."""
    far = remote_environment(scenario, remote, maxvCpus=8)
    queue = scenario.queue(environments=(far,))
    scenario.definition()
    sim = {"duration": str(duration)}
    return far, [scenario.job(f"{prefix}{i}", queue, sim=sim) for i in range(count)]


def each_succeeded_once_there(scenario: Scenario, remote: Worker, names: list[str]) -> None:
    """Every job SUCCEEDED, with one attempt and one pod in the worker cluster."""
    outcomes = {n: scenario.wait(n, "SUCCEEDED", "FAILED", timeout=120) for n in names}
    assert {n: s["status"] for n, s in outcomes.items()} == dict.fromkeys(names, "SUCCEEDED")
    for name, status in outcomes.items():
        assert len(status["attempts"]) == 1, (name, status["attempts"])
        assert len(remote.pods(scenario.namespace, name)) == 1, name


def _up(samples: dict[str, float], cluster: str) -> float | None:
    """kubatch_worker_cluster_up of a cluster, scraped (None: not exported)."""
    return samples.get(f'{UP}{{cluster="{cluster}"}}')


def _environment(scenario: Scenario, name: str) -> dict[str, Any]:
    return scenario.get_cluster("computeenvironments", name).get("status") or {}


def _attempts_by_cluster(scenario: Scenario, worker: Worker, job: str) -> tuple[set[Any], set[Any]]:
    """(index, attempt) of every pod of the job in the operator's cluster and in the worker's."""

    def of(pods: list[Any]) -> set[Any]:
        return {
            (
                p.metadata.labels.get("kubatch.io/array-index"),
                p.metadata.labels["kubatch.io/attempt"],
            )
            for p in pods
        }

    return of(scenario.pods(job)), of(worker.pods(scenario.namespace, job))


def test_an_array_spreads_over_a_local_and_a_remote_environment_each_child_once(
    scenario: Scenario, remote: Worker
) -> None:
    queue, far = near_and_far(scenario, remote, near_cpus=4)
    scenario.job("spread", queue, arrayProperties={"size": 12}, sim={"duration": "2"})
    scenario.wait("spread", "SUCCEEDED", timeout=120)
    here, there = _attempts_by_cluster(scenario, remote, "spread")
    assert here, "no child ran in the operator's cluster"
    assert there, "no child ran in the worker cluster"
    assert not here & there, "a child ran in both clusters"
    assert len(here) + len(there) == 12
    assert {i for i, _ in here | there} == {str(i) for i in range(12)}
    # The remote pool grew in the worker cluster (its nodes named there as its own) and, once
    # idle, shrank back to nothing.
    status = _environment(scenario, far)
    assert status.get("status") == "VALID", status
    wait_for(lambda: not remote.pool(far), timeout=60, what="the remote pool to scale in")


def test_a_dependency_crosses_clusters_and_the_status_names_where_each_ran(
    scenario: Scenario, remote: Worker
) -> None:
    near_queue = scenario.queue("near-q", environments=(scenario.environment("near"),))
    far = remote_environment(scenario, remote)
    far_queue = scenario.queue("far-q", environments=(far,))
    scenario.definition()
    first = scenario.job("first", near_queue, sim={"duration": "1"})
    scenario.job("second", far_queue, dependsOn=[{"jobName": first}])
    done = scenario.wait("second", "SUCCEEDED", timeout=90)
    before = scenario.wait(first, "SUCCEEDED", timeout=10)
    assert done["attempts"][-1]["nodeName"].startswith(f"{remote.name}:"), done["attempts"]
    assert not before["attempts"][-1]["nodeName"].startswith(f"{remote.name}:")
    assert done["startedAt"] >= before["stoppedAt"]
    [pod] = remote.pods(scenario.namespace, "second")
    assert not pod.metadata.owner_references, "an owner the worker cluster lacks: collected"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_secret", "does not exist"),
        ("revoked_credentials", "401 Unauthorized"),
    ],
)
def test_a_worker_cluster_that_refuses_makes_its_environment_invalid(
    scenario: Scenario, remote: Worker, case: str, expected: str
) -> None:
    secret = f"bad-{unique()}"
    if case == "revoked_credentials":
        if remote.plane is None:
            pytest.skip("the emulator takes any token: only a real API server refuses one")
        found = yaml.safe_load(Path(remote.kubeconfig).read_text())
        found["users"] = [{"name": "gone", "user": {"token": "revoked-token"}}]
        for context in found["contexts"]:
            context["context"]["user"] = "gone"
        put_secret(scenario.kube, secret, yaml.safe_dump(found))
    cluster = {"name": f"w-{case.replace('_', '-')}", "kubeconfigSecret": {"name": secret}}
    env = scenario.environment("bad", spec={"cluster": cluster})
    queue = scenario.queue(environments=(env,))
    scenario.definition()
    scenario.job("waits", queue)

    def invalid() -> dict[str, Any] | None:
        status = _environment(scenario, env)
        return status if status.get("status") == "INVALID" else None

    status = wait_for(invalid, timeout=30, what="the environment INVALID")
    assert expected in status["statusReason"], status
    scenario.wait("waits", "RUNNABLE", timeout=30)  # waits, placed nowhere
    if case == "revoked_credentials":
        scenario.kube.core.delete_namespaced_secret(secret, OPERATOR_NAMESPACE)


def _start_again(remote: Worker) -> None:
    """Start the worker's API server again; once the test is over, the `remote` fixture
    waits until the worker cluster schedules again (_schedules_again)."""
    assert remote.plane is not None
    remote.plane.start_apiserver()
    remote.restarted = True


def _schedules_again(remote: Worker) -> None:
    """Wait until a worker cluster whose API server was started again schedules again. Its
    scheduler and controllers see changes only once their watches are back, and after a long
    outage client-go's back-off keeps them blind for up to two minutes (seen: a node created
    100 s after the restart unknown to the scheduler): a pod pinned to a new node is bound
    only then. The next test starts with a cluster that schedules; this one's own checks are
    not delayed (its jobs' nodes would scale in meanwhile, and their pods go with them)."""
    name = f"settle-{unique()}"
    shape = NodeShape(name="m5.large", vcpus=2, memory=8 << 30, gpus=0, pods=110)
    core = remote.core
    core.create_node(node_manifest(name, shape, {}, ()))
    toleration = {"key": KWOK_KEY, "operator": "Exists", "effect": "NoSchedule"}
    pod = {
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": name},
            "tolerations": [toleration],
            "containers": [{"name": "main", "image": "busybox"}],
        },
    }
    core.create_namespaced_pod(WORKER_NAMESPACE, pod)
    try:
        wait_for(
            lambda: core.read_namespaced_pod(name, WORKER_NAMESPACE).spec.node_name,
            timeout=240,
            what="the worker cluster to schedule again",
        )
    finally:
        core.delete_namespaced_pod(name, WORKER_NAMESPACE, grace_period_seconds=0)
        core.delete_node(name)


def test_a_worker_api_server_stopped_mid_run_loses_nothing_and_repeats_nothing(
    scenario: Scenario, remote: Worker
) -> None:
    if remote.plane is None:
        pytest.skip("the emulator keeps its objects in memory: a restart would lose them")
    far, names = far_jobs(scenario, remote, "j", 8, duration=4)
    wait_for(
        lambda: any(scenario.status(n).get("status") == "RUNNING" for n in names),
        timeout=60,
        what="a job running in the worker cluster",
    )
    remote.plane.stop_apiserver()
    try:
        wait_for(
            lambda: _environment(scenario, far).get("status") == "INVALID",
            timeout=30,
            what="the environment INVALID while its cluster does not answer",
        )
        reason = _environment(scenario, far)["statusReason"]
        assert "does not answer" in reason, reason
        port = scenario.system.operator.metrics_port
        scrape_until(port, lambda s: _up(s, remote.name) == 0)
    finally:
        _start_again(remote)
    each_succeeded_once_there(scenario, remote, names)
    wait_for(
        lambda: _environment(scenario, far).get("status") == "VALID",
        timeout=30,
        what="the environment VALID again once its cluster answers",
    )
    port = scenario.system.operator.metrics_port
    scrape_until(port, lambda s: _up(s, remote.name) == 1)


def test_attempts_in_a_worker_cluster_silent_too_long_are_judged_lost_and_retried(
    scenario: Scenario, remote: Worker
) -> None:
    """Past KUBATCH_CLUSTER_LOST_AFTER_SECONDS (45 s here) without an answer, the attempts
    running there end as a lost host's, and are retried as their strategy allows; when the
    cluster answers again, the old attempts' pods are stopped there."""
    if remote.plane is None:
        pytest.skip("the emulator keeps its objects in memory: a restart would lose them")
    far = remote_environment(scenario, remote, maxvCpus=8)
    queue = scenario.queue(environments=(far,))
    scenario.definition(retryStrategy={"attempts": 2})
    name = scenario.job("long", queue, sim={"duration": "300"})
    scenario.wait(name, "RUNNING", timeout=60)
    remote.plane.stop_apiserver()
    try:

        def retried() -> dict[str, Any] | None:
            status = scenario.status(name)
            attempts = status.get("attempts") or []
            return status if attempts and attempts[0].get("statusReason") else None

        status = wait_for(retried, timeout=90, what="the lost attempt ended")
        assert status["attempts"][0]["statusReason"].startswith("Host EC2"), status["attempts"]
        assert status["status"] in ("RUNNABLE", "STARTING"), status
    finally:
        _start_again(remote)
    scenario.wait(name, "RUNNING", timeout=90)  # its second attempt, there again

    def old_pod_stopped() -> bool:
        pods = {
            p.metadata.labels["kubatch.io/attempt"]: p
            for p in remote.pods(scenario.namespace, name)
        }
        first = pods.get("1")
        return (
            first is None
            or first.metadata.deletion_timestamp is not None
            or (first.status.phase in ("Succeeded", "Failed"))
        )

    wait_for(old_pod_stopped, timeout=60, what="the lost attempt's pod stopped there")
    scenario.patch(name, {"terminate": {"reason": "done"}})


def merged_kubeconfig(management: Path, worker: Path, name: str, target: Path) -> Path:
    """The user's kubeconfig: the management cluster's (current) and a context named as the
    worker cluster."""
    mine = yaml.safe_load(management.read_text())
    theirs = yaml.safe_load(worker.read_text())
    current = next(c for c in theirs["contexts"] if c["name"] == theirs["current-context"])
    cluster = next(c for c in theirs["clusters"] if c["name"] == current["context"]["cluster"])
    user = next(u for u in theirs["users"] if u["name"] == current["context"]["user"])
    mine["clusters"].append({**cluster, "name": "worker-cluster"})
    mine["users"].append({**user, "name": "worker-user"})
    mine["contexts"].append(
        {"name": name, "context": {"cluster": "worker-cluster", "user": "worker-user"}}
    )
    target.write_text(yaml.safe_dump(mine))
    return target


def test_a_running_attempt_in_a_worker_cluster_is_shown_and_its_log_read_there(
    scenario: Scenario, remote: Worker, tmp_path: Path, consoles: Consoles, endpoint: str
) -> None:
    far = remote_environment(scenario, remote)
    queue = scenario.queue(environments=(far,))
    scenario.definition()
    scenario.job("runs", queue, sim={"duration": "120"})
    scenario.job("kids", queue, arrayProperties={"size": 2}, sim={"duration": "120"})
    scenario.wait("runs", "RUNNING", timeout=60)
    wait_for(
        lambda: (
            scenario.status("kids")
            .get("arrayProperties", {})
            .get("statusSummary", {})
            .get("RUNNING")
            == 2
        ),
        timeout=60,
        what="both children running",
    )

    def shown(path: str) -> str | None:  # the console's rows: from the status (no pod here)
        answer = get(f"{consoles.url}/jobs/{scenario.namespace}/{path}")
        assert answer.status == 200, answer.text
        return answer.text if f"{remote.name}:" in answer.text else None

    page = wait_for(lambda: shown("runs"), timeout=30, what="where the attempt runs shown")
    assert "runs-" in page
    child = wait_for(lambda: shown("kids?index=1"), timeout=30, what="where the child runs shown")
    section = child.split('<h2 id="child">', 1)[1].split('<h2 id="attempts">', 1)[0]
    assert 'aria-label="log of attempt 1, index 1"' in section, "child 1's attempts: its row"
    log = get(f"{consoles.url}/jobs/{scenario.namespace}/kids/logs?attempt=1&index=1")
    assert f"runs in worker cluster {remote.name}: its log is kept here once it ends" in log.text
    key = add_key(scenario.kube, scenario.namespace, admin=False)
    aws_logs = aws_client(endpoint, key, service="logs")
    stream = scenario.status("runs")["attempts"][0]["podName"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        aws_logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)
    error = refused.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert f"its attempt runs in worker cluster {remote.name}" in error["Message"]

    def logs(kubeconfig: Path, *args: str) -> Result:
        base = ["--kubeconfig", str(kubeconfig), "-n", scenario.namespace, "logs", "runs"]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    without = logs(scenario.kube.kubeconfig)
    assert without.exit_code == 1, without.output
    assert f"runs in worker cluster {remote.name}" in without.output
    assert f"--worker-context {remote.name}=CONTEXT" in without.output
    merged = merged_kubeconfig(
        scenario.kube.kubeconfig, remote.kubeconfig, remote.name, tmp_path / "kubeconfig"
    )
    found = wait_for(
        lambda: (r := logs(merged)).exit_code == 0 and "$ echo hello" in r.output and r,
        timeout=30,
        what="the attempt's log read from the worker cluster",
    )
    assert found
    renamed = logs(merged, "--worker-context", f"{remote.name}=nowhere")
    assert renamed.exit_code == 1
    assert "no usable context 'nowhere'" in renamed.output
    scenario.patch("runs", {"terminate": {"reason": "read"}})
    scenario.patch("kids", {"terminate": {"reason": "read"}})


def test_an_operator_killed_mid_run_adopts_the_worker_clusters_pods_and_repeats_none(
    scenario: Scenario, remote: Worker
) -> None:
    queue, _ = near_and_far(scenario, remote, near_cpus=2)
    names = [scenario.job(f"k{i}", queue, sim={"duration": "3"}) for i in range(10)]
    scenario.job("arr", queue, arrayProperties={"size": 6}, sim={"duration": "2"})
    wait_for(
        lambda: any(p for n in names for p in remote.pods(scenario.namespace, n)),
        timeout=60,
        what="an attempt in the worker cluster",
    )
    operator = scenario.system.operator
    starts = operator.starts
    operator.kill()
    wait_for(lambda: operator.starts > starts, timeout=30, what="the operator started again")
    outcomes = {n: scenario.wait(n, "SUCCEEDED", timeout=120) for n in [*names, "arr"]}
    for name in names:
        assert len(outcomes[name]["attempts"]) == 1, (name, outcomes[name]["attempts"])
        made = len(scenario.pods(name)) + len(remote.pods(scenario.namespace, name))
        assert made == 1, (name, made)
    here, there = _attempts_by_cluster(scenario, remote, "arr")
    assert not here & there
    assert {i for i, _ in here | there} == {str(i) for i in range(6)}
    assert len(here) + len(there) == 6


def test_a_job_deleted_while_the_operator_is_down_has_its_pod_there_deleted_and_no_other(
    scenario: Scenario, remote: Worker
) -> None:
    """No owner collects a pod in a worker cluster. A job deleted while the operator runs has
    its pods there deleted by it; one deleted while it was down, at its start: its pods say
    which cluster's operator made them (the kube-system namespace's uid), and an operator
    deletes only its own (a worker cluster may serve two management clusters)."""
    ns = scenario.namespace
    _, (name,) = far_jobs(scenario, remote, "gone", 1, duration=300)
    wait_for(
        lambda: [p for p in remote.pods(ns, name) if p.status.phase == "Running"],
        timeout=90,
        what="its attempt running in the worker cluster",
    )
    (pod,) = remote.pods(ns, name)
    here = scenario.kube.core.read_namespace("kube-system").metadata.uid
    assert pod.metadata.labels["kubatch.io/origin-cluster"] == here
    labels = {
        "kubatch.io/job-name": "elsewhere",
        "kubatch.io/job-uid": "a-job-of-another-management-cluster",
        "kubatch.io/origin-cluster": "another-management-cluster",
    }
    foreign = {
        "metadata": {"name": "elsewhere-1", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    remote.core.create_namespaced_pod(ns, foreign)
    operator = scenario.system.operator
    operator.stop()
    scenario.kube.custom.delete_namespaced_custom_object(G, V, ns, "batchjobs", name)
    wait_for(
        lambda: (
            not scenario.kube.custom.list_namespaced_custom_object(
                G, V, ns, "batchjobs", field_selector=f"metadata.name={name}"
            )["items"]
        ),
        what="the job deleted",
    )
    operator.start()
    wait_for(lambda: not remote.pods(ns, name), timeout=60, what="its pod deleted there")
    assert [p.metadata.name for p in remote.pods(ns, "elsewhere")] == ["elsewhere-1"]


def test_a_multi_node_job_runs_in_a_worker_cluster_with_its_service_there(
    scenario: Scenario, remote: Worker
) -> None:
    from tests.integration.test_multinode import WORKERS_RUN, multinode

    far = remote_environment(scenario, remote)
    queue = scenario.queue(environments=(far,))
    multinode(scenario, distinctNodes=True)
    scenario.job("train", queue, definition="mnp", sim={**WORKERS_RUN, "durations-by-index": "0=3"})
    status = scenario.wait("train", "SUCCEEDED", timeout=120)
    assert status["nodeProperties"]["nodes"][0]["status"] == "SUCCEEDED"
    pods = remote.pods(scenario.namespace, "train")
    assert sorted(int(p.metadata.labels["kubatch.io/node-index"]) for p in pods) == [0, 1, 2, 3]
    assert not scenario.pods("train")
    uid = scenario.get("train")["metadata"]["uid"]
    service = f"kubatch-{uid.replace('-', '')[:12]}"
    headless = remote.core.read_namespaced_service(service, scenario.namespace)
    assert headless.spec.cluster_ip == "None"


def test_an_operator_started_while_a_worker_cluster_is_silent_leaves_its_attempts_until_it_answers(
    scenario: Scenario, remote: Worker
) -> None:
    """Its pods cannot be listed at start: its attempts are neither placed again nor judged
    gone until they can be (then each is found, and none runs twice)."""
    if remote.plane is None:
        pytest.skip("the emulator keeps its objects in memory: a restart would lose them")
    far, names = far_jobs(scenario, remote, "s", 6, duration=6)
    wait_for(
        lambda: all(remote.pods(scenario.namespace, n) for n in names),
        timeout=60,
        what="every job's pod in the worker cluster",
    )
    system = scenario.system
    system.stop_operator()
    remote.plane.stop_apiserver()
    try:
        system.start_operator()
        wait_for(
            lambda: "could not be listed at start" in system.operator.log.read_text(),
            timeout=60,
            what="the operator started without the worker cluster",
        )
        wait_for(
            lambda: _environment(scenario, far).get("status") == "INVALID",
            timeout=30,
            what="the environment INVALID",
        )
    finally:
        _start_again(remote)
    each_succeeded_once_there(scenario, remote, names)
