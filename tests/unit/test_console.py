"""The web console's views and query rules, without a server or a browser: what each page
shows for given objects, and what a bad query string is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubatch.console import views
from kubatch.console.queries import (
    BadQuery,
    JobQuery,
    JobsQuery,
    LogQuery,
    StopForm,
    parse_query,
)
from kubatch.console.server import _environment

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(
    name: str,
    state: str | None = "RUNNABLE",
    namespace: str = "team-a",
    queue: str = "q",
    created: float = 0,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A BatchJob as the API holds it; `state` None: not yet seen by the operator."""
    found: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "creationTimestamp": stamp(created),
            **(metadata or {}),
        },
        "spec": {"jobQueue": queue, "jobDefinition": "work", **(spec or {})},
    }
    if state is not None:
        found["status"] = {"status": state, **(status or {})}
    return found


# -- query strings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "given", "expected"),
    [
        (JobsQuery, {"page": "0"}, "page: input should be greater than or equal to 1 (got '0')"),
        (JobsQuery, {"page": "two"}, "page: input should be a valid integer"),
        (JobsQuery, {"per_page": "501"}, "per_page: input should be less than or equal to 500"),
        (JobsQuery, {"status": "DONE"}, "status: must be one of SUBMITTED, PENDING, RUNNABLE"),
        (JobsQuery, {"namespace": "Team_A"}, "namespace: must be a Kubernetes name"),
        (JobsQuery, {"sort": "size"}, "sort: input should be 'newest' or 'oldest'"),
        (JobsQuery, {"colour": "red"}, "colour: is not a parameter of this page (it takes:"),
        (JobsQuery, {"name": "x" * 254}, "name: string should have at most 253 characters"),
        (LogQuery, {"attempt": "0"}, "attempt: input should be greater than or equal to 1"),
        (LogQuery, {"tail": "-5"}, "tail: input should be greater than or equal to 1"),
        (JobQuery, {"requested": "delete"}, "requested: input should be 'cancel' or 'terminate'"),
        (StopForm, {"token": "t"}, "reason: field required"),
        (StopForm, {"reason": "r", "token": "t", "index": "1-"}, "index: must be array indexes"),
    ],
)
def test_a_bad_query_names_the_field_and_the_rule(
    model: type[Any], given: dict[str, str], expected: str
) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_query(model, given)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_empty_values_mean_not_given_and_every_problem_is_listed() -> None:
    query = parse_query(JobsQuery, {"namespace": "", "status": " RUNNING ", "page": "3"})
    assert query.namespace is None
    assert query.status == "RUNNING"
    assert query.page == 3
    with pytest.raises(BadQuery) as caught:
        parse_query(JobsQuery, {"page": "0", "status": "x", "queue": "Q!"})
    assert [p.split(":")[0] for p in caught.value.problems] == ["queue", "status", "page"]


# -- dashboard ------------------------------------------------------------------------------


def test_bar_segments_follow_the_states_order_and_add_up() -> None:
    segments = views.bar({"FAILED": 1, "RUNNING": 2, "SUBMITTED": 1, "PENDING": 0})
    assert [(s.state, s.count, s.percent, s.offset) for s in segments] == [
        ("SUBMITTED", 1, 25.0, 0.0),
        ("RUNNING", 2, 50.0, 25.0),
        ("FAILED", 1, 25.0, 75.0),
    ]
    assert views.bar({}) == []
    assert views.counts_text({"RUNNING": 2, "FAILED": 1}) == "2 RUNNING, 1 FAILED"
    assert views.counts_text({}) == "no jobs"


def test_dashboard_orders_queues_by_priority_and_links_environments() -> None:
    queues = [
        {
            "metadata": {"name": name},
            "spec": {
                "priority": priority,
                "computeEnvironmentOrder": [
                    {"order": 2, "computeEnvironment": "spot"},
                    {"order": 1, "computeEnvironment": "ondemand"},
                ][: 2 if name == "high" else 1],
            },
            "status": {"status": "VALID", "jobCounts": {"RUNNING": 3, "SUCCEEDED": 1}},
        }
        for name, priority in (("low", 1), ("high", 100), ("also-low", 1))
    ]
    environments: list[dict[str, Any]] = [
        {
            "metadata": {"name": "spot"},
            "spec": {"type": "MANAGED", "computeResources": {"minvCpus": 0, "maxvCpus": 64}},
            "status": {"desiredvCpus": 8, "readyvCpus": 4, "nodesByType": {"m5.large": 2}},
        },
        {
            "metadata": {"name": "ondemand"},
            "spec": {"type": "UNMANAGED", "cluster": {"name": "east", "kubeconfigSecret": {}}},
        },
    ]
    view = views.dashboard(queues, environments, NOW)
    assert [q.name for q in view.queues] == ["high", "also-low", "low"]
    assert view.queues[0].environments == ["ondemand", "spot"]
    assert view.totals["RUNNING"] == 9
    assert view.totals["SUCCEEDED"] == 3
    spot = next(e for e in view.environments if e.name == "spot")
    assert (spot.desired_vcpus, spot.ready_vcpus, spot.max_vcpus) == ("8", "4", "64")
    assert spot.nodes == [("m5.large", 2)]
    assert spot.queues == ["high", "also-low", "low"]
    ondemand = next(e for e in view.environments if e.name == "ondemand")
    assert ondemand.queues == ["high"]
    assert (spot.cluster, ondemand.cluster) == ("", "east"), "a worker cluster's pool says so"


@pytest.mark.parametrize(
    ("spec", "status", "shown"),
    [
        (
            {"totalQuantity": 4},
            {"inUseQuantity": 1, "availableQuantity": 3, "observedGeneration": 1},
            (4, 1, 3, "25%"),
        ),
        (
            {"totalQuantity": 10, "resourceType": "NON_REPLENISHABLE"},
            {
                "inUseQuantity": 2,
                "consumedQuantity": 6,
                "availableQuantity": 2,
                "observedGeneration": 1,
            },
            (4, 2, 2, "50%"),
        ),
        ({"totalQuantity": 5}, {}, (5, 0, 5, "0%")),
    ],
    ids=["held_and_left", "used_up_units_leave_the_total", "before_the_operator_counted"],
)
def test_the_dashboard_counts_each_consumable_resource(
    spec: dict[str, Any], status: dict[str, Any], shown: tuple[int, int, int, str]
) -> None:
    resource = {"metadata": {"name": "seats"}, "spec": spec, "status": status}
    (row,) = views.dashboard([], [], NOW, [resource]).consumables
    assert (row.total, row.in_use, row.available, row.used) == shown


# -- jobs -----------------------------------------------------------------------------------


JOBS = [
    job("render-1", "RUNNING", created=50),
    job("render-2", "FAILED", created=40),
    job("encode", "RUNNABLE", queue="other", created=30),
    job("render-3", None, namespace="team-b", created=20),
    job(
        "sweep",
        "PENDING",
        created=10,
        spec={"arrayProperties": {"size": 10}},
        status={
            "arrayProperties": {
                "size": 10,
                "statusSummary": {"SUCCEEDED": 3, "FAILED": 1, "RUNNABLE": 6},
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({}, ["sweep", "render-3", "encode", "render-2", "render-1"]),
        ({"sort": "oldest"}, ["render-1", "render-2", "encode", "render-3", "sweep"]),
        ({"namespace": "team-b"}, ["render-3"]),
        ({"queue": "other"}, ["encode"]),
        ({"status": "SUBMITTED"}, ["render-3"]),
        ({"name": "RENDER"}, ["render-3", "render-2", "render-1"]),
        ({"name": "render", "status": "FAILED"}, ["render-2"]),
        ({"per_page": "2", "page": "2"}, ["encode", "render-2"]),
        ({"per_page": "2", "page": "99"}, ["render-1"]),
        ({"name": "nothing"}, []),
    ],
)
def test_job_list_filters_orders_and_pages(given: dict[str, str], names: list[str]) -> None:
    page = views.job_page(JOBS, parse_query(JobsQuery, given), NOW)
    assert [r.name for r in page.rows] == names


def test_a_page_past_the_last_shows_the_last_and_counts_every_match() -> None:
    page = views.job_page(JOBS, parse_query(JobsQuery, {"per_page": "2", "page": "99"}), NOW)
    assert (page.page, page.pages, page.total, page.first) == (3, 3, 5, 5)
    assert page.namespaces == ["team-a", "team-b"]
    assert page.queues == ["other", "q"]


def test_an_array_row_shows_its_childrens_progress() -> None:
    row = views.job_row(JOBS[-1], NOW)
    assert (row.size, row.done) == (10, 4)
    assert row.children_text == "6 RUNNABLE, 3 SUCCEEDED, 1 FAILED"
    fresh = views.job_row(job("new", None, spec={"arrayProperties": {"size": 5}}), NOW)
    assert fresh.children_text == "5 SUBMITTED"
    assert fresh.status == "SUBMITTED"
    assert views.job_row(JOBS[0], NOW).age == "50s"


def test_ten_thousand_jobs_build_only_the_rows_of_one_page() -> None:
    many = [job(f"job-{i:05d}", "RUNNABLE", created=i) for i in range(10_000)]
    page = views.job_page(many, parse_query(JobsQuery, {"page": "200"}), NOW)
    assert page.total == 10_000
    assert page.pages == 200
    assert len(page.rows) == 50
    assert page.rows[0].name == "job-09950"
    assert page.first == 9951


# -- job detail ------------------------------------------------------------------------------


QUEUE = {"metadata": {"name": "q"}, "spec": {"priority": 1}, "status": {}}


@pytest.mark.parametrize(
    ("subject", "others", "queue", "expected"),
    [
        (
            job("b", "PENDING", spec={"dependsOn": [{"jobName": "a"}, {"jobName": "gone"}]}),
            {"a": job("a", "RUNNING")},
            QUEUE,
            ["dependency a is RUNNING", "dependency gone is not submitted yet"],
        ),
        (
            job("b", "PENDING", spec={"dependsOn": [{"jobName": "arr:2"}]}),
            {
                "arr": job(
                    "arr",
                    "RUNNING",
                    status={
                        "arrayProperties": {
                            "size": 3,
                            "indexes": {"SUCCEEDED": "0-1", "RUNNING": "2"},
                        }
                    },
                )
            },
            QUEUE,
            ["dependency arr:2 is RUNNING"],
        ),
        (
            job("b", "PENDING", spec={"dependsOn": [{"jobName": "a"}]}),
            {"a": job("a", "SUCCEEDED")},
            QUEUE,
            ["PENDING: waiting"],
        ),
        (
            job("r", "RUNNABLE", status={"positionInQueue": 3, "statusReason": "no capacity"}),
            {},
            QUEUE,
            ["position 3 in job queue q", "no capacity"],
        ),
        (
            job("t", "RUNNABLE"),
            {},
            {**QUEUE, "status": {"waitingReason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"}},
            ["behind the numbered places of job queue q: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"],
        ),
        (job("s", None), {}, None, ["job queue q does not exist"]),
        (job("s", None), {}, QUEUE, ["not yet accepted by the operator"]),
        (
            job("s", "RUNNABLE"),
            {},
            {**QUEUE, "spec": {"priority": 1, "state": "DISABLED"}},
            ["job queue q is DISABLED"],
        ),
        (job("x", "RUNNING"), {}, QUEUE, []),
        (
            job(
                "arr",
                "PENDING",
                spec={"arrayProperties": {"size": 9}},
                status={
                    "arrayProperties": {"size": 9, "statusSummary": {"RUNNING": 4, "RUNNABLE": 5}}
                },
            ),
            {},
            QUEUE,
            ["5 children are RUNNABLE in job queue q, waiting for capacity"],
        ),
        (
            job(
                "arr",
                "PENDING",
                spec={"arrayProperties": {"size": 9}},
                status={"arrayProperties": {"size": 9, "statusSummary": {"RUNNING": 9}}},
            ),
            {},
            QUEUE,
            [],
        ),
    ],
)
def test_why_a_job_waits(
    subject: dict[str, Any], others: dict[str, Any], queue: Any, expected: list[str]
) -> None:
    assert views.job_detail(subject, others, queue, NOW).waits_for == expected


@pytest.mark.parametrize(
    ("state", "can_cancel", "can_terminate"),
    [
        ("SUBMITTED", True, True),
        ("PENDING", True, True),
        ("RUNNABLE", True, True),
        ("STARTING", False, True),
        ("RUNNING", False, True),
        ("SUCCEEDED", False, False),
        ("FAILED", False, False),
    ],
)
def test_cancel_is_offered_only_before_a_job_starts(
    state: str, can_cancel: bool, can_terminate: bool
) -> None:
    detail = views.job_detail(job("j", state), {}, QUEUE, NOW)
    assert (detail.can_cancel, detail.can_terminate) == (can_cancel, can_terminate)


def test_detail_lists_attempts_ranges_and_settings() -> None:
    subject = job(
        "arr",
        "RUNNING",
        spec={
            "arrayProperties": {"size": 6},
            "retryStrategy": {"attempts": 3},
            "timeout": {"attemptDurationSeconds": 120},
        },
        status={
            "arrayProperties": {
                "size": 6,
                "indexes": {"SUCCEEDED": "0-3", "RUNNING": "5", "FAILED": "4"},
            },
            "attempts": [
                {
                    "attempt": 2,
                    "arrayIndex": 4,
                    "podName": "arr-4-2",
                    "nodeName": "n1",
                    "startedAt": "2026-11-23T11:00:00Z",
                    "stoppedAt": "2026-11-23T11:01:05Z",
                    "exitCode": 1,
                    "statusReason": "Essential container in task exited",
                }
            ],
        },
    )
    detail = views.job_detail(subject, {}, QUEUE, NOW)
    assert detail.ranges == [("RUNNING", "5"), ("SUCCEEDED", "0-3"), ("FAILED", "4")]
    (attempt,) = detail.attempts
    assert (attempt.index, attempt.exit_code, attempt.took) == (4, "1", "1m05s")
    assert attempt.reason == "Essential container in task exited"
    assert (detail.retry, detail.timeout) == ("3 attempts", "120 s per attempt")
    assert views.child_state(subject, 5) == "RUNNING"
    assert views.child_state(subject, 2) == ("SUCCEEDED")


def pod(name: str, attempt: int, index: int | None = None, exit_code: int = 0) -> dict[str, Any]:
    labels = {"kubatch.io/attempt": str(attempt), "kubatch.io/compute-environment": "ce"}
    if index is not None:
        labels["kubatch.io/array-index"] = str(index)
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "startedAt": "2026-11-23T11:00:00Z",
                            "finishedAt": "2026-11-23T11:00:09Z",
                        }
                    }
                }
            ],
        },
    }


def test_an_attempt_is_read_from_its_pod() -> None:
    row = views.pod_attempt(pod("arr-3-2", 2, index=3, exit_code=137))
    assert (row.attempt, row.index, row.node, row.environment) == (2, 3, "node-1", "ce")
    assert (row.exit_code, row.reason, row.took) == ("137", "Error", "9s")


SINGLE = job("one", "SUCCEEDED")
ARRAY = job("arr", "RUNNING", spec={"arrayProperties": {"size": 4}})
PODS = [views.pod_attempt(p) for p in (pod("one-1", 1), pod("one-2", 2))]
CHILD_PODS = [views.pod_attempt(p) for p in (pod("arr-1-1", 1, index=1),)]


@pytest.mark.parametrize(
    ("subject", "attempt", "index", "pods", "expected"),
    [
        (SINGLE, None, None, PODS, ("one-2", "")),
        (SINGLE, 1, None, PODS, ("one-1", "")),
        (SINGLE, 3, None, PODS, (None, "one has no attempt 3")),
        (SINGLE, None, 0, PODS, (None, "one is not an array job: it has no index")),
        (ARRAY, None, None, CHILD_PODS, (None, "arr is an array job: choose a child (index 0-3)")),
        (ARRAY, None, 4, CHILD_PODS, (None, "arr has no child 4: its children are 0-3")),
        (ARRAY, None, 1, CHILD_PODS, ("arr-1-1", "")),
        (
            ARRAY,
            None,
            2,
            CHILD_PODS,
            (None, "arr child 2 has not started an attempt yet (the job is RUNNING)"),
        ),
    ],
)
def test_which_pods_log_is_shown(
    subject: dict[str, Any],
    attempt: int | None,
    index: int | None,
    pods: list[views.AttemptRow],
    expected: tuple[str | None, str],
) -> None:
    assert views.log_pod(subject, attempt, index, pods) == expected


# -- definitions and scheduled jobs -----------------------------------------------------------


def test_definitions_list_revisions_newest_first_with_deregistered_ones_inactive() -> None:
    definition = {
        "metadata": {"name": "work", "namespace": "team-a"},
        "spec": {
            "containerProperties": {"image": "busybox:2"},
            "deregisteredRevisions": [1],
        },
        "status": {"status": "VALID", "latestRevision": 2},
    }
    revisions = [
        {
            "metadata": {
                "name": f"work-{n}",
                "namespace": "team-a",
                "labels": {"kubatch.io/job-definition": "work"},
                "creationTimestamp": stamp(100 - n),
            },
            "revision": n,
            "data": {
                "containerProperties": {
                    "image": f"busybox:{n}",
                    "command": ["echo", str(n)],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "1"},
                        {"type": "MEMORY", "value": "256"},
                    ],
                }
            },
        }
        for n in (1, 2)
    ]
    (row,) = views.definitions([definition], revisions, None)
    assert (row.latest, row.image, row.status) == ("2", "busybox:2", "VALID")
    assert [(r.revision, r.active, r.command) for r in row.revisions] == [
        (2, True, "echo 2"),
        (1, False, "echo 1"),
    ]
    assert views.definitions([definition], revisions, "team-b") == []


def test_scheduled_jobs_show_next_run_and_the_jobs_they_submitted() -> None:
    scheduled = {
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris"},
        "status": {"nextScheduleTime": "2026-11-24T02:00:00Z", "active": ["nightly-1"]},
    }
    label = {"labels": {"kubatch.io/scheduled-job": "nightly"}}
    jobs = [
        job("nightly-0", "SUCCEEDED", created=86400, metadata=label),
        job("nightly-1", "RUNNING", created=60, metadata=label),
        job("other", "RUNNING"),
    ]
    (row,) = views.scheduled_jobs([scheduled], jobs, None, NOW)
    assert (row.schedule, row.time_zone, row.next_run) == (
        "0 3 * * *",
        "Europe/Paris",
        "2026-11-24T02:00:00Z",
    )
    assert [j.name for j in row.history] == ["nightly-1", "nightly-0"]
    assert row.active == ["nightly-1"]


# -- rendering -----------------------------------------------------------------------------


def job_page(detail: views.JobDetail) -> str:
    """A job's page as the console renders it (read-only)."""
    name = detail.row.name
    return (
        _environment()
        .get_template("job.html")
        .render(
            view=detail,
            child=None,
            requested="",
            path=f"/jobs/team-a/{name}",
            actions="none",
            token="t",
            kinds="",
            title=f"Job {name}",
        )
    )


def test_text_from_the_cluster_is_escaped_in_the_page() -> None:
    evil = job("j", "FAILED", status={"statusReason": "<script>alert(1)</script>"})
    detail = views.job_detail(evil, {}, QUEUE, NOW)
    html = job_page(detail)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_multi_node_jobs_page_lists_its_nodes_and_the_main_nodes_address() -> None:
    nodes = [
        {
            "nodeIndex": 0,
            "isMainNode": True,
            "status": "SUCCEEDED",
            "attempt": 1,
            "podName": "t-0-1",
            "nodeName": "n1",
            "exitCode": 0,
        },
        {
            "nodeIndex": 1,
            "status": "SUCCEEDED",
            "attempt": 1,
            "podName": "t-1-1",
            "nodeName": "n2",
            "statusReason": "the main node exited",
        },
    ]
    subject = job(
        "train",
        "SUCCEEDED",
        status={
            "nodeProperties": {
                "numNodes": 2,
                "mainNode": 0,
                "mainNodeAddress": "node-0.kubatch-abc.team-a.svc",
                "nodes": nodes,
            }
        },
    )
    detail = views.job_detail(subject, {}, QUEUE, NOW)
    assert [(n.index, n.main, n.pod, n.reason) for n in detail.nodes] == [
        (0, True, "t-0-1", ""),
        (1, False, "t-1-1", "the main node exited"),
    ]
    html = job_page(detail)
    assert "<code>node-0.kubatch-abc.team-a.svc</code>" in html
    assert '<tr data-node="1">' in html
    assert "0 (main)" in html


def test_an_attempt_without_a_pod_here_is_shown_from_the_status() -> None:
    """An attempt running in a worker cluster has no pod in the operator's cluster: its row
    comes from the job's status, its node naming the cluster."""
    from kubatch.api.batchjob import AttemptDetail

    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    running = AttemptDetail(
        attempt=1,
        pod_name="j-1",
        node_name="east:n1",
        compute_environment="far",
        started_at=started,
    )
    row = views.status_attempt(running)
    assert (row.attempt, row.pod, row.node, row.environment) == (1, "j-1", "east:n1", "far")
    assert (row.started, row.stopped, row.took) == ("2026-01-01T12:00:00Z", "", "")
    ended = running.model_copy(
        update={"stopped_at": started + timedelta(seconds=90), "exit_code": 3, "reason": "Error"}
    )
    row = views.status_attempt(ended)
    assert (row.stopped, row.exit_code, row.reason) == ("2026-01-01T12:01:30Z", "3", "Error")
    assert row.took
