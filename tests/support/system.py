"""Kubatch running for integration tests: the operator and the simulated kubelet as real
processes against the test cluster, and helpers to drive it the way a user would."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.rest import ApiException

from kubatch.sim.stack import Operator, start_kubelet

from .cluster import REAL_NODE_LABELS, Cluster, wait_for
from .containers import Program

G, V = "kubatch.io", "v1alpha1"
PLURALS = {
    "ComputeEnvironment": "computeenvironments",
    "JobQueue": "jobqueues",
    "JobDefinition": "jobdefinitions",
    "BatchJob": "batchjobs",
    "SchedulingPolicy": "schedulingpolicies",
    "ScheduledJob": "scheduledjobs",
}
NAMESPACED = {"JobDefinition", "BatchJob", "ScheduledJob"}


@dataclass
class System:
    cluster: Cluster
    operator: Operator
    stack: ExitStack = field(default_factory=ExitStack)

    def start_operator(self) -> None:
        self.operator.start()

    def stop_operator(self) -> None:
        self.operator.stop()

    def close(self) -> None:
        self.operator.stop()
        self.stack.close()


OPERATOR_ENV = {
    "KUBATCH_WRITE_QPS": "1000",
    "KUBATCH_WRITE_BURST": "2000",
    "KUBATCH_SCALE_IN_AFTER_SECONDS": "3",
    "KUBATCH_LEASE_SECONDS": "3",
    # Worker clusters: asked every second; attempts there judged lost after 45 s of silence
    # (tests/integration/test_worker_clusters.py stops one for less, and for more).
    "KUBATCH_CLUSTER_PROBE_SECONDS": "1",
    "KUBATCH_CLUSTER_LOST_AFTER_SECONDS": "45",
}


# Node heartbeats more often than a real kubelet's 10 s, so that a test sees a few quickly.
KUBELET_LEASE_SECONDS = 2.0
# Unchanged node statuses reported more often than a real kubelet's 5 min, so that a taint the
# node lifecycle controller failed to lift (it does not try again) is lifted within a test's
# wait, not after it.
KUBELET_STATUS_REPORT_SECONDS = 10.0

EXAMPLE_PROVIDER = Path(__file__).parents[2] / "examples" / "provider"


def install_example_provider(site: Path) -> Path:
    """Install examples/provider into `site` as pip would: the module and a dist-info whose
    entry_points.txt registers it in the kubatch.autoscalers group."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_PROVIDER / "kubatch_example_provider.py", site)
    info = site / "kubatch_example_provider-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kubatch-example-provider\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[kubatch.autoscalers]\nconfigmap = kubatch_example_provider:ConfigMapProvider\n"
    )
    return site


@contextmanager
def running(found: Cluster, workdir: Path) -> Iterator[System]:
    site = install_example_provider(workdir / "site-packages")
    env = {
        **OPERATOR_ENV,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    system = System(found, Operator(kubeconfig=found.kubeconfig, workdir=workdir, env=env))
    try:
        # With the embedded server no scheduler binds pods: the simulated kubelet does.
        start_kubelet(
            system.stack,
            workdir,
            found.kubeconfig,
            bind=found.embedded,
            lease_seconds=KUBELET_LEASE_SECONDS,
            status_report_seconds=KUBELET_STATUS_REPORT_SECONDS,
        )
        system.start_operator()
        yield system
    finally:
        system.close()


@dataclass
class Scenario:
    """One test's objects: a namespace, and cluster-scoped objects named after it."""

    system: System
    namespace: str
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kube(self) -> Cluster:
        return self.system.cluster

    def name(self, base: str) -> str:
        return f"{self.namespace}-{base}"

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        kind = manifest["kind"]
        body = {"apiVersion": f"{G}/{V}", **manifest}
        if kind in NAMESPACED:
            created: dict[str, Any] = self.kube.custom.create_namespaced_custom_object(
                G, V, self.namespace, PLURALS[kind], body
            )
        else:
            created = self.kube.custom.create_cluster_custom_object(G, V, PLURALS[kind], body)
            self.created.append((PLURALS[kind], body["metadata"]["name"]))
        return created

    def environment(self, base: str = "ce", **resources: Any) -> str:
        name = self.name(base)
        spec = resources.pop("spec", {})
        compute = {"minvCpus": 0, "maxvCpus": 16, "instanceTypes": ["m5.xlarge"], **resources}
        self.apply(
            {
                "kind": "ComputeEnvironment",
                "metadata": {"name": name},
                "spec": {"computeResources": compute, **spec},
            }
        )
        return name

    def node_environment(self, base: str = "ce", **resources: Any) -> str:
        """An environment whose containers run on this tier's node: the real node (UNMANAGED,
        the node its labels select) on the real-node tier, simulated nodes elsewhere."""
        if self.kube.node is None:
            return self.environment(base, **resources)
        return self.environment(
            base, spec={"type": "UNMANAGED"}, nodeLabels=REAL_NODE_LABELS, **resources
        )

    def run(
        self,
        name: str,
        queue: str,
        program: Program,
        container: dict[str, Any] | None = None,
        **spec: Any,
    ) -> str:
        """A job (and its own definition) whose container runs `program` on either node."""
        definition = {k: spec.pop(k) for k in ("retryStrategy", "timeout") if k in spec}
        self.definition(
            f"{name}-def", container=program.container(**(container or {})), **definition
        )
        return self.job(name, queue, f"{name}-def", sim=program.sim(), **spec)

    def queue(
        self, base: str = "q", environments: tuple[str, ...] = (), priority: int = 1, **spec: Any
    ) -> str:
        name = self.name(base)
        order = [{"order": i + 1, "computeEnvironment": e} for i, e in enumerate(environments)]
        self.apply(
            {
                "kind": "JobQueue",
                "metadata": {"name": name},
                "spec": {"priority": priority, "computeEnvironmentOrder": order, **spec},
            }
        )
        return name

    def definition(self, name: str = "def", **spec: Any) -> str:
        container = {
            "image": "busybox",
            "command": ["echo", "Ref::msg"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "1024"},
            ],
            **spec.pop("container", {}),
        }
        self.apply(
            {
                "kind": "JobDefinition",
                "metadata": {"name": name},
                "spec": {"containerProperties": container, "parameters": {"msg": "hello"}, **spec},
            }
        )
        return name

    def job(
        self,
        name: str,
        queue: str,
        definition: str = "def",
        sim: dict[str, str] | None = None,
        **spec: Any,
    ) -> str:
        annotations = {f"sim.kubatch.io/{k}": v for k, v in (sim or {}).items()}
        self.apply(
            {
                "kind": "BatchJob",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"jobQueue": queue, "jobDefinition": definition, **spec},
            }
        )
        return name

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.kube.custom.get_namespaced_custom_object(
            G, V, self.namespace, "batchjobs", name
        )
        return found

    def get_cluster(self, plural: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.kube.custom.get_cluster_custom_object(G, V, plural, name)
        return found

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(name).get("status") or {}
        return status

    def wait(self, name: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("status") in states else None

        try:
            return wait_for(reached, timeout=timeout, what=f"job {name} to be {'/'.join(states)}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self._stuck(name)}") from None

    def _stuck(self, name: str) -> str:
        """Where a job that did not get there is stuck, most telling first (a long report is
        cut from its end): its pods that have not ended, its status with its attempts
        shortened, the other jobs' states, the operator's last warnings."""
        status = self.status(name)
        attempts = status.pop("attempts", [])
        jobs = self.kube.custom.list_namespaced_custom_object(G, V, self.namespace, "batchjobs")
        states = Counter((j.get("status") or {}).get("status") for j in jobs["items"])
        return (
            f"its unfinished pods: {self._unfinished_pods(name)[:20]}\n"
            f"its status: {json.dumps(status)}\n"
            f"its attempts ({len(attempts)}), the first: {json.dumps(attempts[:3])}\n"
            f"the namespace's jobs by state: {dict(states)}\n"
            f"the operator's last warnings: {self.system.operator.warnings()[-10:]}"
        )

    def _unfinished_pods(self, job: str) -> list[tuple[str, str | None, str, str]]:
        """(pod, node, phase, why not scheduled) of the job's pods that have not ended: where
        a stuck attempt is stuck."""
        shown = []
        for pod in self.pods(job):
            if pod.status.phase in ("Succeeded", "Failed"):
                continue
            conditions = pod.status.conditions or []
            why = next((c.message or "" for c in conditions if c.type == "PodScheduled"), "")
            shown.append((pod.metadata.name, pod.spec.node_name, pod.status.phase, why))
        return shown

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self.kube.custom.patch_namespaced_custom_object(
            G, V, self.namespace, "batchjobs", name, {"spec": spec}
        )

    def pods(self, job: str) -> list[Any]:
        pods: list[Any] = self.kube.core.list_namespaced_pod(
            self.namespace, label_selector=f"kubatch.io/job-name={job}"
        ).items
        return pods

    def events(self, name: str) -> list[str]:
        items = self.kube.core.list_namespaced_event(self.namespace).items
        return [e.reason for e in items if e.involved_object.name == name]

    def cleanup(self) -> None:
        for plural, name in reversed(self.created):
            try:
                self.kube.custom.delete_cluster_custom_object(G, V, plural, name)
            except ApiException as e:
                if e.status != 404:
                    raise


def unique() -> str:
    return uuid.uuid4().hex[:6]


def body_of(e: ApiException) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(e.body)
    return parsed
