"""The cluster integration tests talk to: the embedded API server started for the session,
or, when KUBECONFIG is set, the real cluster it points at. Tests use only what both offer."""

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

from kubatch.sim.stack import start_apiserver

ROOT = Path(__file__).parents[2]
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


@dataclass
class Cluster:
    kubeconfig: Path
    api: client.ApiClient
    embedded: bool

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

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
def cluster(workdir: Path) -> Iterator[Cluster]:
    existing = os.environ.get("KUBECONFIG")
    if existing:
        path = Path(existing)
        api = config.new_client_from_config(str(path))
        found = Cluster(path, api, embedded=False)
        found.install_crds()
        yield found
        return
    with ExitStack() as stack:
        path = start_apiserver(stack, workdir)
        api = config.new_client_from_config(str(path))
        found = Cluster(path, api, embedded=True)
        wait_for(lambda: _ready(found), timeout=30, what="the API server")
        found.install_crds()
        yield found


def _ready(found: Cluster) -> bool:
    try:
        found.core.list_namespace()
    except Exception:
        return False
    return True
