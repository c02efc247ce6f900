"""The chart on a real API server: `helm install`, `helm upgrade` and `helm uninstall` with a
real helm on the real control plane; in between, the operator and the simulated kubelet run
as the chart's ServiceAccounts (tokens from the TokenRequest API) and take a job, an array
and a managed environment's scale-up to their end. RBAC is judged by the real authorizer.

The processes run outside the cluster (there is no kubelet to run the chart's pods), with
the environment the chart's Deployment gives its container."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from kubernetes import client, config

from kubatch.sim.controlplane import (
    ControlPlane,
    assets_from_environment,
    control_plane,
    kubeconfig,
)
from kubatch.sim.stack import Operator, start_aws_api, start_console, start_kubelet
from tests.support.cluster import HELM, read_or_none, wait_for

ROOT = Path(__file__).parents[2]
CHART = ROOT / "helm" / "kubatch"
NAMESPACE = "kubatch-system"
RELEASE = "kubatch"
G, V = "kubatch.io", "v1alpha1"

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBEBUILDER_ASSETS"),
    reason="needs a real control plane: KUBEBUILDER_ASSETS (make test prepares it)",
)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    assets = assets_from_environment()
    assert assets is not None
    with control_plane(assets, tmp_path_factory.mktemp("chart-plane")) as found:
        yield found


def helm(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "run `make tools` (make test does) to fetch helm"
    done = subprocess.run(
        [str(HELM), "--kubeconfig", str(plane.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def _manifest(plane: ControlPlane) -> list[dict[str, Any]]:
    done = helm(plane, "get", "manifest", RELEASE, "-n", NAMESPACE)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _container(documents: list[dict[str, Any]], component: str) -> dict[str, Any]:
    """The container of a component's Deployment, as the chart renders it."""
    (deployment,) = [
        d
        for d in documents
        if d["kind"] == "Deployment"
        and d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


def _container_env(documents: list[dict[str, Any]], component: str) -> dict[str, str]:
    """The plain-value environment the chart gives a component's container."""
    container = _container(documents, component)
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _argument(documents: list[dict[str, Any]], component: str, option: str) -> str:
    """The value the chart gives a component's `--option=value` argument."""
    args = _container(documents, component)["args"]
    return str(next(a.split("=", 1)[1] for a in args if a.startswith(f"--{option}=")))


def _account_kubeconfig(plane: ControlPlane, api: client.ApiClient, account: str) -> Path:
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        account, NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    )
    return kubeconfig(
        plane.workdir / f"{account}.kubeconfig",
        plane.server,
        plane.certificates.ca,
        token=token.status.token,
        user=account,
        namespace=NAMESPACE,
    )


def _apply(api: client.ApiClient, namespace: str, kind: str, body: dict[str, Any]) -> None:
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{G}/{V}", "kind": kind, **body}
    plural = kind.lower() + "s" if kind != "JobQueue" else "jobqueues"
    if kind in ("JobDefinition", "BatchJob"):
        custom.create_namespaced_custom_object(G, V, namespace, plural, body)
    else:
        custom.create_cluster_custom_object(G, V, plural, body)


def _job_status(api: client.ApiClient, namespace: str, name: str) -> str | None:
    job = client.CustomObjectsApi(api).get_namespaced_custom_object(
        G, V, namespace, "batchjobs", name
    )
    status: str | None = (job.get("status") or {}).get("status")
    return status


def _drive_the_aws_api(
    stack: ExitStack,
    plane: ControlPlane,
    api: client.ApiClient,
    account: str,
    documents: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """The AWS Batch API run as the chart's aws-api ServiceAccount, with the arguments its
    Deployment gives: every operation below is judged by the real authorizer."""
    secret = _argument(documents, "aws-api", "credentials-secret")
    key_id, secret_key = "AKIACHARTINSTALL0001", "chart-install-secret-key-0001"
    client.CoreV1Api(api).create_namespaced_secret(
        NAMESPACE,
        {
            "metadata": {"name": secret.split("/")[1]},
            "stringData": {
                "credentials.yaml": yaml.safe_dump(
                    [
                        {
                            "accessKeyId": key_id,
                            "secretAccessKey": secret_key,
                            "namespace": "team",
                            "admin": True,
                        }
                    ]
                )
            },
        },
    )
    workdir = tmp_path / "aws-api"
    workdir.mkdir()
    endpoint = start_aws_api(stack, workdir, _account_kubeconfig(plane, api, account), secret)
    batch = boto3.client(
        "batch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
    )
    batch.create_scheduling_policy(name="chart_policy", fairsharePolicy={"shareDecaySeconds": 60})
    batch.update_job_queue(jobQueue="chart-q", priority=5)
    batch.tag_resource(
        resourceArn=batch.describe_job_queues(jobQueues=["chart-q"])["jobQueues"][0]["jobQueueArn"],
        tags={"owner": "chart"},
    )
    batch.register_job_definition(
        jobDefinitionName="aws_hello",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 256},
    )
    job = batch.submit_job(jobName="from_boto3", jobQueue="chart-q", jobDefinition="aws_hello")
    wait_for(
        lambda: batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] == "SUCCEEDED",
        timeout=120,
        what="the job submitted through the AWS API to succeed",
    )
    batch.terminate_job(jobId=job["jobId"], reason="already done: nothing to stop")
    batch.delete_scheduling_policy(
        arn=batch.list_scheduling_policies()["schedulingPolicies"][0]["arn"]
    )
    log = (workdir / "aws-api.log").read_text()
    assert "forbidden" not in log.lower(), log[-3000:]
    assert " 403" not in log, log[-3000:]


def _console_answer(
    url: str, form: dict[str, str] | None = None, user: str | None = None
) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {"X-Forwarded-User": user, "X-Forwarded-Groups": "team-members"} if user else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _drive_the_console(
    stack: ExitStack,
    plane: ControlPlane,
    api: client.ApiClient,
    account: str,
    documents: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """The web console run as the chart's console ServiceAccount with its Deployment's
    actions (rbac): every page reads with that account's rights, and a cancel goes through
    only for a user whom the real authorizer lets patch the job."""
    actions = _argument(documents, "console", "actions")
    assert actions == "rbac"
    workdir = tmp_path / "console"
    workdir.mkdir()
    url = start_console(stack, workdir, _account_kubeconfig(plane, api, account), actions=actions)
    for path, shows in (
        ("/", "chart-q"),
        ("/jobs?namespace=team", 'data-job="team/single"'),
        ("/jobs/team/single", "SUCCEEDED"),
        ("/jobs/team/array?index=2", "Child 2 is"),
        ("/jobs/team/single/logs", "$ echo hello"),
        ("/definitions?namespace=team", "team/hello"),
        ("/scheduled", "Scheduled jobs"),
    ):

        def shown(path: str = path, shows: str = shows) -> tuple[int, str] | None:
            answer = _console_answer(url + path)
            return answer if shows in answer[1] else None

        status, text = wait_for(shown, timeout=30, what=f"the console's {path} to show {shows!r}")
        assert status == 200, text
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        "team",
        {
            "metadata": {"name": "stop-jobs"},
            "rules": [{"apiGroups": [G], "resources": ["batchjobs"], "verbs": ["patch"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        "team",
        {
            "metadata": {"name": "alice-stops-jobs"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "stop-jobs",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
            ],
        },
    )
    _apply(
        api,
        "team",
        "BatchJob",
        {
            "metadata": {"name": "held"},
            "spec": {
                "jobQueue": "chart-q",
                "jobDefinition": "hello",
                "dependsOn": [{"jobName": "not-there"}],
            },
        },
    )
    wait_for(lambda: _job_status(api, "team", "held") == "PENDING", what="held to be PENDING")

    def cancel_offered() -> str | None:
        text = _console_answer(url + "/jobs/team/held")[1]
        return text if "Cancel job" in text else None

    page = wait_for(cancel_offered, what="the console to offer a cancel")
    token = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert token is not None
    form = {"reason": "from the console", "token": token.group(1)}
    cancel = url + "/jobs/team/held/cancel"
    assert _console_answer(cancel, form)[0] == 401, "no user named: refused"
    status, text = _console_answer(cancel, form, user="mallory")
    assert status == 403, text
    assert "mallory may not stop jobs in namespace team" in text, text
    assert _job_status(api, "team", "held") == "PENDING"
    status, text = _console_answer(cancel, form, user="alice")
    assert status == 200, text
    assert "Cancel requested" in text, text
    wait_for(lambda: _job_status(api, "team", "held") == "FAILED", what="held to be cancelled")
    log = (workdir / "console.log").read_text()
    assert "forbidden" not in log.lower(), log[-3000:]


def test_install_run_upgrade_uninstall(plane: ControlPlane, tmp_path: Path) -> None:
    installed = helm(
        plane,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--set",
        "simulatedNodes.enabled=true",
        "--set",
        "operator.scaleInAfterSeconds=5",
        "--set",
        "awsApi.enabled=true",
        "--set",
        "console.enabled=true",
        "--set",
        "console.actions=rbac",
    )
    notes = installed.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -f examples/" in notes
    assert "https://" not in notes, "kubectl cannot apply a directory URL"
    api = config.new_client_from_config(str(plane.kubeconfig))
    core = client.CoreV1Api(api)
    documents = _manifest(plane)
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert {c.spec.names.kind for c in crds} >= {"BatchJob", "ComputeEnvironment", "JobQueue"}

    operator_account = f"{RELEASE}"
    kubelet_account = f"{RELEASE}-simulated-kubelet"
    aws_account = f"{RELEASE}-aws-api"
    console_account = f"{RELEASE}-console"
    for account in (operator_account, kubelet_account, aws_account, console_account):
        wait_for(
            lambda account=account: read_or_none(  # type: ignore[misc]
                core.read_namespaced_service_account, account, NAMESPACE
            ),
            what=f"ServiceAccount {account}",
        )
    env = _container_env(documents, "operator")
    assert env["KUBATCH_SCALE_IN_AFTER_SECONDS"] == "5"
    with ExitStack() as stack:
        start_kubelet(stack, tmp_path, _account_kubeconfig(plane, api, kubelet_account), bind=False)
        operator = Operator(
            kubeconfig=_account_kubeconfig(plane, api, operator_account),
            workdir=tmp_path,
            env={**env, "KUBATCH_NAMESPACE": NAMESPACE, "KUBATCH_LEASE_SECONDS": "3"},
        )
        operator.start()
        stack.callback(operator.stop)
        core.create_namespace({"metadata": {"name": "team"}})
        _apply(
            api,
            "team",
            "ComputeEnvironment",
            {
                "metadata": {"name": "chart-ce"},
                "spec": {"computeResources": {"maxvCpus": 8, "instanceTypes": ["m5.xlarge"]}},
            },
        )
        _apply(
            api,
            "team",
            "JobQueue",
            {
                "metadata": {"name": "chart-q"},
                "spec": {
                    "priority": 1,
                    "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "chart-ce"}],
                },
            },
        )
        _apply(
            api,
            "team",
            "JobDefinition",
            {
                "metadata": {"name": "hello"},
                "spec": {
                    "containerProperties": {
                        "image": "busybox",
                        "command": ["echo", "hello"],
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "1"},
                            {"type": "MEMORY", "value": "512"},
                        ],
                    }
                },
            },
        )
        for name, extra in (("single", {}), ("array", {"arrayProperties": {"size": 3}})):
            _apply(
                api,
                "team",
                "BatchJob",
                {
                    "metadata": {"name": name, "annotations": {"sim.kubatch.io/duration": "1"}},
                    "spec": {"jobQueue": "chart-q", "jobDefinition": "hello", **extra},
                },
            )
        for name in ("single", "array"):
            wait_for(
                lambda name=name: _job_status(api, "team", name) in ("SUCCEEDED", "FAILED"),  # type: ignore[misc]
                timeout=120,
                what=f"job {name} to finish",
            )
            assert _job_status(api, "team", name) == "SUCCEEDED", operator.log.read_text()[-3000:]
        nodes = core.list_node(label_selector="kubatch.io/compute-environment=chart-ce").items
        assert nodes, "the managed environment did not scale up"
        log = operator.log.read_text()
        assert "forbidden" not in log.lower(), log[-3000:]
        assert "403" not in log, log[-3000:]
        _drive_the_aws_api(stack, plane, api, aws_account, documents, tmp_path)
        _drive_the_console(stack, plane, api, console_account, documents, tmp_path)

    helm(plane, "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--set", "operator.writeQps=20")
    assert _container_env(_manifest(plane), "operator")["KUBATCH_WRITE_QPS"] == "20"
    helm(plane, "uninstall", RELEASE, "-n", NAMESPACE)
    rbac = client.RbacAuthorizationV1Api(api)
    wait_for(
        lambda: read_or_none(rbac.read_cluster_role, RELEASE) is None,
        what="the ClusterRole to be gone",
    )
    assert read_or_none(core.read_namespaced_service_account, RELEASE, NAMESPACE) is None
