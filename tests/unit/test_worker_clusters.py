"""Worker clusters in the engine (a worker cluster's nodes and namespaces are `<cluster>:<name>`
inside it) and at the controller's boundary (controller/clusters.py), with a fake API."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from kubatch.api import JobStatus
from kubatch.autoscaling import PoolPlan, ResizeRequest
from kubatch.controller.clusters import (
    WorkerCluster,
    WorkerClusters,
    body_out,
    cluster_identity,
    node_in,
    pod_in,
    request_out,
)
from kubatch.core.engine import Engine
from kubatch.core.jobs.persistence import job_status
from kubatch.core.outbox.effects import CreateObject, DeleteObject
from kubatch.keys import in_cluster, split_cluster
from kubatch.kube.client import Client
from kubatch.kube.errors import ApiError
from tests.support.engine import T0, FakeApi, batch_job, cluster, node, served

EAST = {"name": "east", "kubeconfigSecret": {"name": "east-kubeconfig"}}


def environment(name: str = "ce1", ref: dict[str, Any] | None = EAST) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "UNMANAGED"}
    if ref is not None:
        spec["cluster"] = ref
    return {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "ComputeEnvironment",
        "metadata": {"name": name},
        "spec": spec,
    }


def far_node(name: str = "n1") -> dict[str, Any]:
    return node_in(node(name), "east")


def remote_world(*jobs: dict[str, Any]) -> FakeApi:
    return cluster(*jobs, nodes=(far_node(),), environment=environment())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("n1", ("", "n1")),
        ("east:n1", ("east", "n1")),
        ("default/pod", ("", "default/pod")),
        ("east:default/pod", ("east", "default/pod")),
        ("default/a:b", ("", "default/a:b")),
    ],
)
def test_names_in_a_worker_cluster_split_back(name: str, expected: tuple[str, str]) -> None:
    assert split_cluster(name) == expected
    assert in_cluster(*expected) == name


def test_an_attempt_placed_in_a_worker_cluster_is_created_and_named_there() -> None:
    api = remote_world(batch_job("j"))
    api.step()
    [create] = [e for e in api.sent if isinstance(e, CreateObject) and e.plural == "pods"]
    assert create.namespace == "east:default"
    assert create.body["spec"]["nodeSelector"]["kubernetes.io/hostname"] == "east:n1"
    pod = f"east:default/{api.record('j').pod_name(None, 1)}"
    assert pod in api.pods
    api.run(pod)
    api.step(1)
    api.finish(pod)
    api.step(1)
    assert api.status("j") == JobStatus.SUCCEEDED
    assert job_status(api.record("j")).attempts[0].node_name == "east:n1"


def test_a_cluster_that_does_not_answer_makes_its_environments_invalid_and_places_nothing() -> None:
    api = remote_world()
    api.engine.cluster_health("east", "its API server does not answer: refused", T0)
    env = api.engine.store.envs["ce1"]
    assert not env.valid
    assert env.reason == "cluster east: its API server does not answer: refused"
    job = served(batch_job("j"))
    api.objects.append(job)
    api.engine.upsert_job(job, api.now)
    api.settle(3)
    assert api.status("j") == JobStatus.RUNNABLE
    assert not api.pods
    api.engine.cluster_health("east", None, api.now)
    assert api.engine.store.envs["ce1"].valid
    api.settle(3)
    assert api.status("j") == JobStatus.STARTING


def test_environments_that_name_one_cluster_with_two_secrets_the_later_is_invalid() -> None:
    api = remote_world()
    other = {"name": "east", "kubeconfigSecret": {"name": "another"}}
    api.engine.upsert_environment(served(environment("ce2", other)), T0)
    env = api.engine.store.envs["ce2"]
    assert not env.valid
    assert env.reason is not None
    assert "is named by ComputeEnvironment ce1 with another kubeconfigSecret" in env.reason
    assert api.engine.store.envs["ce1"].valid


@pytest.mark.parametrize("listed", ["", "east"])
def test_a_list_of_one_cluster_leaves_the_others_nodes_and_pods(listed: str) -> None:
    """A relist of one cluster's pods (or a cluster judged lost: an empty one) ends only the
    attempts whose pods it lacks there."""
    api = cluster(
        batch_job("near"),
        batch_job("far"),
        nodes=(node("n1"), far_node("n1")),
        environment=environment(ref=None),
    )
    api.engine.upsert_environment(served(environment("ce2")), T0)
    api.step()
    for key in list(api.pods):
        api.run(key)
    api.step(1)
    api.engine.unlisted("pods", set(), api.now, cluster=listed)
    api.engine.unlisted("nodes", set(), api.now, cluster=listed)
    api.step(1)
    gone = {r.name for r in (api.record("near"), api.record("far")) if r.status == "FAILED"}
    placed = {
        name: split_cluster(job_status(api.record(name)).attempts[0].node_name or "")[0]
        for name in ("near", "far")
    }
    assert gone == {n for n, c in placed.items() if c == listed}
    nodes = set(api.engine.store.nodes)
    assert nodes == {"n1", "east:n1"} - ({"east:n1"} if listed else {"n1"})


def test_a_deleted_job_has_its_pod_in_a_worker_cluster_deleted() -> None:
    """No owner reference collects it there."""
    api = remote_world(batch_job("j"))
    api.step()
    pod = f"east:default/{api.record('j').pod_name(None, 1)}"
    api.run(pod)
    api.step(1)
    api.engine.delete_job("default", "j", api.now)
    api.step(1)
    deletes = [e for e in api.sent if isinstance(e, DeleteObject) and e.plural == "pods"]
    assert [(d.namespace, d.name) for d in deletes] == [("east:default", pod.split("/")[1])]
    assert pod not in api.pods


@pytest.mark.parametrize(
    ("namespace", "origin", "ours", "swept"),
    [
        ("east:default", "here", "here", True),
        ("east:default", "elsewhere", "here", False),
        ("east:default", None, "here", False),
        ("default", "here", "here", False),
        ("east:default", "here", "", False),
    ],
    ids=[
        "ours_there_job_gone",
        "another_clusters",
        "no_origin",
        "in_this_cluster_its_owner_collects_it",
        "this_clusters_identity_unknown",
    ],
)
def test_a_pod_made_there_for_a_job_deleted_meanwhile_is_deleted_and_no_other(
    namespace: str, origin: str | None, ours: str, swept: bool
) -> None:
    """A job deleted while no operator watched leaves its pods in a worker cluster, where no
    owner collects them: an operator deletes those it made (their origin is its cluster's),
    never another cluster's, nor any in its own cluster (the garbage collector does)."""
    api = remote_world()
    api.engine.origin = ours
    labels = {"kubatch.io/job-name": "gone", "kubatch.io/job-uid": "uid-of-a-deleted-job"}
    if origin is not None:
        labels["kubatch.io/origin-cluster"] = origin
    pod = {
        "metadata": {"name": "gone-1", "namespace": namespace, "labels": labels},
        "spec": {"nodeName": "east:n1", "containers": [{"name": "main"}]},
        "status": {"phase": "Running"},
    }
    api.engine.observe_pod(pod, api.now)
    api.step(1)
    deletes = [(e.namespace, e.name) for e in api.sent if isinstance(e, DeleteObject)]
    assert deletes == ([(namespace, "gone-1")] if swept else [])


def test_the_pods_made_there_say_whose_they_are() -> None:
    inside = pod_in({"metadata": {"name": "p", "namespace": "team"}, "spec": {}}, "east")
    assert body_out(inside, "here")["metadata"]["labels"] == {"kubatch.io/origin-cluster": "here"}
    assert "labels" not in body_out(inside, "")["metadata"]


@pytest.mark.parametrize("there", [True, False], ids=["pod_there", "pod_never_made"])
def test_a_worker_cluster_not_listed_at_start_has_its_attempts_judged_once_it_is(
    there: bool,
) -> None:
    api = remote_world(batch_job("j"))
    api.step()
    pod = f"east:default/{api.record('j').pod_name(None, 1)}"
    if not there:
        del api.pods[pod]  # its create was lost
    api.restart(unlisted=frozenset({"east"}))
    api.settle(3)
    assert api.status("j") == JobStatus.STARTING, "left as it was while its pods are unknown"
    assert api.creates(pod) == 1
    for found in list(api.pods.values()):
        api.engine.observe_pod(found, api.now)
    api.engine.reconcile_cluster("east", api.now)
    api.settle(3)
    assert api.status("j") == JobStatus.STARTING
    assert api.record("j").attempt_count == 1
    assert api.creates(pod) == (1 if there else 2), "made again under its number if never made"


def test_the_boundary_names_a_worker_clusters_objects_and_gives_them_back() -> None:
    raw: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "team", "ownerReferences": [{"uid": "u"}]},
        "spec": {"nodeName": "n1", "nodeSelector": {"kubernetes.io/hostname": "n1", "x": "y"}},
    }
    inside = pod_in(raw, "east")
    assert inside["metadata"]["namespace"] == "east:team"
    assert inside["spec"]["nodeName"] == "east:n1"
    assert inside["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "east:n1", "x": "y"}
    out = body_out(inside, "")
    assert out["metadata"]["namespace"] == "team"
    assert "ownerReferences" not in out["metadata"], "the job is not there to own it"
    assert out["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "n1", "x": "y"}
    assert raw["metadata"]["namespace"] == "team", "the watched object is not changed"
    named = node_in(node("n1"), "east")
    assert named["metadata"]["name"] == "east:n1"
    assert named["metadata"]["labels"]["kubernetes.io/hostname"] == "east:n1"
    request = ResizeRequest(
        environment="ce1",
        provider="simulated",
        settings={},
        plan=PoolPlan(desired={}, desired_vcpus=0, remove=("east:n1",)),
        nodes=(("east:n1", "m5.large"),),
        labels={},
    )
    given = request_out(request)
    assert given.plan.remove == ("n1",)
    assert given.nodes == (("n1", "m5.large"),)


def test_a_cluster_judged_lost_before_it_was_listed_ends_its_attempts_under_new_numbers() -> None:
    """Its pods are unknown, not absent: no attempt keeps its number (its pod may yet show
    up there); when it does, it is stopped."""
    api = remote_world(batch_job("j", retryStrategy={"attempts": 2}))
    api.step()
    first = f"east:default/{api.record('j').pod_name(None, 1)}"
    api.restart(unlisted=frozenset({"east"}))
    api.engine.reconcile_cluster("east", api.now, lost=True)
    api.settle(3)
    status = job_status(api.record("j"))
    assert status.attempts[0].status_reason == "Host EC2 (instance unknown) terminated."
    assert api.record("j").attempt_count == 2, "a new number: the old pod may still be there"
    api.engine.observe_pod(api.pods[first], api.now)
    api.settle(3)
    assert api.stops(first) == 1, "the lost attempt's pod, found again, is stopped"


class _Engine:
    """What the probe tells the engine."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str | None]] = []

    def cluster_health(self, cluster: str, problem: str | None, now: Any) -> None:
        self.told.append((cluster, problem))

    def unlisted(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is judged lost here")


class _Client:
    """Answers the probe from a script: None is an answer, an ApiError a failure."""

    def __init__(self, script: list[ApiError | None]) -> None:
        self.script = script
        self.asked = 0

    async def request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.asked += 1
        answer = self.script.pop(0) if self.script else None
        if answer is not None:
            raise answer
        return {}


DOWN = ApiError(0, "ConnectionError", "refused")
WARMING = ApiError(403, "Forbidden", "nodes is forbidden")


@pytest.mark.parametrize(
    ("script", "told"),
    [
        ([None, WARMING, None, None], []),
        ([None, DOWN, None, DOWN, None], []),
        ([None, DOWN, DOWN, None], ["its API server does not answer: refused", None]),
        (
            [WARMING, WARMING, None],
            ["the kubeconfig's user may not list nodes there (403 Forbidden)", None],
        ),
    ],
    ids=["one_refusal_while_warming", "single_lost_probes", "two_in_a_row", "refused_twice"],
)
def test_a_cluster_is_judged_silent_only_after_probes_fail_in_a_row(
    script: list[ApiError | None], told: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _Engine()
    clusters = WorkerClusters(
        cast(Client, _Client([])),
        "default",
        cast(Engine, engine),
        asyncio.Event(),
        qps=1,
        burst=1,
        probe_seconds=0.001,
        lost_after_seconds=1000,
    )
    cluster = WorkerCluster(
        name="east", secret="s", key="k", client=cast(Client, _Client(list(script))), problem=None
    )

    async def reconnect(found: WorkerCluster) -> None:  # the Secret read again: same client
        pass

    monkeypatch.setattr(clusters, "_reconnect", reconnect)

    answers = cast(_Client, cluster.client)

    async def probe_the_script() -> None:
        """Until every scripted answer was given, and one probe after it (the last one's
        verdict is told), with a deadline."""
        task = asyncio.create_task(clusters._probe(cluster))
        deadline = asyncio.get_running_loop().time() + 10
        while answers.script or answers.asked <= len(script):
            assert asyncio.get_running_loop().time() < deadline, "the probe stopped asking"
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(probe_the_script())
    assert len(engine.told) == len(told), engine.told
    for (name, problem), expected in zip(engine.told, told, strict=True):
        assert name == "east"
        if expected is None:
            assert problem is None
        else:
            assert problem is not None
            assert problem.startswith(expected)


class _Answers:
    """A client whose GET answers, or fails, as told."""

    def __init__(self, answer: dict[str, Any] | ApiError) -> None:
        self.answer = answer

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", "/api/v1/namespaces/kube-system")
        if isinstance(self.answer, ApiError):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "identity"),
    [
        ({"metadata": {"uid": "0f1e"}}, "0f1e"),
        (ApiError(403, "Forbidden", "namespaces kube-system is forbidden"), ""),
        (ApiError(0, "ConnectionError", "refused"), None),
        (ApiError(503, "ServiceUnavailable", "starting"), None),
    ],
    ids=["read", "not_allowed_none", "no_answer_fails_start_up", "unavailable_fails_start_up"],
)
def test_the_clusters_identity_is_its_kube_system_uid(
    answer: dict[str, Any] | ApiError, identity: str | None
) -> None:
    client = cast(Client, _Answers(answer))
    if identity is None:
        with pytest.raises(ApiError):
            asyncio.run(cluster_identity(client))
    else:
        assert asyncio.run(cluster_identity(client)) == identity
