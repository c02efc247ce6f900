"""Multi-node parallel jobs (aws-batch-semantics.md: multi-node parallel jobs): node ranges,
gang placement (all or nothing, no deadlock, no starvation), one pod per node with AWS
Batch's variables, and the job's lifecycle decided by its main node."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kubatch.api import JobStatus
from kubatch.api.batchjob import BatchJobSpec
from kubatch.api.jobdefinition import JobDefinitionSpec, NodeProperties
from kubatch.core.jobs.definitions import Refused, ResolvedJob, Revision, resolve_job
from kubatch.core.jobs.persistence import job_status
from kubatch.core.outbox.effects import CreateObject, Failure, PatchObject
from kubatch.core.scheduling.placement import (
    INSUFFICIENT_CAPACITY,
    MAX_RESOURCE,
    Node,
    Snapshot,
    WorkItem,
    schedule,
)
from tests.support.engine import T0, FakeApi, batch_job, cluster, node
from tests.support.manifests import job_definition
from tests.unit.test_scheduler import NOW, env, item, placed, queue, reasons, res

S = JobStatus


def container(image: str, cpu: str, memory: str = "512") -> dict[str, Any]:
    return {
        "image": image,
        "command": ["run", "Ref::what"],
        "resourceRequirements": [
            {"type": "VCPU", "value": cpu},
            {"type": "MEMORY", "value": memory},
        ],
    }


def node_properties(
    num_nodes: int = 4, main: int = 0, worker_cpu: str = "2", **extra: Any
) -> dict[str, Any]:
    """A main node (range "0") and two ranges of workers ("1:2" and "3:")."""
    return {
        "numNodes": num_nodes,
        "mainNode": main,
        "nodeRangeProperties": [
            {"targetNodes": "0", "container": container("main-image", "1")},
            {"targetNodes": "1:2", "container": container("worker-image", worker_cpu)},
            {"targetNodes": "3:", "container": container("last-image", worker_cpu)},
        ],
        **extra,
    }


def mnp_definition(**nodes: Any) -> dict[str, Any]:
    manifest = job_definition(
        "mnp", type="multinode", nodeProperties=node_properties(**nodes), parameters={"what": "x"}
    )
    del manifest["spec"]["containerProperties"]
    return manifest


def mnp(name: str = "j", **spec: Any) -> dict[str, Any]:
    return batch_job(name, jobDefinition="mnp", **spec)


def gang(*jobs: dict[str, Any], cpus: tuple[str, ...] = ("4",) * 4, **nodes: Any) -> FakeApi:
    """Four nodes n0..n3 of 4 vCPU (unless told) and a multi-node definition `mnp`."""
    api = cluster(
        *jobs,
        nodes=tuple(node(f"n{i}", cpu=cpu) for i, cpu in enumerate(cpus)),
        definition=mnp_definition(**nodes),
    )
    api.step()
    return api


def pods_of(api: FakeApi, attempt: int = 1, job: str = "j") -> list[dict[str, Any]]:
    record = api.record(job)
    return [api.pods[f"default/{record.pod_name(i, attempt)}"] for i in range(len(record.children))]


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"] if "value" in e}


def run_all(api: FakeApi, attempt: int = 1) -> None:
    """The main node runs, then (their gates removed) the others."""
    main, *others = pods_of(api, attempt)
    api.run(key_of(main))
    api.step()
    for pod in others:
        api.run(key_of(pod))
    api.step()


def key_of(pod: dict[str, Any]) -> str:
    return f"default/{pod['metadata']['name']}"


# -- definitions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        (["0", "1:"], None),
        ([":1", "2:3"], None),
        (["0", "2:"], "node 1 is in no range"),
        (["0:2", "2:"], "node 2 is in two ranges: targetNodes '0:2' and '2:'"),
        (["0", "1:5"], "targetNodes '1:5' reaches past numNodes 4"),
        (["3:1", "0:"], "targetNodes '3:1' names no node"),
    ],
    ids=["main_and_rest", "two_closed_ranges", "gap", "overlap", "past_the_end", "empty"],
)
def test_node_ranges_give_every_node_exactly_one_container(
    targets: list[str], problem: str | None
) -> None:
    body = {
        "numNodes": 4,
        "nodeRangeProperties": [{"targetNodes": t, "container": {"image": "x"}} for t in targets],
    }
    if problem is None:
        NodeProperties.model_validate(body)
        return
    with pytest.raises(ValidationError, match=f"nodeRangeProperties: {problem}"):
        NodeProperties.model_validate(body)


def resolve(**job: Any) -> ResolvedJob | Refused:
    spec = JobDefinitionSpec.model_validate(mnp_definition()["spec"])
    return resolve_job(BatchJobSpec.model_validate({**mnp()["spec"], **job}), Revision(1, spec))


def test_each_node_runs_its_ranges_container_with_the_jobs_parameters() -> None:
    resolved = resolve(parameters={"what": "y"})
    assert isinstance(resolved, ResolvedJob)
    assert resolved.num_nodes == 4
    images = [resolved.for_node(i).container.image for i in range(4)]
    assert images == ["main-image", "worker-image", "worker-image", "last-image"]
    assert [r.millicpu for r in resolved.gang] == [1000, 2000, 2000, 2000]
    assert resolved.for_node(3).container.command == ["run", "y"]
    assert resolved.container.image == "main-image"  # the job's own: its main node's


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        ({"arrayProperties": {"size": 2}}, "a multinode job cannot be an array job"),
        ({"containerOverrides": {"command": ["x"]}}, "containerOverrides do not apply"),
    ],
    ids=["array", "container_overrides"],
)
def test_what_a_multinode_job_cannot_have_is_refused_with_the_field(
    job: dict[str, Any], reason: str
) -> None:
    resolved = resolve(**job)
    assert isinstance(resolved, Refused)
    assert resolved.reason.startswith(reason)


@pytest.mark.parametrize(
    ("overrides", "images", "cpus"),
    [
        ({"numNodes": 6}, ["main-image"] + ["worker-image"] * 2 + ["last-image"] * 3, None),
        (
            {
                "nodePropertyOverrides": [
                    {"targetNodes": "2:", "containerOverrides": {"vcpus": 3}},
                ]
            },
            ["main-image", "worker-image", "worker-image", "last-image"],
            [1000, 2000, 3000, 3000],
        ),
        (
            {
                "numNodes": 5,
                "nodePropertyOverrides": [
                    {"targetNodes": "0", "containerOverrides": {"command": ["lead"]}},
                    {"targetNodes": "4", "containerOverrides": {"memory": 2048}},
                ],
            },
            ["main-image", "worker-image", "worker-image", "last-image", "last-image"],
            [1000, 2000, 2000, 2000, 2000],
        ),
    ],
    ids=[
        "more_nodes_fill_the_open_range",
        "a_range_overridden",
        "more_nodes_and_two_overrides",
    ],
)
def test_node_overrides_change_the_number_of_nodes_and_their_containers(
    overrides: dict[str, Any], images: list[str], cpus: list[int] | None
) -> None:
    resolved = resolve(nodeOverrides=overrides)
    assert isinstance(resolved, ResolvedJob)
    assert resolved.num_nodes == len(images)
    assert [resolved.for_node(i).container.image for i in range(len(images))] == images
    if cpus is not None:
        assert [r.millicpu for r in resolved.gang] == cpus
    if "numNodes" in overrides and overrides.get("nodePropertyOverrides"):
        assert resolved.for_node(0).container.command == ["lead"]
        assert resolved.for_node(4).container.memory == 2048
        assert resolved.for_node(3).container.memory is None, "only node 4's"


def test_a_node_count_the_definition_cannot_take_is_refused_saying_why() -> None:
    resolved = resolve(nodeOverrides={"numNodes": 3})  # the open range "3:" would be empty
    assert isinstance(resolved, Refused)
    assert resolved.reason == (
        "nodeOverrides.numNodes 3 must be more than the start of every open range"
    )
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        resolve(nodeOverrides={"numNodes": 1001})


# -- the scheduler: all or nothing ----------------------------------------------------------


def gang_item(job: str, *cpus: float, distinct: bool = False, **kw: Any) -> WorkItem:
    """A multi-node job: one request per node (1 GiB each), `resources` their sum."""
    requests = tuple(res(c) for c in cpus)
    total = res(sum(cpus), len(cpus))
    return WorkItem(
        job=("ns", job),
        index=None,
        queue="q",
        resources=total,
        gang=requests,
        distinct=distinct,
        **kw,
    )


def two_nodes_of(cpu: float) -> tuple[Node, Node]:
    return (
        Node(name="a", allocatable=res(cpu, 64), free=res(cpu, 64)),
        Node(name="b", allocatable=res(cpu, 64), free=res(cpu, 64)),
    )


def test_a_gang_is_placed_whole_on_nodes_that_fit_each_request() -> None:
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g", 2, 2, 2)),),
            environments=(env("ce", nodes=two_nodes_of(4)),),
            now=NOW,
        )
    )
    assert len(d.placements) == 1
    nodes = d.placements[0].nodes
    assert sorted(nodes) == ["a", "a", "b"]


def test_a_gang_that_does_not_fit_holds_nothing_and_smaller_work_passes() -> None:
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g", 3, 3, 3), item("small", 2)),),
            environments=(env("ce", nodes=two_nodes_of(4)),),
            now=NOW,
        )
    )
    assert placed(d) == [("small", "ce", "a")]
    assert reasons(d) == {"g": INSUFFICIENT_CAPACITY}


def test_two_gangs_never_deadlock_one_runs_whole_the_other_holds_nothing() -> None:
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g1", 2, 2, 2), gang_item("g2", 2, 2, 2)),),
            environments=(env("ce", nodes=two_nodes_of(4)),),
            now=NOW,
        )
    )
    assert [(p.job[1], len(p.nodes)) for p in d.placements] == [("g1", 3)]
    assert reasons(d) == {"g2": INSUFFICIENT_CAPACITY}


@pytest.mark.parametrize(
    ("waited", "small_placed"),
    [(timedelta(minutes=9), True), (timedelta(minutes=10), False)],
    ids=["before_the_reservation_time", "after_it"],
)
def test_a_gang_that_waited_too_long_has_its_environment_held_so_it_does_not_starve(
    waited: timedelta, small_placed: bool
) -> None:
    big = gang_item("g", 3, 3, 3, since=NOW - waited)
    lower = queue("low", 0, ("ce",), item("other-queue", 1, queue="low"))
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), big, item("small", 2)), lower),
            environments=(env("ce", nodes=two_nodes_of(4)),),
            now=NOW,
            gang_reservation=timedelta(minutes=10),
        )
    )
    assert bool(d.placements) is small_placed
    assert reasons(d)["g"] == INSUFFICIENT_CAPACITY


@pytest.mark.parametrize(
    ("cpus", "waited", "reason", "lower_placed"),
    [
        ((3, 3, 3), timedelta(minutes=9), INSUFFICIENT_CAPACITY, True),
        ((3, 3, 3), timedelta(minutes=10), INSUFFICIENT_CAPACITY, False),
        ((5, 5), timedelta(minutes=10), MAX_RESOURCE, True),
    ],
    ids=["waits_for_capacity", "holds_its_environment_after_the_reservation_time", "never_fits"],
)
def test_a_gang_behind_the_stop_of_a_walk_is_judged_without_walking_the_queue(
    cpus: tuple[int, ...], waited: timedelta, reason: str, lower_placed: bool
) -> None:
    """The walk stops once nothing ahead fits (the first waiting place shown); the gang
    behind that point still says why it waits and holds the environment once it waited
    too long, and what is behind it is not read."""
    full = (
        item("fill-a", 4),
        item("fill-b", 4),
        item("waits", 4),
        gang_item("g", *cpus, since=NOW - waited),
        item("behind", 4),
    )
    nodes = (*two_nodes_of(4), Node(name="c", allocatable=res(1, 64), free=res(1, 64)))
    d = schedule(
        Snapshot(
            queues=(
                queue("q", 1, ("ce",), *full),
                queue("low", 0, ("ce",), item("low", 1, queue="low")),
            ),
            environments=(env("ce", max_vcpus=16, nodes=nodes, managed=False, shapes=()),),
            now=NOW,
            positions_shown=1,
            gang_reservation=timedelta(minutes=10),
        )
    )
    assert reasons(d)["g"] == reason
    assert "behind" not in reasons(d)
    assert ("low", "ce", "c") in placed(d) if lower_placed else "low" in reasons(d)


def test_distinct_nodes_puts_every_node_of_a_gang_on_its_own_node() -> None:
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g", 1, 1, distinct=True)),),
            environments=(env("ce", nodes=two_nodes_of(4)),),
            now=NOW,
        )
    )
    assert sorted(d.placements[0].nodes) == ["a", "b"]


@pytest.mark.parametrize(
    ("cpus", "distinct", "managed", "detail"),
    [
        ((8, 8, 8), False, True, "3 nodes, 24 vCPU, 3072 MiB in all"),
        ((1, 1, 1), True, False, "3 nodes on different nodes"),
        ((200, 1), False, True, "the largest 200 vCPU"),
    ],
    ids=["more_than_max_vcpus", "more_nodes_than_the_pool", "a_node_larger_than_any_shape"],
)
def test_a_gang_that_can_never_fit_says_why(
    cpus: tuple[int, ...], distinct: bool, managed: bool, detail: str
) -> None:
    kw = {} if managed else {"managed": False, "shapes": ()}
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g", *cpus, distinct=distinct)),),
            environments=(env("ce", max_vcpus=16, nodes=two_nodes_of(4), **kw),),
            now=NOW,
        )
    )
    waiting = d.waiting[0]
    assert waiting.reason == MAX_RESOURCE
    assert waiting.detail is not None
    assert detail in waiting.detail


def test_capacity_is_planned_for_every_node_of_a_waiting_gang_each_on_a_new_node() -> None:
    d = schedule(
        Snapshot(
            queues=(queue("q", 1, ("ce",), gang_item("g", 1, 1, 1, distinct=True)),),
            environments=(env("ce", max_vcpus=64),),
            now=NOW,
        )
    )
    assert sum(d.plans["ce"].desired.values()) == 3


# -- the lifecycle, through the engine --------------------------------------------------------


def test_every_node_gets_its_pod_its_container_and_aws_batchs_variables() -> None:
    api = gang(mnp())
    record = api.record("j")
    pods = pods_of(api)
    address = f"node-0.kubatch-{record.uid.replace('-', '')[:12]}.default.svc"
    for i, pod in enumerate(pods):
        env = env_of(pod)
        assert env["AWS_BATCH_JOB_ID"] == f"{record.uid}#{i}"
        assert env["AWS_BATCH_JOB_NODE_INDEX"] == str(i)
        assert env["AWS_BATCH_JOB_NUM_NODES"] == "4"
        assert env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] == "0"
        assert env.get("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS") == (address if i else None)
        assert "AWS_BATCH_JOB_ARRAY_INDEX" not in env
        assert pod["metadata"]["labels"]["kubatch.io/node-index"] == str(i)
        assert pod["spec"]["hostname"] == f"node-{i}"
        assert pod["spec"]["subdomain"] == address.split(".")[1]
    images = [p["spec"]["containers"][0]["image"] for p in pods]
    assert images == ["main-image", "worker-image", "worker-image", "last-image"]
    cpus = [p["spec"]["containers"][0]["resources"]["requests"]["cpu"] for p in pods]
    assert cpus == ["1", "2", "2", "2"]
    services = [o for o in api.made if o.get("kind") == "Service"]
    assert [s["spec"]["clusterIP"] for s in services] == ["None"]
    assert services[0]["metadata"]["name"] == address.split(".")[1]
    assert services[0]["spec"]["selector"] == {"kubatch.io/job-uid": record.uid}


def test_the_job_is_starting_until_every_node_runs_then_running() -> None:
    api = gang(mnp())
    assert api.status("j") == S.STARTING
    api.run(key_of(pods_of(api)[0]))
    api.step()
    assert api.status("j") == S.STARTING
    run_all(api)
    assert api.status("j") == S.RUNNING


def gates(api: FakeApi, attempt: int = 1) -> list[list[str]]:
    pods = pods_of(api, attempt)
    return [[g["name"] for g in p["spec"].get("schedulingGates", [])] for p in pods]


def releases(api: FakeApi) -> list[str]:
    return [p.name for p in api.patches if p.patch == {"spec": {"schedulingGates": None}}]


def test_the_other_nodes_are_scheduled_only_once_the_main_node_runs() -> None:
    """AWS starts the main node first and the others once it is RUNNING: their pods are
    made with the main node's (their room held) but gated until then."""
    api = gang(mnp())
    pods = pods_of(api)
    assert gates(api) == [[], *[["kubatch.io/main-node"]] * 3]
    with pytest.raises(AssertionError, match="scheduling gates"):
        api.bind(key_of(pods[1]))
    api.bind(key_of(pods[0]))
    api.step(30)
    assert releases(api) == []
    api.run(key_of(pods[0]))
    api.step()
    assert sorted(releases(api)) == sorted(p["metadata"]["name"] for p in pods[1:])
    assert gates(api) == [[]] * 4
    assert api.status("j") == S.STARTING
    for pod in pods[1:]:
        api.run(key_of(pod))
    api.step()
    assert api.status("j") == S.RUNNING
    assert len(releases(api)) == 3


def test_a_gated_node_waits_for_the_main_node_without_counting_as_unscheduled() -> None:
    """The schedule deadline (5 minutes) starts when a node's gate is removed, not when its
    pod was made: a main node slow to start does not fail the others."""
    api = gang(mnp())
    pods = pods_of(api)
    api.bind(key_of(pods[0]))  # bound, its image still being pulled
    for _ in range(8):
        api.step(60)
    assert api.status("j") == S.STARTING
    api.run(key_of(pods[0]))
    api.step()
    for _ in range(4):
        api.step(60)
    assert api.status("j") == S.STARTING
    assert [c.status for c in api.record("j").children] == [S.RUNNING, *[S.STARTING] * 3]
    api.step(70)  # more than 5 minutes since the release and still not bound: they fail
    api.settle(2)
    assert api.status("j") == S.FAILED
    assert "node 1 failed: ResourceInitializationError" in (api.record("j").reason or "")


@pytest.mark.parametrize("restart", [False, True], ids=["lost_release", "release_after_restart"])
def test_a_release_that_did_not_arrive_is_sent_again(restart: bool) -> None:
    api = gang(mnp())
    api.lose = lambda effect: isinstance(effect, PatchObject)
    api.run(key_of(pods_of(api)[0]))
    api.step()
    api.lose = lambda effect: False
    assert gates(api)[1:] == [["kubatch.io/main-node"]] * 3
    if restart:
        api.restart()
        api.step()
    else:
        api.step(61)  # no answer for a minute: taken as lost
    assert gates(api) == [[]] * 4
    run_all(api)
    assert api.status("j") == S.RUNNING


@pytest.mark.parametrize(
    ("code", "reason", "sent_again"),
    [(503, "ServiceUnavailable", True), (429, "TooManyRequests", True), (403, "Forbidden", False)],
    ids=["server_error_retried", "throttled_retried", "refused_not_retried"],
)
def test_a_refused_release_is_sent_again_only_when_the_refusal_passes(
    code: int, reason: str, sent_again: bool
) -> None:
    api = gang(mnp())
    refused = {"count": 0}

    def refuse_once(effect: Any) -> Failure | None:
        if (
            isinstance(effect, PatchObject)
            and effect.name.endswith("-1-1")
            and not refused["count"]
        ):
            refused["count"] += 1
            return Failure(code, reason, "no")
        return None

    api.fail = refuse_once
    api.run(key_of(pods_of(api)[0]))
    api.step()
    assert gates(api) == [[], ["kubatch.io/main-node"], [], []]
    api.step(5)  # the refusal is read: a transient one is sent again after a back-off
    api.step(5)
    assert gates(api)[1] == ([] if sent_again else ["kubatch.io/main-node"])


def test_a_main_node_that_fails_before_running_never_lets_the_others_start() -> None:
    api = gang(mnp(retryStrategy={"attempts": 2}))
    first = pods_of(api)
    api.finish(key_of(first[0]), 1)
    api.settle(2)
    assert releases(api) == []
    for pod in first[1:]:
        assert api.stops(key_of(pod)) == 1
    assert [c.attempts for c in api.record("j").children] == [2] * 4
    assert gates(api, attempt=2) == [[], *[["kubatch.io/main-node"]] * 3]


def test_the_main_node_ends_the_job_and_the_other_nodes_are_stopped() -> None:
    api = gang(mnp())
    run_all(api)
    pods = pods_of(api)
    api.finish(key_of(pods[0]), 0)
    api.settle(2)
    assert api.status("j") == S.SUCCEEDED
    for pod in pods[1:]:
        assert api.stops(key_of(pod)) == 1
    status = job_status(api.record("j"))
    assert status.node_properties is not None
    assert [n.node_index for n in status.node_properties.nodes] == [0, 1, 2, 3]
    assert status.node_properties.nodes[0].is_main_node
    assert status.node_properties.nodes[0].exit_code == 0
    assert status.attempt_count == 1
    assert api.record("j").job_counts() == {S.SUCCEEDED: 1}


def test_a_non_main_node_that_fails_fails_the_job_without_retry() -> None:
    api = gang(mnp(retryStrategy={"attempts": 3}))
    run_all(api)
    pods = pods_of(api)
    api.finish(key_of(pods[2]), 3)
    api.settle(3)
    record = api.record("j")
    assert record.status == S.FAILED
    assert record.reason == "node 2 failed: Essential container in task exited (exit code 3)"
    for pod in (pods[0], pods[1], pods[3]):
        assert api.stops(key_of(pod)) == 1
    assert record.attempt_count == 1


def test_a_main_node_failure_retries_the_whole_gang() -> None:
    api = gang(mnp(retryStrategy={"attempts": 2}))
    run_all(api)
    first = pods_of(api)
    api.finish(key_of(first[0]), 1)
    api.settle(3)
    record = api.record("j")
    assert record.attempt_count == 2
    second = pods_of(api, attempt=2)
    assert all(env_of(p)["AWS_BATCH_JOB_ATTEMPT"] == "2" for p in second)
    for pod in first[1:]:
        assert api.stops(key_of(pod)) == 1
    run_all(api, attempt=2)
    api.finish(key_of(second[0]), 0)
    api.settle(2)
    assert api.status("j") == S.SUCCEEDED


def test_terminate_stops_every_node_and_the_job_fails_with_the_reason() -> None:
    api = gang(mnp())
    run_all(api)
    pods = pods_of(api)
    job = next(o for o in api.objects if o.get("kind") == "BatchJob")
    changed = copy.deepcopy(job)
    changed["spec"]["terminate"] = {"reason": "enough"}
    changed["metadata"].update(generation=2, resourceVersion="999999")
    api.engine.upsert_job(changed, api.now)
    api.settle(2)
    for pod in pods:
        assert api.stops(key_of(pod)) >= 1
    assert (api.status("j"), api.record("j").reason) == (S.FAILED, "enough")


def test_a_timeout_stops_every_node_of_the_job() -> None:
    api = gang(mnp(timeout={"attemptDurationSeconds": 60}))
    run_all(api)
    pods = pods_of(api)
    api.step(61)
    api.settle(2)
    for pod in pods:
        assert api.stops(key_of(pod)) >= 1
    assert api.status("j") == S.FAILED


def test_a_gang_larger_than_its_environment_says_why() -> None:
    api = gang(mnp(), worker_cpu="8")
    status = job_status(api.record("j"))
    assert status.status == S.RUNNABLE
    assert status.status_reason is not None
    assert status.status_reason.startswith(f"{MAX_RESOURCE} - the multi-node job needs 4 nodes")
    assert not api.pods


def test_a_restarted_operator_keeps_the_gang_and_its_outcome() -> None:
    api = gang(mnp())
    run_all(api)
    api.restart()
    api.step()
    record = api.record("j")
    assert record.multinode
    assert (record.status, len(record.children)) == (S.RUNNING, 4)
    pods = pods_of(api)
    api.finish(key_of(pods[0]), 0)
    api.settle(2)
    assert api.status("j") == S.SUCCEEDED
    for pod in pods[1:]:
        assert api.stops(key_of(pod)) == 1


def test_a_gang_whose_pod_create_was_lost_gets_it_on_the_node_it_was_placed_on() -> None:
    api = cluster(mnp(), nodes=tuple(node(f"n{i}") for i in range(4)), definition=mnp_definition())
    lost = {"done": False}

    def lose_one(effect: Any) -> bool:
        if (
            isinstance(effect, CreateObject)
            and effect.plural == "pods"
            and effect.body["metadata"]["labels"].get("kubatch.io/node-index") == "3"
            and not lost["done"]
        ):
            lost["done"] = True
            return True
        return False

    api.lose = lose_one
    api.step()
    api.lose = lambda effect: False
    assert len(api.pods) == 3
    api.restart()
    api.step()
    assert len(api.pods) == 4
    record = api.record("j")
    last = record.children[3].current
    assert last is not None
    pod = api.pods[f"default/{last.pod_name}"]
    assert pod["spec"]["nodeSelector"]["kubernetes.io/hostname"] == last.node_name
    assert api.engine.check() == []


def test_the_engines_indexes_hold_through_a_gangs_life() -> None:
    api = gang(mnp(), mnp("k"), worker_cpu="3")
    assert api.engine.check() == []
    assert api.record("k").status == S.RUNNABLE  # 10 vCPU each on 16: only one fits
    assert api.record("k").counts[S.RUNNABLE] == 4
    run_all(api)
    api.finish(key_of(pods_of(api)[0]), 0)
    api.settle(3)
    assert api.engine.check() == []
    assert api.record("k").status in (S.STARTING, S.RUNNING)
    assert api.now > T0
