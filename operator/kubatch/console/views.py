"""What each page of the console shows, computed from the objects the API holds: pure
functions (objects and the time in, view models out), tested without a server or a browser.
The words are AWS Batch's and the CLI's: job queue, compute environment, job definition,
revision, attempt, array index, and the job states SUBMITTED ... FAILED."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.batchjob import AttemptDetail, BatchJobStatus, NodeStatus, job_state
from ..api.common import JOB_STATES, NOT_STARTED, TERMINAL, JobStatus
from ..api.computeenvironment import ComputeEnvironmentStatus
from ..api.consumableresource import ConsumableResourceStatus
from ..api.jobdefinition import JobDefinitionStatus
from ..api.jobqueue import JobQueueStatus
from ..api.scheduledjob import ScheduledJobStatus
from ..api.times import age, duration, stamp
from ..core import parse_ranges
from ..keys import (
    LABEL_ARRAY_INDEX,
    LABEL_ATTEMPT,
    LABEL_COMPUTE_ENVIRONMENT,
    LABEL_DEFINITION,
    LABEL_KEPT_LOG,
    LABEL_SCHEDULED,
)
from .queries import JobsQuery

Obj = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Segment:
    state: str
    count: int
    percent: float
    offset: float
    """Where the segment starts (percent of the bar)."""


def bar(counts: Mapping[str, int]) -> list[Segment]:
    """The parts of a bar of jobs per state, in the states' order, empty states left out."""
    total = sum(counts.get(s, 0) for s in JOB_STATES)
    found: list[Segment] = []
    before = 0
    for s in JOB_STATES:
        count = counts.get(s, 0)
        if total and count > 0:
            found.append(
                Segment(
                    state=s,
                    count=count,
                    percent=round(100.0 * count / total, 3),
                    offset=round(100.0 * before / total, 3),
                )
            )
            before += count
    return found


def counts_text(counts: Mapping[str, int]) -> str:
    """ "2 RUNNING, 5 SUCCEEDED": the bar in words (what a screen reader says)."""
    parts = [f"{counts[s]} {s}" for s in JOB_STATES if counts.get(s, 0)]
    return ", ".join(parts) or "no jobs"


def job_status(job: Obj) -> str:
    return str(job_state(job))


# -- dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueRow:
    name: str
    priority: int
    state: str
    status: str
    reason: str
    environments: list[str]
    policy: str
    counts: dict[str, int]
    total: int
    bar: list[Segment]
    summary: str
    oldest_runnable: str
    waiting_reason: str = ""
    """Why the jobs behind the queue's numbered places wait (status.waitingReason)."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentRow:
    name: str
    type: str
    state: str
    status: str
    reason: str
    min_vcpus: str
    desired_vcpus: str
    ready_vcpus: str
    allocated_vcpus: str
    max_vcpus: str
    nodes: list[tuple[str, int]]
    queues: list[str]
    cluster: str = ""
    """The worker cluster whose nodes make the pool ("": the operator's own)."""


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    queues: list[QueueRow]
    environments: list[EnvironmentRow]
    totals: dict[str, int]
    totals_bar: list[Segment]
    consumables: list[ConsumableRow] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ConsumableRow:
    """A consumable resource: its units in all, held by running jobs, left."""

    name: str
    type: str
    total: int
    in_use: int
    available: int
    used: str
    """The share held, as a percentage ("50%")."""


def consumable_row(obj: Obj) -> ConsumableRow:
    spec, status = obj.get("spec") or {}, ConsumableResourceStatus.of(obj)
    total = max(int(spec.get("totalQuantity") or 0) - status.consumed_quantity, 0)
    written = status.observed_generation is not None
    available = status.available_quantity if written else total
    return ConsumableRow(
        name=obj["metadata"]["name"],
        type=str(spec.get("resourceType") or "REPLENISHABLE"),
        total=total,
        in_use=status.in_use_quantity,
        available=available,
        used=f"{round(100 * status.in_use_quantity / total)}%" if total else "",
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: float) -> str:
    """2 for 2.0, 0.5 for 0.5: a count of vCPUs as it was written."""
    return f"{value:g}"


def queue_row(queue: Obj, now: datetime) -> QueueRow:
    spec, status = queue.get("spec") or {}, JobQueueStatus.of(queue)
    written = status.job_counts.wire()
    counts = {s: int(written.get(s, 0)) for s in JOB_STATES}
    order = sorted(spec.get("computeEnvironmentOrder") or [], key=lambda o: int(o.get("order", 0)))
    return QueueRow(
        name=queue["metadata"]["name"],
        priority=int(spec.get("priority", 0)),
        state=str(spec.get("state", "ENABLED")),
        status=_text(status.status),
        reason=_text(status.status_reason),
        environments=[str(o.get("computeEnvironment")) for o in order],
        policy=_text(spec.get("schedulingPolicy")),
        counts=counts,
        total=sum(counts.values()),
        bar=bar(counts),
        summary=counts_text(counts),
        oldest_runnable=age(status.oldest_runnable_time, now),
        waiting_reason=_text(status.waiting_reason),
    )


def environment_row(env: Obj, queues: Iterable[QueueRow]) -> EnvironmentRow:
    spec, status = env.get("spec") or {}, ComputeEnvironmentStatus.of(env)
    written = bool(status.model_fields_set)
    resources = spec.get("computeResources") or {}
    name = env["metadata"]["name"]
    return EnvironmentRow(
        name=name,
        type=str(spec.get("type", "MANAGED")),
        state=str(spec.get("state", "ENABLED")),
        status=_text(status.status),
        reason=_text(status.status_reason),
        min_vcpus=_text(resources.get("minvCpus")),
        desired_vcpus=_number(status.desiredv_cpus) if written else "",
        ready_vcpus=_number(status.readyv_cpus) if written else "",
        allocated_vcpus=_number(status.allocatedv_cpus) if written else "",
        max_vcpus=_text(resources.get("maxvCpus")),
        nodes=sorted(status.nodes_by_type.items()),
        queues=[q.name for q in queues if name in q.environments],
        cluster=str((spec.get("cluster") or {}).get("name") or ""),
    )


def dashboard(
    queues: Iterable[Obj],
    environments: Iterable[Obj],
    now: datetime,
    consumables: Iterable[Obj] = (),
) -> Dashboard:
    """Queues by priority (highest first, then name), environments and consumable resources
    by name."""
    rows = sorted((queue_row(q, now) for q in queues), key=lambda r: (-r.priority, r.name))
    envs = sorted((environment_row(e, rows) for e in environments), key=lambda r: r.name)
    totals: Counter[str] = Counter()
    for row in rows:
        totals.update(row.counts)
    return Dashboard(
        queues=rows,
        environments=envs,
        totals={s: totals[s] for s in JOB_STATES},
        totals_bar=bar(totals),
        consumables=sorted((consumable_row(c) for c in consumables), key=lambda r: r.name),
    )


# -- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JobRow:
    namespace: str
    name: str
    status: str
    reason: str
    queue: str
    definition: str
    size: int | None
    """The array's size; None for a single job."""
    done: int
    children: dict[str, int]
    children_text: str
    bar: list[Segment]
    attempts: int
    created: str
    age: str


@dataclass(frozen=True, kw_only=True)
class JobPage:
    rows: list[JobRow]
    total: int
    """Jobs that pass the filters (on every page)."""
    page: int
    pages: int
    query: JobsQuery
    first: int
    """The 1-based number of the first row shown (0 when none)."""
    namespaces: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)


def job_row(job: Obj, now: datetime) -> JobRow:
    meta, spec, status = job["metadata"], job.get("spec") or {}, BatchJobStatus.of(job)
    size = (spec.get("arrayProperties") or {}).get("size")
    summary = status.array_properties.status_summary.wire() if status.array_properties else {}
    children = {s: int(summary.get(s, 0)) for s in JOB_STATES}
    if size is not None and not any(children.values()):
        children[JobStatus.SUBMITTED] = int(size)
    return JobRow(
        namespace=str(meta.get("namespace", "")),
        name=str(meta["name"]),
        status=str(status.status or JobStatus.SUBMITTED),
        reason=_text(status.status_reason),
        queue=str(spec.get("jobQueue", "")),
        definition=str(spec.get("jobDefinition", "")),
        size=None if size is None else int(size),
        done=children[JobStatus.SUCCEEDED] + children[JobStatus.FAILED],
        children=children if size is not None else {},
        children_text=counts_text(children) if size is not None else "",
        bar=bar(children) if size is not None else [],
        attempts=status.attempt_count,
        created=_text(meta.get("creationTimestamp")),
        age=age(meta.get("creationTimestamp"), now),
    )


def _matches(job: Obj, query: JobsQuery) -> bool:
    meta = job["metadata"]
    if query.namespace is not None and meta.get("namespace") != query.namespace:
        return False
    if query.queue is not None and (job.get("spec") or {}).get("jobQueue") != query.queue:
        return False
    if query.status is not None and job_status(job) != query.status.value:
        return False
    return query.name is None or query.name.lower() in str(meta["name"]).lower()


def job_page(jobs: Iterable[Obj], query: JobsQuery, now: datetime) -> JobPage:
    """The jobs that pass the filters, newest (or oldest) first, one page of them. Only the
    page's rows are built: the cost of the rest is a filter and a sort key each."""
    jobs = list(jobs)
    namespaces = sorted({str(j["metadata"].get("namespace", "")) for j in jobs})
    queues = sorted({str((j.get("spec") or {}).get("jobQueue", "")) for j in jobs})
    found = [j for j in jobs if _matches(j, query)]
    found.sort(
        key=lambda j: (
            j["metadata"].get("creationTimestamp") or "",
            j["metadata"].get("namespace", ""),
            j["metadata"]["name"],
        ),
        reverse=query.sort == "newest",
    )
    pages = max(math.ceil(len(found) / query.per_page), 1)
    page = min(query.page, pages)
    start = (page - 1) * query.per_page
    shown = found[start : start + query.per_page]
    return JobPage(
        rows=[job_row(j, now) for j in shown],
        total=len(found),
        page=page,
        pages=pages,
        query=query,
        first=start + 1 if shown else 0,
        namespaces=namespaces,
        queues=queues,
    )


# -- job detail ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Dependency:
    label: str
    namespace: str
    name: str | None
    """The job to link to; None for a SEQUENTIAL or N_TO_N dependency on its own children."""
    type: str
    state: str


@dataclass(frozen=True, kw_only=True)
class AttemptRow:
    attempt: int
    index: int | None
    pod: str
    node: str
    environment: str
    started: str
    stopped: str
    took: str
    exit_code: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class JobDetail:
    row: JobRow
    uid: str
    revision: str
    environment: str
    created: str
    started: str
    stopped: str
    position: int | None
    waits_for: list[str]
    """Why the job has not started, one line per blocker (empty once it runs)."""
    dependencies: list[Dependency]
    attempts: list[AttemptRow]
    ranges: list[tuple[str, str]]
    """(state, index ranges) of an array's children."""
    retry: str
    timeout: str
    can_cancel: bool
    can_terminate: bool
    cancel_requested: str
    terminate_requested: str
    nodes: list[NodeRow] = field(default_factory=list)
    """A multi-node job's nodes (the latest attempt of each)."""
    main_address: str = ""


@dataclass(frozen=True, kw_only=True)
class NodeRow:
    index: int
    main: bool
    status: str
    attempt: int
    pod: str
    node: str
    exit_code: str
    reason: str


def node_rows(nodes: NodeStatus | None) -> list[NodeRow]:
    """A multi-node job's nodes, as its status lists them."""
    return [
        NodeRow(
            index=n.node_index,
            main=n.is_main_node,
            status=str(n.status),
            attempt=n.attempt,
            pod=_text(n.pod_name),
            node=_text(n.node_name),
            exit_code=_text(n.exit_code),
            reason=_text(n.reason or n.status_reason),
        )
        for n in (nodes.nodes if nodes else [])
    ]


def waits_for(job: Obj, dependencies: Sequence[Dependency], queue: QueueRow | None) -> list[str]:
    """The blockers of a job that has not started: the dependencies not yet done, the
    queue or definition it is missing, its place in the queue and the reason it gives."""
    status = BatchJobStatus.of(job)
    state = status.status or JobStatus.SUBMITTED
    if state not in NOT_STARTED:
        return []
    spec = job.get("spec") or {}
    found: list[str] = []
    for dep in dependencies:
        if dep.state not in (JobStatus.SUCCEEDED,) and dep.name is not None:
            found.append(f"dependency {dep.label} is {dep.state}")
    if queue is None:
        found.append(f"job queue {spec.get('jobQueue')} does not exist")
    elif queue.state != "ENABLED":
        found.append(f"job queue {queue.name} is {queue.state}")
    if state == JobStatus.RUNNABLE and status.position_in_queue:
        found.append(f"position {status.position_in_queue} in job queue {spec.get('jobQueue')}")
    children = status.array_properties.status_summary.wire() if status.array_properties else {}
    started = sum(
        int(children.get(s, 0)) for s in (JobStatus.STARTING, JobStatus.RUNNING, *TERMINAL)
    )
    if started:
        # An array under way: its parent waits for the children still RUNNABLE.
        runnable = int(children.get(JobStatus.RUNNABLE, 0))
        if runnable:
            found.append(
                f"{runnable} children are RUNNABLE in job queue {spec.get('jobQueue')}, "
                "waiting for capacity"
            )
        return found
    if status.status_reason:
        found.append(status.status_reason)
    elif state == JobStatus.RUNNABLE and queue is not None and queue.waiting_reason:
        found.append(
            f"behind the numbered places of job queue {queue.name}: {queue.waiting_reason}"
        )
    if not found:
        found.append(
            "not yet accepted by the operator"
            if state == JobStatus.SUBMITTED
            else f"{state}: waiting"
        )
    return found


def _dependency(dep: Obj, namespace: str, jobs: Mapping[str, Obj]) -> Dependency:
    target = dep.get("jobName")
    kind = str(dep.get("type") or "")
    if not target:
        return Dependency(
            label="its own children",
            namespace=namespace,
            name=None,
            type=kind or "SEQUENTIAL",
            state="",
        )
    name, _, index = str(target).partition(":")
    found = jobs.get(name)
    if found is None:
        state = "not submitted yet"
    elif index.isdigit():
        state = child_state(found, int(index)) or job_status(found)
    else:
        state = job_status(found)
    return Dependency(label=str(target), namespace=namespace, name=name, type=kind, state=state)


def dependency_names(job: Obj) -> list[str]:
    """The jobs (by name) that `job` depends on: what its page looks up."""
    deps = (job.get("spec") or {}).get("dependsOn") or []
    return [str(d["jobName"]).partition(":")[0] for d in deps if d.get("jobName")]


def job_detail(
    job: Obj,
    dependencies: Mapping[str, Obj],
    queue: Obj | None,
    now: datetime,
) -> JobDetail:
    """A job's page; `dependencies` holds the jobs of `dependency_names(job)` that exist."""
    meta, spec, status = job["metadata"], job.get("spec") or {}, BatchJobStatus.of(job)
    namespace = str(meta.get("namespace", ""))
    deps = [_dependency(d, namespace, dependencies) for d in spec.get("dependsOn") or []]
    queue_view = queue_row(queue, now) if queue is not None else None
    attempts = [
        AttemptRow(
            attempt=a.attempt,
            index=a.array_index,
            pod=_text(a.pod_name),
            node=_text(a.node_name),
            environment=_text(a.compute_environment),
            started=stamp(a.started_at),
            stopped=stamp(a.stopped_at),
            took=duration(a.started_at, a.stopped_at),
            exit_code=_text(a.exit_code),
            reason=_text(a.reason or a.status_reason),
        )
        for a in status.attempts
    ]
    indexes = status.array_properties.indexes if status.array_properties else {}
    ranges = sorted(
        ((str(s), str(r)) for s, r in indexes.items()),
        key=lambda p: JOB_STATES.index(p[0]) if p[0] in JOB_STATES else len(JOB_STATES),
    )
    retry = spec.get("retryStrategy") or {}
    timeout = (spec.get("timeout") or {}).get("attemptDurationSeconds")
    state = status.status or JobStatus.SUBMITTED
    return JobDetail(
        row=job_row(job, now),
        uid=str(meta.get("uid", "")),
        revision=_text(status.job_definition_revision),
        environment=_text(status.compute_environment),
        created=_text(meta.get("creationTimestamp")),
        started=stamp(status.started_at),
        stopped=stamp(status.stopped_at),
        position=status.position_in_queue,
        waits_for=waits_for(job, deps, queue_view),
        dependencies=deps,
        attempts=attempts,
        ranges=ranges,
        retry=f"{retry['attempts']} attempts" if retry.get("attempts") else "",
        timeout=f"{timeout} s per attempt" if timeout else "",
        can_cancel=state in NOT_STARTED,
        can_terminate=state not in TERMINAL,
        cancel_requested=_text((spec.get("cancel") or {}).get("reason")),
        terminate_requested=_text((spec.get("terminate") or {}).get("reason")),
        nodes=node_rows(status.node_properties),
        main_address=_text(status.node_properties and status.node_properties.main_node_address),
    )


def pod_attempt(pod: Obj) -> AttemptRow:
    """An attempt as its pod tells it (array children that succeeded at once are not
    listed in the job's status, to keep it small: their pods are)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    labels = meta.get("labels") or {}
    container: Obj = next(iter(status.get("containerStatuses") or []), {})
    states = container.get("state") or {}
    ended = states.get("terminated") or {}
    began = ended or states.get("running") or {}
    index = labels.get(LABEL_ARRAY_INDEX)
    return AttemptRow(
        attempt=int(labels.get(LABEL_ATTEMPT, 0) or 0),
        index=int(index) if index is not None and str(index).isdigit() else None,
        pod=str(meta["name"]),
        node=_text(spec.get("nodeName")),
        environment=_text(labels.get(LABEL_COMPUTE_ENVIRONMENT)),
        started=_text(began.get("startedAt")),
        stopped=_text(ended.get("finishedAt")),
        took=duration(began.get("startedAt"), ended.get("finishedAt")),
        exit_code=_text(ended.get("exitCode")),
        reason=_text(ended.get("reason") or status.get("reason") or status.get("phase")),
    )


def status_attempt(detail: AttemptDetail) -> AttemptRow:
    """An attempt as the job's status tells it: one whose pod is not in this cluster (it runs
    in a worker cluster, its node named `<cluster>:<node>`) still has its row."""
    return AttemptRow(
        attempt=detail.attempt,
        index=detail.array_index,
        pod=detail.pod_name or "",
        node=_text(detail.node_name),
        environment=_text(detail.compute_environment),
        started=stamp(detail.started_at),
        stopped=stamp(detail.stopped_at),
        took=duration(detail.started_at, detail.stopped_at) if detail.stopped_at else "",
        exit_code=_text(detail.exit_code),
        reason=_text(detail.reason or detail.status_reason),
    )


def kept_attempt(configmap: Obj) -> AttemptRow:
    """An attempt whose pod is gone, as the ConfigMap that keeps its log tells it (labelled
    as its pod was)."""
    labels = configmap["metadata"].get("labels") or {}
    index = labels.get(LABEL_ARRAY_INDEX)
    return AttemptRow(
        attempt=int(labels.get(LABEL_ATTEMPT, 0) or 0),
        index=int(index) if index is not None and str(index).isdigit() else None,
        pod=str(labels.get(LABEL_KEPT_LOG) or configmap["metadata"]["name"]),
        node="",
        environment=_text(labels.get(LABEL_COMPUTE_ENVIRONMENT)),
        started="",
        stopped="",
        took="",
        exit_code="",
        reason="pod gone, log kept",
    )


def child_problem(job: Obj, index: int | None) -> str:
    """Why `index` does not name a child of the job (empty when it does)."""
    name = job["metadata"]["name"]
    size = int(((job.get("spec") or {}).get("arrayProperties") or {}).get("size") or 0)
    if size and index is None:
        return f"{name} is an array job: choose a child (index 0-{size - 1})"
    if index is not None and not size:
        return f"{name} is not an array job: it has no index"
    if index is not None and index >= size:
        return f"{name} has no child {index}: its children are 0-{size - 1}"
    return ""


def child_state(job: Obj, index: int) -> str:
    """A child's state, read from the parent's index ranges."""
    array = BatchJobStatus.of(job).array_properties
    ranges = array.indexes if array else {}
    return next((str(s) for s, text in ranges.items() if index in parse_ranges(str(text))), "")


def log_pod(
    job: Obj, attempt: int | None, index: int | None, pods: Sequence[AttemptRow]
) -> tuple[str | None, str]:
    """The pod of the chosen attempt (the latest when none is chosen) among the pods of the
    job or of its child `index`, or None and the reason there is none (the words of
    `kubatch logs`)."""
    problem = child_problem(job, index)
    if problem:
        return None, problem
    which = job["metadata"]["name"] + (f" child {index}" if index is not None else "")
    mine = [p for p in pods if p.index == index]
    if attempt is not None:
        mine = [p for p in mine if p.attempt == attempt]
        if not mine:
            return None, f"{which} has no attempt {attempt}"
    if not mine:
        return None, f"{which} has not started an attempt yet (the job is {job_status(job)})"
    return max(mine, key=lambda p: p.attempt).pod, ""


# -- definitions and scheduled jobs ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RevisionRow:
    revision: int
    created: str
    active: bool
    image: str
    vcpus: str
    memory: str
    command: str


@dataclass(frozen=True, kw_only=True)
class DefinitionRow:
    namespace: str
    name: str
    type: str
    status: str
    reason: str
    latest: str
    image: str
    revisions: list[RevisionRow]


def _container_summary(spec: Obj) -> tuple[str, str, str, str]:
    container = spec.get("containerProperties") or {}
    requirements = {
        str(r.get("type")): str(r.get("value")) for r in container.get("resourceRequirements") or []
    }
    command = " ".join(str(c) for c in container.get("command") or [])
    return (
        _text(container.get("image")),
        requirements.get("VCPU", ""),
        requirements.get("MEMORY", ""),
        command,
    )


def definitions(
    items: Iterable[Obj], revisions: Iterable[Obj], namespace: str | None
) -> list[DefinitionRow]:
    """Job definitions with their revisions (newest first), from the ControllerRevisions the
    operator keeps for them."""
    by_definition: dict[tuple[str, str], list[Obj]] = {}
    for r in revisions:
        labels = r["metadata"].get("labels") or {}
        key = (str(r["metadata"].get("namespace", "")), str(labels.get(LABEL_DEFINITION, "")))
        by_definition.setdefault(key, []).append(r)
    rows = []
    for d in items:
        meta, spec, status = d["metadata"], d.get("spec") or {}, JobDefinitionStatus.of(d)
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        inactive = {int(n) for n in spec.get("deregisteredRevisions") or []}
        found = []
        for r in by_definition.get((str(meta.get("namespace", "")), str(meta["name"])), []):
            number = int(r.get("revision", 0))
            image, vcpus, memory, command = _container_summary(r.get("data") or {})
            found.append(
                RevisionRow(
                    revision=number,
                    created=_text(r["metadata"].get("creationTimestamp")),
                    active=number not in inactive,
                    image=image,
                    vcpus=vcpus,
                    memory=memory,
                    command=command,
                )
            )
        found.sort(key=lambda r: -r.revision)
        rows.append(
            DefinitionRow(
                namespace=str(meta.get("namespace", "")),
                name=str(meta["name"]),
                type=str(spec.get("type", "container")),
                status=_text(status.status),
                reason=_text(status.status_reason),
                latest=_text(status.latest_revision),
                image=_container_summary(spec)[0],
                revisions=found,
            )
        )
    return sorted(rows, key=lambda r: (r.namespace, r.name))


@dataclass(frozen=True, kw_only=True)
class ScheduledRow:
    namespace: str
    name: str
    schedule: str
    time_zone: str
    suspended: bool
    concurrency: str
    status: str
    reason: str
    last_run: str
    next_run: str
    active: list[str]
    history: list[JobRow]


def scheduled_jobs(
    items: Iterable[Obj], jobs: Iterable[Obj], namespace: str | None, now: datetime
) -> list[ScheduledRow]:
    """Scheduled jobs with their next run and the jobs they submitted (newest first)."""
    submitted: dict[tuple[str, str], list[Obj]] = {}
    for job in jobs:
        owner = (job["metadata"].get("labels") or {}).get(LABEL_SCHEDULED)
        if owner:
            key = (str(job["metadata"].get("namespace", "")), str(owner))
            submitted.setdefault(key, []).append(job)
    rows = []
    for s in items:
        meta, spec, status = s["metadata"], s.get("spec") or {}, ScheduledJobStatus.of(s)
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        history = sorted(
            submitted.get((str(meta.get("namespace", "")), str(meta["name"])), []),
            key=lambda j: str(j["metadata"].get("creationTimestamp") or ""),
            reverse=True,
        )
        rows.append(
            ScheduledRow(
                namespace=str(meta.get("namespace", "")),
                name=str(meta["name"]),
                schedule=_text(
                    spec.get("schedule") or (f"at {spec['at']}" if spec.get("at") else "")
                ),
                time_zone=_text(spec.get("timeZone") or "UTC"),
                suspended=bool(spec.get("suspend")),
                concurrency=str(spec.get("concurrencyPolicy", "Allow")),
                status=_text(status.status),
                reason=_text(status.status_reason),
                last_run=stamp(status.last_schedule_time),
                next_run=stamp(status.next_schedule_time),
                active=list(status.active),
                history=[job_row(j, now) for j in history[:20]],
            )
        )
    return sorted(rows, key=lambda r: (r.namespace, r.name))
