"""Submit -> container running on a real node, for N jobs, three ways side by side in one run:
plain pods created by a client, the built-in Job controller (one single-pod batch/v1 Job per
job), and Kubatch (one BatchJob per job, the operator as a local process, an UNMANAGED
environment that is the node). Prints one JSON object.

A real control plane and a real node (kubatch.sim.node: containerd, runc, the kubelet) are
started here; it needs root and what `make real-node` installs. Jobs are submitted at a
steady RATE per second, each container running SECONDS, so that the node is not saturated
and latency is latency. "Running" is the moment a watch first shows the pod's container
running or terminated (the kubelet's own times have a one-second resolution); "submit" is
when the create call returned.

Usage: python -m bench.node_latency [N] [--rate R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch

from kubatch.sim.controlplane import assets_from_environment, control_plane
from kubatch.sim.images import BUSYBOX_IMAGE
from kubatch.sim.node import missing, real_node
from kubatch.sim.stack import Operator

G, V = "kubatch.io", "v1alpha1"
LABELS = {"kubatch.io/pool": "bench"}
SECONDS = 2
COMMAND = ["sh", "-c", f"sleep {SECONDS}"]
REQUESTS = {"cpu": "10m", "memory": "16Mi"}


class Starts:
    """When each pod's container was first seen running (monotonic), by a label's value."""

    def __init__(self, core: client.CoreV1Api, namespace: str, key: str) -> None:
        self.core, self.namespace, self.key = core, namespace, key
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        stream = watch.Watch()
        while not self.stop.is_set():
            for event in stream.stream(
                self.core.list_namespaced_pod, self.namespace, timeout_seconds=5
            ):
                pod = event["object"]
                name = (pod.metadata.labels or {}).get(self.key)
                if name is None or name in self.seen:
                    continue
                for container in pod.status.container_statuses or []:
                    if container.state.running or container.state.terminated:
                        self.seen[name] = time.monotonic()
                if self.stop.is_set():
                    stream.stop()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def measure(n: int, rate: float, submit: Callable[[str], None], starts: Starts) -> dict[str, Any]:
    submitted: dict[str, float] = {}
    began = time.monotonic()
    for i in range(n):
        name = f"j{i:04d}"
        time.sleep(max(0.0, began + i / rate - time.monotonic()))
        submit(name)
        submitted[name] = time.monotonic()
    deadline = time.monotonic() + 300
    while len(starts.seen.keys() & submitted.keys()) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    latencies = sorted(starts.seen[k] - submitted[k] for k in submitted if k in starts.seen)
    starts.close()
    if not latencies:
        return {"started": 0}
    return {
        "started": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "max_s": round(latencies[-1], 3),
    }


def kind(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": kind, "metadata": {"name": name}, "spec": spec}


def container() -> dict[str, Any]:
    limits = {"memory": REQUESTS["memory"]}
    resources = {"requests": REQUESTS, "limits": limits}
    return {"name": "main", "image": BUSYBOX_IMAGE, "command": COMMAND, "resources": resources}


def run(n: int, rate: float) -> dict[str, Any]:
    assets = assets_from_environment()
    problems = missing(assets)
    if problems or assets is None:
        raise SystemExit("the real node cannot run here: " + "; ".join(problems))
    result: dict[str, Any] = {"benchmark": "node_latency", "jobs": n, "rate_per_s": rate}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubatch-bench-")))
        plane = stack.enter_context(control_plane(assets, workdir / "control-plane"))
        node = stack.enter_context(
            real_node(plane, workdir / "node", "bench-node", labels=LABELS, subnet=2)
        )
        api = config.new_client_from_config(str(plane.kubeconfig))
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        custom = client.CustomObjectsApi(api)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = core.list_node(field_selector=f"metadata.name={node.name}").items
            ready = (found[0].status.conditions or []) if found else []
            if any(c.type == "Ready" and c.status == "True" for c in ready):
                break
            time.sleep(0.2)
        for ns in ("plain", "jobs", "kubatch"):
            core.create_namespace({"metadata": {"name": ns}})
        time.sleep(2)  # the namespaces' default ServiceAccounts

        def plain(name: str) -> None:
            spec = {"nodeName": node.name, "restartPolicy": "Never", "containers": [container()]}
            core.create_namespaced_pod(
                "plain", {"metadata": {"name": name, "labels": {"bench": name}}, "spec": spec}
            )

        result["plain_pods"] = measure(n, rate, plain, Starts(core, "plain", "bench"))

        def job(name: str) -> None:
            template = {
                "metadata": {"labels": {"bench": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"kubernetes.io/hostname": node.name},
                    "containers": [container()],
                },
            }
            body = {"metadata": {"name": name}, "spec": {"template": template, "backoffLimit": 0}}
            batch.create_namespaced_job("jobs", body)

        result["job_controller"] = measure(n, rate, job, Starts(core, "jobs", "bench"))

        for path in sorted((Path(__file__).parents[1] / "crds").glob("*.yaml")):
            client.ApiextensionsV1Api(api).create_custom_resource_definition(
                yaml.safe_load(path.read_text())
            )
        time.sleep(2)
        operator = Operator(
            kubeconfig=plane.kubeconfig, workdir=workdir, env={"KUBATCH_WRITE_QPS": "1000"}
        )
        operator.start()
        stack.callback(operator.stop)
        spec = {"type": "UNMANAGED", "computeResources": {"maxvCpus": 2, "nodeLabels": LABELS}}
        custom.create_cluster_custom_object(
            G, V, "computeenvironments", kind("ComputeEnvironment", "ce", spec)
        )
        order = [{"order": 1, "computeEnvironment": "ce"}]
        queue = {"priority": 1, "computeEnvironmentOrder": order}
        custom.create_cluster_custom_object(G, V, "jobqueues", kind("JobQueue", "q", queue))
        definition = {
            "image": BUSYBOX_IMAGE,
            "command": COMMAND,
            "resourceRequirements": [
                {"type": "VCPU", "value": "10m"},
                {"type": "MEMORY", "value": "16"},
            ],
        }
        custom.create_namespaced_custom_object(
            G, V, "kubatch", "jobdefinitions",
            kind("JobDefinition", "d", {"containerProperties": definition}),
        )  # fmt: skip
        time.sleep(3)  # the operator has seen the platform

        def kubatch(name: str) -> None:
            body = kind("BatchJob", name, {"jobQueue": "q", "jobDefinition": "d"})
            custom.create_namespaced_custom_object(G, V, "kubatch", "batchjobs", body)

        result["kubatch"] = measure(
            n, rate, kubatch, Starts(core, "kubatch", "kubatch.io/job-name")
        )
    for method in ("job_controller", "kubatch"):
        base, other = result["plain_pods"], result[method]
        if base.get("p50_s") and other.get("p50_s"):
            result[f"{method}_p50_over_plain"] = round(other["p50_s"] / base["p50_s"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.node_latency", description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=100)
    parser.add_argument("--rate", type=float, default=2.0, help="jobs submitted per second")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.n, args.rate)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
