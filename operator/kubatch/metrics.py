"""Prometheus metrics, in one place. Names follow Prometheus conventions: the kubatch_
prefix, base units (seconds), _total for counters, and no per-job labels (queues and
environments are few; jobs are many)."""

from __future__ import annotations

import platform
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from . import __version__
from .api.common import JobStatus
from .core import Telemetry

REGISTRY = CollectorRegistry()

_WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
_RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_PASS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

JOBS = Gauge(
    "kubatch_jobs",
    "Jobs per queue and state (array children counted one by one).",
    ["queue", "status"],
    registry=REGISTRY,
)
SUBMITTED = Counter(
    "kubatch_jobs_submitted_total", "Jobs submitted, by queue.", ["queue"], registry=REGISTRY
)
FINISHED = Counter(
    "kubatch_jobs_finished_total",
    "Jobs that ended, by queue and outcome.",
    ["queue", "outcome"],
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "kubatch_attempts_total",
    "Attempts started (pods created), by queue.",
    ["queue"],
    registry=REGISTRY,
)
WAIT = Histogram(
    "kubatch_job_wait_seconds",
    "Time work waited RUNNABLE before it was placed.",
    ["queue"],
    buckets=_WAIT_BUCKETS,
    registry=REGISTRY,
)
RUN = Histogram(
    "kubatch_job_run_seconds",
    "Time an attempt ran.",
    ["queue"],
    buckets=_RUN_BUCKETS,
    registry=REGISTRY,
)
STEP = Histogram(
    "kubatch_scheduling_pass_seconds",
    "Time of one step of the scheduling loop.",
    buckets=_PASS_BUCKETS,
    registry=REGISTRY,
)
LONGEST_STEP = Gauge(
    "kubatch_scheduling_pass_longest_seconds",
    "The longest step of the scheduling loop since the operator started.",
    registry=REGISTRY,
)


_longest = [0.0]


def observe_step(seconds: float) -> None:
    STEP.observe(seconds)
    if seconds > _longest[0]:
        _longest[0] = seconds
        LONGEST_STEP.set(seconds)


ENV_VCPUS = Gauge(
    "kubatch_compute_environment_vcpus",
    "vCPUs of a compute environment.",
    ["environment", "kind"],
    registry=REGISTRY,
)
ENV_NODES = Gauge(
    "kubatch_compute_environment_nodes",
    "Nodes of a compute environment.",
    ["environment", "kind"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "kubatch_api_requests_total", "Requests to the Kubernetes API.", registry=REGISTRY
)
API_CALLS = Counter(
    "kubatch_api_calls_total",
    "Requests to the Kubernetes API by verb and resource (pods, batchjobs/status, ...).",
    ["verb", "resource"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "kubatch_api_errors_total", "Requests to the Kubernetes API that failed.", registry=REGISTRY
)
API_RETRIES = Counter(
    "kubatch_api_retries_total", "Requests to the Kubernetes API retried.", registry=REGISTRY
)
EVENTS_DROPPED = Counter(
    "kubatch_events_dropped_total",
    "Kubernetes Events not posted (too many waiting).",
    registry=REGISTRY,
)
WORKER_CLUSTER_UP = Gauge(
    "kubatch_worker_cluster_up",
    "1 while a worker cluster answers and takes the operator's credentials, 0 while not.",
    ["cluster"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "kubatch_leader", "1 while this instance is the one that schedules.", registry=REGISTRY
)
BUILD = Gauge(
    "kubatch_build_info",
    "Always 1; the labels say what runs.",
    ["version", "python"],
    registry=REGISTRY,
)
BUILD.labels(__version__, platform.python_version()).set(1)


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics (a thread of prometheus_client)."""
    start_http_server(port, addr=address, registry=REGISTRY)


_known_envs: set[str] = set()
_known_queues: set[str] = set()


def record(telemetry: Telemetry) -> None:
    for queue, count in telemetry.submitted.items():
        SUBMITTED.labels(queue).inc(count)
    for (queue, outcome), count in telemetry.finished.items():
        FINISHED.labels(queue, outcome).inc(count)
    for queue, count in telemetry.attempts.items():
        ATTEMPTS.labels(queue).inc(count)
    for queue, seconds in telemetry.waits:
        WAIT.labels(queue).observe(seconds)
    for queue, seconds in telemetry.runs:
        RUN.labels(queue).observe(seconds)
    for queue in _known_queues - telemetry.queue_counts.keys():
        for status in JobStatus:
            JOBS.labels(queue, status.value).set(0)
    for queue, counts in telemetry.queue_counts.items():
        _known_queues.add(queue)
        for status in JobStatus:
            JOBS.labels(queue, status.value).set(counts[status])
    for gone in _known_envs - telemetry.environments.keys():
        for kind in ("desired", "ready", "allocated"):
            ENV_VCPUS.remove(gone, kind)
        for kind in ("desired", "ready"):
            ENV_NODES.remove(gone, kind)
        _known_envs.discard(gone)
    for name, values in telemetry.environments.items():
        _known_envs.add(name)
        for kind in ("desired", "ready", "allocated"):
            ENV_VCPUS.labels(name, kind).set(values[f"{kind}_vcpus"])
        for kind in ("desired", "ready"):
            ENV_NODES.labels(name, kind).set(values[f"{kind}_nodes"])


def record_api(
    requests: int, errors: int, retries: int, calls: Mapping[tuple[str, str], int]
) -> None:
    """Increments since the last call."""
    for (verb, resource), count in calls.items():
        API_CALLS.labels(verb, resource).inc(count)
    API_REQUESTS.inc(requests)
    API_ERRORS.inc(errors)
    API_RETRIES.inc(retries)
