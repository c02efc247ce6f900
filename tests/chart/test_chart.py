"""The Helm chart, checked with a real helm binary: lint, render with several value sets,
validate every rendered manifest against the Kubernetes schemas, and RBAC against the code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kubatch import metrics
from tests.support.api_usage import UNKNOWN, Use, kubelet_uses, operator_uses
from tests.support.cluster import HELM

ROOT = Path(__file__).parents[2]
CHART = ROOT / "helm" / "kubatch"
KUBERNETES_VERSION = "1.30"

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "everything_on": [
        "simulatedNodes.enabled=true",
        "awsApi.enabled=true",
        "console.enabled=true",
        "console.actions=rbac",
        "metrics.serviceMonitor.enabled=true",
        "dashboard.enabled=true",
        "replicaCount=2",
        "operator.logLevel=debug",
    ],
    "watch_some_namespaces": ["operator.watchNamespaces={team-a,team-b}", "operator.writeQps=20"],
    "no_rbac_existing_account": [
        "rbac.create=false",
        "serviceAccount.create=false",
        "serviceAccount.name=batch-operator",
    ],
    "metrics_off": ["metrics.enabled=false"],
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "run `make tools` (make test does) to fetch helm"
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(values: list[str]) -> list[dict[str, Any]]:
    args = ["template", "kubatch", str(CHART), "--namespace", "kubatch-system", "--include-crds"]
    for value in values:
        args += ["--set", value]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_helm_lint_strict() -> None:
    done = helm("lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_manifest_is_valid_kubernetes(name: str) -> None:
    documents = render(VALUE_SETS[name])
    assert documents
    for doc in documents:
        if doc["kind"] == "ServiceMonitor":  # a Prometheus Operator CRD: not in the schemas
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_chart_ships_the_generated_crds() -> None:
    kinds = {
        d["spec"]["names"]["kind"] for d in render([]) if d["kind"] == "CustomResourceDefinition"
    }
    assert kinds == {
        "ComputeEnvironment",
        "JobQueue",
        "JobDefinition",
        "BatchJob",
        "SchedulingPolicy",
        "ScheduledJob",
        "ConsumableResource",
    }
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        assert (CHART / "crds" / path.name).read_text() == path.read_text(), "run `make crds`"


def _workload(documents: list[dict[str, Any]], component: str) -> dict[str, Any]:
    (found,) = [
        d
        for d in documents
        if d["kind"] == "Deployment"
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return found


@pytest.mark.parametrize("component", ["operator", "simulated-kubelet", "aws-api", "console"])
def test_workloads_run_locked_down(component: str) -> None:
    deployment = _workload(render(VALUE_SETS["everything_on"]), component)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]


def test_operator_probes_use_kopfs_health_endpoint() -> None:
    container = _workload(render([]), "operator")["spec"]["template"]["spec"]["containers"][0]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_values_reach_the_operator() -> None:
    container = _workload(render(VALUE_SETS["watch_some_namespaces"]), "operator")["spec"][
        "template"
    ]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBATCH_WRITE_QPS"] == "20"
    assert "--namespace=team-a" in container["args"]
    assert "--namespace=team-b" in container["args"]


@pytest.mark.parametrize(
    "bad",
    [
        "replicaCount=0",
        "operator.logLevel=loud",
        "metrics.port=70000",
        "unknownKey=1",
        "awsApi.account=12",
        "console.actions=delete",
        "console.userHeader=X User",
    ],
)
def test_values_schema_refuses_bad_values(bad: str) -> None:
    done = helm("template", "kubatch", str(CHART), "--set", bad)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr


# -- RBAC ----------------------------------------------------------------------------------


def _rules(documents: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for doc in documents:
        if doc["kind"] in ("ClusterRole", "Role") and doc["metadata"]["name"] in names:
            rules += doc["rules"]
    return rules


def _grants(rules: list[dict[str, Any]], use: Use) -> bool:
    return any(
        (use.group == UNKNOWN or use.group in rule["apiGroups"])
        and use.resource in rule["resources"]
        and use.verb in rule["verbs"]
        for rule in rules
    )


def test_no_wildcards_in_any_rbac_rule() -> None:
    for doc in render(VALUE_SETS["everything_on"]):
        for rule in doc.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(key, []), (doc["metadata"]["name"], rule)


@pytest.mark.parametrize(
    ("roles", "used"),
    [
        (("kubatch", "kubatch-leader-election"), operator_uses),
        (("kubatch-simulated-kubelet",), kubelet_uses),
    ],
    ids=["operator", "simulated_kubelet"],
)
def test_rbac_grants_exactly_what_the_code_uses(roles: tuple[str, ...], used: Any) -> None:
    rules = _rules(render(VALUE_SETS["everything_on"]), *roles)
    uses = used()
    assert uses, "the code scan found no API use"
    missing = sorted(
        f"{u.verb} {u.group}/{u.resource} ({u.where})" for u in uses if not _grants(rules, u)
    )
    assert not missing, "the code uses what RBAC does not allow"
    unused = [
        f"{verb} {group}/{resource}"
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if not any(
            u.resource == resource and u.verb == verb and u.group in (group, UNKNOWN) for u in uses
        )
    ]
    assert not unused, "RBAC allows what the code never does"


@pytest.mark.parametrize(
    ("actions", "patches", "reviews"),
    [("none", False, False), ("all", True, False), ("rbac", True, True)],
)
def test_the_console_may_write_only_what_its_actions_need(
    actions: str, patches: bool, reviews: bool
) -> None:
    documents = render(["console.enabled=true", f"console.actions={actions}"])
    rules = _rules(documents, "kubatch-console")
    assert _grants(rules, Use("kubatch.io", "batchjobs", "list", "console"))
    assert _grants(rules, Use("", "pods/log", "get", "console"))
    assert _grants(rules, Use("kubatch.io", "batchjobs", "patch", "console")) is patches
    review = Use("authorization.k8s.io", "subjectaccessreviews", "create", "console")
    assert _grants(rules, review) is reviews
    for verb in ("create", "update", "delete"):
        assert not _grants(rules, Use("kubatch.io", "batchjobs", verb, "console"))
    args = _workload(documents, "console")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--actions={actions}" in args


# -- the dashboard ---------------------------------------------------------------------------


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    expressions += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return {m for expr in expressions for m in re.findall(r"\bkubatch_[a-z_]+", expr)}


def test_every_metric_the_dashboard_queries_exists() -> None:
    exported = set()
    for family in metrics.REGISTRY.collect():
        exported |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "histogram":
            exported |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        if family.type == "counter":
            exported.add(f"{family.name}_total")
    queried = _dashboard_metrics()
    assert queried
    assert queried <= exported, sorted(queried - exported)


def test_the_dashboard_shows_the_four_views() -> None:
    queried = _dashboard_metrics()
    assert {
        "kubatch_jobs",
        "kubatch_job_wait_seconds_bucket",
        "kubatch_jobs_finished_total",
        "kubatch_compute_environment_vcpus",
    } <= queried


@pytest.mark.parametrize(
    ("values", "provider"),
    [
        ([], "unmanaged"),
        (["simulatedNodes.enabled=true"], "simulated"),
        (["operator.defaultProvider=cluster-api"], "cluster-api"),
    ],
    ids=["real_cluster", "simulated_nodes", "named"],
)
def test_the_default_provider_follows_simulated_nodes(values: list[str], provider: str) -> None:
    """No fake nodes on a real cluster unless asked for."""
    container = _workload(render(values), "operator")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBATCH_DEFAULT_PROVIDER"] == provider


# -- the worker chart (helm/kubatch-worker): what a worker cluster grants the operator -------

WORKER_CHART = ROOT / "helm" / "kubatch-worker"
WORKER_GRANTS = {
    # (resource, verb): why the operator needs it in a worker cluster
    ("pods", "list"): "every pod holds capacity on its node",
    ("pods", "watch"): "every pod holds capacity on its node",
    ("pods", "create"): "an attempt's pod",
    ("pods", "delete"): "a stopped attempt",
    ("pods", "patch"): "a lowered deadline (timeout, terminate), a multi-node gate opened",
    ("pods/log", "get"): "an ended attempt's log, kept beside its job",
    ("nodes", "list"): "the pool's capacity, and whether the cluster answers",
    ("nodes", "watch"): "the pool's capacity",
    ("services", "create"): "a multi-node job's headless Service",
}


def _worker(values: list[str]) -> list[dict[str, Any]]:
    args = ["template", "kubatch-worker", str(WORKER_CHART), "--namespace", "kubatch-worker"]
    for value in values:
        args += ["--set", value]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_worker_chart_lints() -> None:
    done = helm("lint", str(WORKER_CHART), "--set", "jobNamespaces={team-a,team-b}")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("values", "more"),
    [
        ([], set()),
        (["nodes.manage=true"], {("", "nodes", v) for v in ("get", "create", "delete")}),
        (
            ["clusterApi=true"],
            {
                ("", "nodes", "get"),
                ("cluster.x-k8s.io", "machinedeployments/scale", "patch"),
                ("cluster.x-k8s.io", "machines", "patch"),
            },
        ),
    ],
    ids=["read_only_nodes", "simulated_nodes", "cluster_api"],
)
def test_the_worker_chart_grants_the_least_the_operator_does_there(
    values: list[str], more: set[tuple[str, str, str]]
) -> None:
    documents = _worker(values)
    granted = _granted(_rules(documents, "kubatch-worker"))
    assert granted == {("", r, v) for r, v in WORKER_GRANTS} | more
    # Nothing the operator does not do: each grant is a use the code scan finds.
    uses = operator_uses()
    for group, resource, verb in granted:
        assert _grants(
            [{"apiGroups": [group], "resources": [resource], "verbs": [verb]}],
            next(
                (u for u in uses if u.resource == resource and u.verb == verb),
                Use(group, resource, "never", "nowhere"),
            ),
        ), f"{verb} {group}/{resource} is granted but the operator never does it"


def test_the_worker_chart_makes_the_job_namespaces() -> None:
    documents = _worker(["jobNamespaces={team-a,team-b}"])
    names = {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"}
    assert names == {"team-a", "team-b"}
    assert not [d for d in documents if d["kind"] == "Secret"]
    token = _worker(["serviceAccount.longLivedToken=true"])
    [secret] = [d for d in token if d["kind"] == "Secret"]
    assert secret["type"] == "kubernetes.io/service-account-token"
