"""An in-memory world of job records for core tests: jobs by name, a clock the test moves,
and the controller's bookkeeping reduced to a few verbs (place, run, finish, lose)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubatch.api import BatchJobSpec, JobDefinitionSpec, JobStatus
from kubatch.core.jobs.attempts import Action, CreatePod, PodObservation, PodPhase, StopPod
from kubatch.core.jobs.definitions import (
    Refused,
    ResolvedJob,
    Revision,
    Unresolved,
    resolve_job,
    resolve_revision,
)
from kubatch.core.jobs.dependencies import jobs_in_cycles
from kubatch.core.jobs.record import JobRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "containerProperties": {
        "image": "busybox",
        "command": ["echo", "Ref::greeting"],
        "resourceRequirements": [
            {"type": "VCPU", "value": "1"},
            {"type": "MEMORY", "value": "512"},
        ],
    },
    "parameters": {"greeting": "hello"},
}


@dataclass
class World:
    now: datetime = T0
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    definitions: dict[str, list[Revision]] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    _uids: int = 0

    # -- DependencyView ----------------------------------------------------------------

    def status_of(self, name: str) -> JobStatus | None:
        record = self.jobs.get(name)
        return record.status if record else None

    def size_of(self, name: str) -> int | None:
        record = self.jobs.get(name)
        return record.size if record else None

    def child_status_of(self, name: str, index: int) -> JobStatus | None:
        record = self.jobs.get(name)
        return record.child_status(index) if record else None

    # -- set-up ------------------------------------------------------------------------

    def define(self, name: str = "def", **overrides: Any) -> Revision:
        revisions = self.definitions.setdefault(name, [])
        spec = JobDefinitionSpec.model_validate({**DEFINITION, **overrides})
        revision = Revision(len(revisions) + 1, spec)
        revisions.append(revision)
        return revision

    def resolution(self, record: JobRecord) -> ResolvedJob | Unresolved | Refused:
        cycle = jobs_in_cycles({n: r.spec.depends_on for n, r in self.jobs.items()}).get(
            record.name
        )
        if cycle is not None:
            return Refused(cycle)
        found = resolve_revision(
            record.definition_ref(),
            self.definitions.get(record.spec.job_definition.partition(":")[0]),
        )
        if not isinstance(found, Revision):
            return found
        return resolve_job(record.spec, found)

    def submit(self, name: str, *, evaluate: bool = True, **spec: Any) -> JobRecord:
        if "def" not in self.definitions:
            self.define()
        body = {"jobQueue": "q", "jobDefinition": "def", **spec}
        self._uids += 1
        record = JobRecord(
            namespace="default",
            name=name,
            uid=f"uid-{self._uids:04d}-x",
            spec=BatchJobSpec.model_validate(body),
            created_at=self.now,
        )
        self.jobs[name] = record
        if evaluate:
            self.settle()
        return record

    def settle(self, indexes: Iterable[int] | None = None) -> None:
        """Evaluate every unfinished job until nothing changes (dependents follow)."""
        for _ in range(len(self.jobs) + 2):
            before = self._snapshot()
            for record in self.jobs.values():
                self.actions += record.evaluate(self.now, self, self.resolution(record), indexes)
            if self._snapshot() == before:
                return

    def _snapshot(self) -> list[tuple[str, tuple[JobStatus, ...]]]:
        return [(n, tuple(c.status for c in r.children)) for n, r in self.jobs.items()]

    # -- the life of an attempt --------------------------------------------------------

    def advance(self, seconds: float) -> list[Action]:
        self.now += timedelta(seconds=seconds)
        found: list[Action] = []
        for record in self.jobs.values():
            found += record.check_timeouts(self.now)
        self.actions += found
        return found

    def place(self, name: str, *, index: int | None = None, ce: str = "ce1") -> CreatePod:
        actions = self.jobs[name].place(index, ce, self.now)
        self.actions += actions
        (create,) = [a for a in actions if isinstance(a, CreatePod)]
        return create

    def _current(self, name: str, index: int | None) -> tuple[str, int]:
        attempt = self.jobs[name].child(index).current
        assert attempt is not None, f"{name}[{index}] has no attempt in flight"
        return attempt.pod_name, attempt.number

    def observe(self, name: str, index: int | None, phase: PodPhase, **facts: Any) -> list[Action]:
        pod, number = self._current(name, index)
        obs = PodObservation(
            pod_name=pod, index=index, attempt=number, phase=phase, node_name="node-1", **facts
        )
        actions = self.jobs[name].observe(obs, self.now)
        self.actions += actions
        self.settle()
        return actions

    def run(self, name: str, *, index: int | None = None) -> None:
        self.observe(name, index, PodPhase.RUNNING, started_at=self.now)

    def finish(
        self, name: str, exit_code: int = 0, *, index: int | None = None, **facts: Any
    ) -> None:
        phase = PodPhase.SUCCEEDED if exit_code == 0 and not facts else PodPhase.FAILED
        self.observe(name, index, phase, exit_code=exit_code, finished_at=self.now, **facts)

    def lose(self, name: str, *, index: int | None = None) -> None:
        self.observe(name, index, PodPhase.GONE)

    def complete(self, name: str, exit_code: int = 0, *, index: int | None = None) -> None:
        """Place, run and finish one attempt."""
        self.place(name, index=index)
        self.run(name, index=index)
        self.finish(name, exit_code, index=index)

    def request(
        self, name: str, kind: str, reason: str, indexes: str | None = None
    ) -> list[Action]:
        """The user sets spec.cancel or spec.terminate."""
        record = self.jobs[name]
        body = {**record.spec.wire(), kind: {"reason": reason}}
        if indexes is not None:
            body[kind]["arrayIndexes"] = indexes
        actions = record.update_spec(BatchJobSpec.model_validate(body), self.now)
        self.actions += actions
        self.settle()
        return actions

    def stops(self) -> list[StopPod]:
        return [a for a in self.actions if isinstance(a, StopPod)]
