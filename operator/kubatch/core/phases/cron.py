"""The cron phase of a step: ScheduledJobs submit BatchJobs when their time comes.

For each ScheduledJob it works out the run that is due (cron in a time zone, or a single
`at`), applies the concurrency policy and the starting deadline, creates the run's BatchJob,
trims the history to its limits and writes the ScheduledJob's status. It returns effects
and events; it changes nothing but the ScheduledJobs' own state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from croniter import croniter

from ...api import API_VERSION, BATCHJOBS, SCHEDULEDJOBS
from ...api.common import DNS_LABEL_MAX, JobStatus
from ...api.scheduledjob import ConcurrencyPolicy
from ...keys import ANNOTATION_SCHEDULED_AT, LABEL_SCHEDULED
from ..outbox.effects import CreateObject, DeleteObject, Effect, PatchObject, event_reference
from ..outbox.statuses import StatusBook, timestamp, validity
from ..state.objects import CronState, JobKey, JobState
from ..state.store import Store

T_MIN = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class CronWork:
    effects: list[Effect] = field(default_factory=list)
    events: list[tuple[Any, Literal["Normal", "Warning"], str, str]] = field(default_factory=list)
    """(object, type, reason, message)"""


def _zone(state: CronState) -> ZoneInfo:
    assert state.model is not None
    return ZoneInfo(state.model.spec.time_zone or "UTC")


def next_run(state: CronState) -> datetime | None:
    """When the schedule runs next (after its last run)."""
    if state.model is None or state.model.spec.suspend:
        return None
    spec = state.model.spec
    if spec.at is not None:
        at = spec.at if spec.at.tzinfo else spec.at.replace(tzinfo=_zone(state))
        return at if state.last is None else None
    assert spec.schedule is not None
    start = (state.last or state.created).astimezone(_zone(state))
    found: datetime = croniter(spec.schedule, start).get_next(datetime)
    return found


def due_run(state: CronState, now: datetime) -> datetime | None:
    """The latest run time not yet acted on, at or before now."""
    assert state.model is not None
    spec = state.model.spec
    if spec.at is not None:
        at = next_run(state)
        return at if at is not None and at <= now else None
    assert spec.schedule is not None
    latest: datetime = croniter(
        spec.schedule, now.astimezone(_zone(state)) + timedelta(seconds=1)
    ).get_prev(datetime)
    while latest > now:
        latest = croniter(spec.schedule, latest).get_prev(datetime)
    start = state.last or state.created
    return latest if latest > start else None


class Cron:
    def __init__(self, store: Store, book: StatusBook) -> None:
        self.store = store
        self.book = book

    def next_wake(self) -> datetime | None:
        return min(
            (t for s in self.store.crons.values() if (t := next_run(s)) is not None), default=None
        )

    def run(self, now: datetime) -> CronWork:
        work = CronWork()
        for key, state in self.store.crons.items():
            if state.model is None:
                self.book.want(
                    SCHEDULEDJOBS,
                    state.obj,
                    validity(state.obj, SCHEDULEDJOBS, False, state.reason, now, self.book),
                )
                continue
            children = [
                self.store.jobs[k]
                for k in sorted(self.store.cron_children.get(key, ()))
                if k in self.store.jobs
            ]
            self._due(key, state, children, now, work)
            self._trim_history(key, state, children, work)
            self._status(state, children, now)
        return work

    def _due(
        self, key: JobKey, state: CronState, children: list[JobState], now: datetime, work: CronWork
    ) -> None:
        assert state.model is not None
        spec = state.model.spec
        active = [c for c in children if c.record is not None and not c.record.terminal]
        due = None if spec.suspend else due_run(state, now)
        if due is None:
            return
        late = (now - due).total_seconds()
        if spec.starting_deadline_seconds is not None and late > spec.starting_deadline_seconds:
            state.last = due
            message = f"the run of {due.isoformat()} was missed by {late:.0f}s"
            work.events.append((state.obj, "Warning", "MissedSchedule", message))
            return
        if spec.concurrency_policy == ConcurrencyPolicy.FORBID and active:
            note = f"forbid-{due.isoformat()}"
            if note not in state.warned:
                state.warned.add(note)
                message = (
                    f"the run of {due.isoformat()} waits: {active[0].obj['metadata']['name']} "
                    "has not finished (concurrencyPolicy Forbid)"
                )
                work.events.append((state.obj, "Normal", "JobAlreadyActive", message))
            return
        if spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
            for child in active:
                reason = "replaced by the run of " + due.isoformat()
                work.effects.append(
                    PatchObject(
                        api_version=API_VERSION,
                        plural=BATCHJOBS,
                        namespace=key[0],
                        name=child.obj["metadata"]["name"],
                        patch={"spec": {"terminate": {"reason": reason}}},
                    )
                )
        self._start(key, state, due, work)

    def _start(self, key: JobKey, state: CronState, due: datetime, work: CronWork) -> None:
        assert state.model is not None
        template = state.model.spec.job_template
        suffix = str(int(due.timestamp()) // 60)
        name = f"{key[1][: DNS_LABEL_MAX - len(suffix) - 1]}-{suffix}"
        labels = dict(template.metadata.labels) if template.metadata else {}
        annotations = dict(template.metadata.annotations) if template.metadata else {}
        owner = {**event_reference(state.obj, API_VERSION), "controller": True}
        owner.pop("namespace", None)
        body = {
            "apiVersion": API_VERSION,
            "kind": "BatchJob",
            "metadata": {
                "name": name,
                "namespace": key[0],
                "labels": {**labels, LABEL_SCHEDULED: key[1]},
                "annotations": {**annotations, ANNOTATION_SCHEDULED_AT: due.isoformat()},
                "ownerReferences": [{**owner, "blockOwnerDeletion": True}],
            },
            "spec": template.spec.wire(),
        }
        work.effects.append(
            CreateObject(api_version=API_VERSION, plural=BATCHJOBS, namespace=key[0], body=body)
        )
        state.last = due
        message = f"created BatchJob {name} for {due.isoformat()}"
        work.events.append((state.obj, "Normal", "SuccessfulCreate", message))

    def _trim_history(
        self, key: JobKey, state: CronState, children: list[JobState], work: CronWork
    ) -> None:
        assert state.model is not None
        spec = state.model.spec
        for outcome, limit in (
            (JobStatus.SUCCEEDED, spec.successful_jobs_history_limit),
            (JobStatus.FAILED, spec.failed_jobs_history_limit),
        ):
            ended = [c for c in children if c.record is not None and c.record.status == outcome]
            ended.sort(
                key=lambda c: c.record.stopped_at if c.record and c.record.stopped_at else T_MIN
            )
            for old in ended[: max(0, len(ended) - limit)]:
                name = old.obj["metadata"]["name"]
                if name not in state.deleting:
                    state.deleting.add(name)
                    work.effects.append(
                        DeleteObject(
                            api_version=API_VERSION, plural=BATCHJOBS, namespace=key[0], name=name
                        )
                    )

    def _status(self, state: CronState, children: list[JobState], now: datetime) -> None:
        status = validity(state.obj, SCHEDULEDJOBS, True, None, now, self.book)
        status["active"] = [
            c.obj["metadata"]["name"]
            for c in children
            if c.record is not None and not c.record.terminal
        ]
        if state.last is not None:
            status["lastScheduleTime"] = timestamp(state.last)
        succeeded = [
            c.record.stopped_at
            for c in children
            if c.record is not None
            and c.record.status == JobStatus.SUCCEEDED
            and c.record.stopped_at
        ]
        if succeeded:
            status["lastSuccessfulTime"] = timestamp(max(succeeded))
        upcoming = next_run(state)
        if upcoming is not None:
            status["nextScheduleTime"] = timestamp(upcoming)
        self.book.want(SCHEDULEDJOBS, state.obj, status)
