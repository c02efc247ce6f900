"""The API server behaves as a real one does for what Kubatch relies on. These run against
the embedded server, or against a real cluster when KUBECONFIG is set: that keeps the
emulator honest."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.rest import ApiException

from tests.support.cluster import Cluster, read_or_none, wait_for
from tests.support.manifests import batch_job

G, V = "kubatch.io", "v1alpha1"


def _job(namespace: str, name: str = "job1", **spec: Any) -> dict[str, Any]:
    body = batch_job(name, **spec)
    body["metadata"]["namespace"] = namespace
    return body


def test_create_sets_identity_and_versions(kube: Cluster, namespace: str) -> None:
    cm = kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "a"}, "data": {"k": "v"}}
    )
    assert cm.metadata.uid
    assert cm.metadata.resource_version
    assert cm.metadata.creation_timestamp is not None
    job = kube.custom.create_namespaced_custom_object(G, V, namespace, "batchjobs", _job(namespace))
    assert job["metadata"]["generation"] == 1
    assert job["metadata"]["uid"] != cm.metadata.uid


def test_create_answers_201(kube: Cluster, namespace: str) -> None:
    _, status, _ = kube.core.create_namespaced_config_map_with_http_info(
        namespace, {"metadata": {"name": "a"}}
    )
    assert status == 201


def test_generate_name(kube: Cluster, namespace: str) -> None:
    cm = kube.core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert cm.metadata.name.startswith("gen-")
    assert len(cm.metadata.name) > len("gen-")


def test_duplicate_create_is_409_already_exists(kube: Cluster, namespace: str) -> None:
    kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    assert e.value.status == 409
    assert json.loads(e.value.body)["reason"] == "AlreadyExists"


def test_update_with_a_stale_resource_version_is_409_conflict(
    kube: Cluster, namespace: str
) -> None:
    cm = kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "a"}, "data": {"k": "1"}}
    )
    stale = cm.metadata.resource_version
    kube.core.patch_namespaced_config_map("a", namespace, {"data": {"k": "2"}})
    with pytest.raises(ApiException) as e:
        kube.core.replace_namespaced_config_map(
            "a",
            namespace,
            {"metadata": {"name": "a", "resourceVersion": stale}, "data": {"k": "3"}},
        )
    assert e.value.status == 409
    assert json.loads(e.value.body)["reason"] == "Conflict"


def test_label_selectors(kube: Cluster, namespace: str) -> None:
    for name, labels in [("a", {"tier": "x", "env": "prod"}), ("b", {"tier": "y"}), ("c", {})]:
        kube.core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": labels}}
        )

    def names(selector: str) -> list[str]:
        items = kube.core.list_namespaced_config_map(namespace, label_selector=selector).items
        return sorted(i.metadata.name for i in items if i.metadata.name in "abc")

    assert names("tier=x") == ["a"]
    assert names("tier!=x") == ["b", "c"]
    assert names("tier in (x,y)") == ["a", "b"]
    assert names("tier notin (x)") == ["b", "c"]
    assert names("env") == ["a"]
    assert names("!tier") == ["c"]
    assert names("tier,env=prod") == ["a"]


def test_status_subresource_is_kept_apart_from_spec(kube: Cluster, namespace: str) -> None:
    kube.custom.create_namespaced_custom_object(G, V, namespace, "batchjobs", _job(namespace))
    kube.custom.patch_namespaced_custom_object_status(
        G, V, namespace, "batchjobs", "job1", {"status": {"status": "RUNNABLE"}}
    )
    # Writing status through the main resource changes nothing there.
    after = kube.custom.patch_namespaced_custom_object(
        G, V, namespace, "batchjobs", "job1", {"status": {"status": "FAILED"}}
    )
    assert after["status"]["status"] == "RUNNABLE"
    assert after["metadata"]["generation"] == 1
    # Spec through status is ignored; spec changes bump the generation, status ones do not.
    kube.custom.patch_namespaced_custom_object_status(
        G,
        V,
        namespace,
        "batchjobs",
        "job1",
        {"spec": {"jobQueue": "other"}, "status": {"statusReason": "x"}},
    )
    job = kube.custom.get_namespaced_custom_object(G, V, namespace, "batchjobs", "job1")
    assert job["spec"]["jobQueue"] == "q1"
    assert job["status"]["statusReason"] == "x"
    assert job["metadata"]["generation"] == 1
    job = kube.custom.patch_namespaced_custom_object(
        G, V, namespace, "batchjobs", "job1", {"spec": {"cancel": {"reason": "stop"}}}
    )
    assert job["metadata"]["generation"] == 2


def test_finalizers_hold_deletion(kube: Cluster, namespace: str) -> None:
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "a", "finalizers": ["kubatch.io/test"]}}
    )
    kube.core.delete_namespaced_config_map("a", namespace)
    held = kube.core.read_namespaced_config_map("a", namespace)
    assert held.metadata.deletion_timestamp is not None
    kube.core.patch_namespaced_config_map("a", namespace, {"metadata": {"finalizers": None}})

    def gone() -> bool:
        try:
            kube.core.read_namespaced_config_map("a", namespace)
        except ApiException as e:
            return bool(e.status == 404)
        return False

    wait_for(gone, what="the object to go once its finalizer is removed")


def test_owned_objects_are_garbage_collected(kube: Cluster, namespace: str) -> None:
    owner = kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "child", "ownerReferences": [ref]}}
    )
    kube.core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        names: list[str] = [
            c.metadata.name for c in kube.core.list_namespaced_config_map(namespace).items
        ]
        return "child" not in names

    wait_for(child_gone, timeout=60, what="the owned object to be collected")


# A real cluster adds objects of its own to every namespace (the kube-root-ca.crt ConfigMap,
# the default ServiceAccount): watches in these tests select the test's own objects by label.
WATCHED = {"kubatch.io/test-watch": "yes"}
SELECTOR = "kubatch.io/test-watch=yes"


def test_watch_resumes_from_a_resource_version(kube: Cluster, namespace: str) -> None:
    listed = kube.core.list_namespaced_config_map(namespace, label_selector=SELECTOR)
    since = listed.metadata.resource_version
    for name in ("w1", "w2"):
        kube.core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": WATCHED}}
        )
    kube.core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "v"}})
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(
        kube.core.list_namespaced_config_map,
        namespace,
        label_selector=SELECTOR,
        resource_version=since,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "w1"), ("ADDED", "w2"), ("MODIFIED", "w1")]


def test_watch_delivers_changes_as_they_happen(kube: Cluster, namespace: str) -> None:
    seen: list[str] = []
    stream = watch.Watch()
    since = kube.core.list_namespaced_config_map(
        namespace, label_selector=SELECTOR
    ).metadata.resource_version

    def consume() -> None:
        for event in stream.stream(
            kube.core.list_namespaced_config_map,
            namespace,
            label_selector=SELECTOR,
            resource_version=since,
            timeout_seconds=10,
        ):
            seen.append(f"{event['type']} {event['object'].metadata.name}")
            if len(seen) == 2:
                stream.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "live", "labels": WATCHED}}
    )
    kube.core.delete_namespaced_config_map("live", namespace)
    thread.join(timeout=15)
    assert seen == ["ADDED live", "DELETED live"]


def test_a_new_namespace_gets_its_default_service_account_and_root_ca(
    kube: Cluster, namespace: str
) -> None:
    """What the controller-manager does on a real cluster; pods need the account."""
    core = kube.core
    wait_for(
        lambda: read_or_none(core.read_namespaced_service_account, "default", namespace),
        what="the default ServiceAccount",
    )
    wait_for(
        lambda: read_or_none(core.read_namespaced_config_map, "kube-root-ca.crt", namespace),
        what="the kube-root-ca.crt ConfigMap",
    )


def test_secret_string_data_is_stored_as_base64_data(kube: Cluster, namespace: str) -> None:
    """stringData is write-only: merged into data (base64) on create and on replace."""
    core = kube.core
    core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "two"}},
    )
    secret = core.read_namespaced_secret("s", namespace)
    assert (secret.data, secret.string_data, secret.type) == (
        {"a": "eA==", "b": "dHdv"},
        None,
        "Opaque",
    )
    secret.string_data = {"a": "one"}
    core.replace_namespaced_secret("s", namespace, secret)
    assert core.read_namespaced_secret("s", namespace).data == {"a": "b25l", "b": "dHdv"}


def test_a_pod_naming_a_missing_service_account_is_forbidden(kube: Cluster, namespace: str) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"serviceAccountName": "nobody", "containers": [{"name": "c", "image": "x"}]},
    }
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_pod(namespace, pod)
    assert e.value.status == 403
    assert 'serviceaccount "nobody" not found' in json.loads(e.value.body)["message"]


def test_invalid_custom_resource_is_refused_naming_the_field(kube: Cluster, namespace: str) -> None:
    bad = _job(namespace, retryStrategy={"attempts": 11})
    with pytest.raises(ApiException) as e:
        kube.custom.create_namespaced_custom_object(G, V, namespace, "batchjobs", bad)
    assert e.value.status == 422
    assert "spec.retryStrategy.attempts" in json.loads(e.value.body)["message"]


def test_cel_rule_is_enforced(kube: Cluster, namespace: str) -> None:
    bad = _job(namespace, dependsOn=[{"jobName": "a", "type": "N_TO_N"}])
    with pytest.raises(ApiException) as e:
        kube.custom.create_namespaced_custom_object(G, V, namespace, "batchjobs", bad)
    assert e.value.status == 422
    assert "require arrayProperties" in json.loads(e.value.body)["message"]


def test_defaults_from_the_schema_are_applied(kube: Cluster) -> None:
    body = {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "JobQueue",
        "metadata": {"name": "defaults-q"},
        "spec": {
            "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "x"}],
        },
    }
    try:
        created = kube.custom.create_cluster_custom_object(G, V, "jobqueues", body)
        assert created["spec"]["state"] == "ENABLED"
        assert created["spec"]["queueingStrategy"] == "BEST_EFFORT_FIFO"
    finally:
        kube.custom.delete_cluster_custom_object(G, V, "jobqueues", "defaults-q")


def test_objects_in_a_missing_namespace_are_refused(kube: Cluster) -> None:
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map("no-such-namespace-x", {"metadata": {"name": "a"}})
    assert e.value.status == 404


def test_unscheduled_pod_is_deleted_at_once(kube: Cluster, namespace: str) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "main", "image": "busybox"}],
            "nodeSelector": {"kubatch.io/none": "x"},
        },
    }
    kube.core.create_namespaced_pod(namespace, pod)
    kube.core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)

    def gone() -> bool:
        return bool(
            all(p.metadata.name != "p" for p in kube.core.list_namespaced_pod(namespace).items)
        )

    wait_for(gone, what="the pod to go")


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        ({"limits": {"gpus": "1"}}, 'resources.limits[gpus]: Invalid value: "gpus": must be a '),
        (
            {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}},
            'resources.requests: Invalid value: "2": must be less than or equal to cpu limit',
        ),
    ],
    ids=["a_resource_name_neither_standard_nor_qualified", "a_request_above_its_limit"],
)
def test_a_pod_whose_resources_are_invalid_is_refused(
    kube: Cluster, namespace: str, resources: dict[str, Any], says: str
) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]},
    }
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_pod(namespace, pod)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert 'Pod "p" is invalid' in message
    assert f"spec.containers[0].{says}" in message, message


def test_a_crd_whose_schema_uses_pattern_properties_is_refused(kube: Cluster) -> None:
    """A map with a pattern on its keys is JSON Schema's patternProperties, which CRDs do not
    support: a model's dict of patterned keys must become an object of named fields."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.conformance.kubatch.io"},
        "spec": {
            "group": "conformance.kubatch.io",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "patternProperties": {"^cpu$": {"type": "string"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    with pytest.raises(ApiException) as refused:
        kube.crds.create_custom_resource_definition(crd)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert (
        "spec.validation.openAPIV3Schema.properties[spec].patternProperties: "
        "Forbidden: patternProperties is not supported"
    ) in message, message


def test_discovery_lists_kubatch_kinds(kube: Cluster) -> None:
    found = kube.custom.get_api_resources(G, V)
    names = {r.name for r in found.resources}
    assert {
        "batchjobs",
        "jobqueues",
        "jobdefinitions",
        "computeenvironments",
        "batchjobs/status",
    } <= names


def _gated_pod(name: str, *gates: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "main", "image": "busybox"}],
            "schedulingGates": [{"name": gate} for gate in gates],
        },
    }


def test_a_gated_pod_says_so_and_cannot_be_bound(kube: Cluster, namespace: str) -> None:
    """A pod created with scheduling gates is marked SchedulingGated at once, and a binding
    is refused while a gate remains."""
    created = kube.core.create_namespaced_pod(namespace, _gated_pod("gated", "kubatch.io/a"))
    conditions = [(c.type, c.status, c.reason) for c in created.status.conditions or []]
    assert conditions == [("PodScheduled", "False", "SchedulingGated")]
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "gated"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "anywhere"},
    }
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_pod_binding("gated", namespace, binding, _preload_content=False)
    assert e.value.status == 409
    assert "non-empty .spec.schedulingGates" in e.value.body


@pytest.mark.parametrize(
    ("before", "after", "refused"),
    [
        (["kubatch.io/a"], None, False),
        (["kubatch.io/a", "x.io/b"], [{"name": "x.io/b"}], False),
        (["kubatch.io/a"], [{"name": "kubatch.io/a"}, {"name": "x.io/b"}], True),
        ([], [{"name": "x.io/b"}], True),
    ],
    ids=["all_removed", "one_removed", "one_added", "added_to_an_ungated_pod"],
)
def test_scheduling_gates_can_be_removed_but_never_added(
    kube: Cluster,
    namespace: str,
    before: list[str],
    after: list[dict[str, str]] | None,
    refused: bool,
) -> None:
    kube.core.create_namespaced_pod(namespace, _gated_pod("p", *before))
    patch = [{"op": "add", "path": "/spec/schedulingGates", "value": after}]
    if after is None:
        patch = [{"op": "remove", "path": "/spec/schedulingGates"}]
    if not refused:
        patched = kube.core.patch_namespaced_pod("p", namespace, patch)
        assert [g.name for g in patched.spec.scheduling_gates or []] == [
            g["name"] for g in after or []
        ]
        return
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_pod("p", namespace, patch)
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert "only deletion is allowed, but found new scheduling gate 'x.io/b'" in body["message"]


@pytest.mark.parametrize(
    ("first", "then", "refusal"),
    [
        (None, 100, None),
        (100, 1, None),
        (100, 200, "must be less than or equal to previous value"),
        (100, None, "must not update from a positive integer to nil value"),
        (None, 0, "must be between 1 and 2147483647, inclusive"),
    ],
    ids=["set", "lowered", "raised", "unset", "zero"],
)
def test_a_pods_deadline_can_be_set_or_lowered_never_raised_or_unset(
    kube: Cluster, namespace: str, first: int | None, then: int | None, refusal: str | None
) -> None:
    """How Kubatch stops an attempt on its node (its log stays): it lowers the deadline."""
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    if first is not None:
        pod["spec"]["activeDeadlineSeconds"] = first
    kube.core.create_namespaced_pod(namespace, pod)
    patch: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/activeDeadlineSeconds", "value": then}
        if then is not None
        else {"op": "remove", "path": "/spec/activeDeadlineSeconds"}
    ]
    if refusal is None:
        patched = kube.core.patch_namespaced_pod("p", namespace, patch)
        assert patched.spec.active_deadline_seconds == then
        return
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_pod("p", namespace, patch)
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert "spec.activeDeadlineSeconds: Invalid value: " in body["message"]
    assert refusal in body["message"]


def test_a_pods_spec_cannot_change_but_for_images_deadline_and_tolerations(
    kube: Cluster, namespace: str
) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    kube.core.create_namespaced_pod(namespace, pod)
    patched = kube.core.patch_namespaced_pod(
        "p", namespace, {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}
    )
    assert patched.spec.containers[0].image == "busybox:2"
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_pod(
            "p", namespace, {"spec": {"terminationGracePeriodSeconds": 3}}
        )
    assert e.value.status == 422
    message = json.loads(e.value.body)["message"]
    assert 'Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than' in (
        message
    )


Seen = tuple[str, str, str, str]
"""(event type, pod, phase, DisruptionTarget reasons) of a watched pod."""


@pytest.fixture(scope="module", autouse=True)
def removed_node(kube: Cluster) -> Iterator[tuple[threading.Thread, list[Seen]]]:
    """A node removed under a running pod and a finished one, at the module's start: the pod
    garbage collector's quarantine (40 s, on a real cluster as on the emulator) passes while
    the other cases run, and the module's last case reads what it did."""
    namespace = kube.new_namespace()
    node = f"gone-{namespace}"[:63]
    kube.core.create_node({"metadata": {"name": node}})
    for name, phase in REMOVED_NODE_PODS.items():
        kube.core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
            },
        )
        kube.core.patch_namespaced_pod_status(name, namespace, {"status": {"phase": phase}})
    since = kube.core.list_namespaced_pod(namespace).metadata.resource_version
    seen: list[Seen] = []
    stream = watch.Watch()

    def consume() -> None:
        for event in stream.stream(
            kube.core.list_namespaced_pod, namespace, resource_version=since, timeout_seconds=150
        ):
            pod = event["object"]
            conditions = pod.status.conditions or []
            reasons = [c.reason for c in conditions if c.type == "DisruptionTarget"]
            seen.append((event["type"], pod.metadata.name, pod.status.phase, ",".join(reasons)))
            if sum(kind == "DELETED" for kind, *_ in seen) == len(REMOVED_NODE_PODS):
                stream.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    kube.core.delete_node(node)
    yield thread, seen
    stream.stop()
    kube.delete_namespace(namespace)


REMOVED_NODE_PODS = {"running": "Running", "finished": "Succeeded"}


def test_the_pods_of_a_removed_node_are_collected_a_running_one_marked_failed_first(
    removed_node: tuple[threading.Thread, list[Seen]],
) -> None:
    """kube-controller-manager's pod garbage collector, which an environment scaling in meets:
    after its quarantine a removed node's pods are deleted, one still running first marked
    Failed with DisruptionTarget (DeletionByPodGC). Last in the module, so that the
    quarantine passes while the other cases run."""
    thread, seen = removed_node
    thread.join(timeout=160)
    deleted = {name: (phase, reasons) for kind, name, phase, reasons in seen if kind == "DELETED"}
    assert deleted == {
        "running": ("Failed", "DeletionByPodGC"),
        "finished": ("Succeeded", ""),
    }, seen
