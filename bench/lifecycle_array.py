"""Time and memory to advance one 10,000-child array job through its whole life in core.

Every child is placed, started and finished (10% fail once and are retried), the status is
rendered every 1,000 events as the controller would, and a restart from the final status is
timed. Prints one JSON object. Usage: python -m bench.lifecycle_array [size]
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from kubatch.api import BatchJobSpec, JobDefinitionSpec
from kubatch.core.jobs.attempts import PodObservation, PodPhase
from kubatch.core.jobs.definitions import ResolvedJob, Revision, resolve_job
from kubatch.core.jobs.persistence import job_status, restore_record
from kubatch.core.jobs.record import JobRecord

DEFINITION = JobDefinitionSpec.model_validate(
    {
        "containerProperties": {
            "image": "busybox",
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "512"},
            ],
        },
        "retryStrategy": {"attempts": 2},
    }
)


class NoDependencies:
    def status_of(self, name: str) -> None:
        return None

    def size_of(self, name: str) -> None:
        return None

    def child_status_of(self, name: str, index: int) -> None:
        return None


def run(size: int) -> dict[str, object]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    spec = BatchJobSpec.model_validate(
        {"jobQueue": "q", "jobDefinition": "d", "arrayProperties": {"size": size}}
    )
    resolved = resolve_job(spec, Revision(1, DEFINITION))
    assert isinstance(resolved, ResolvedJob)
    tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    record = JobRecord(namespace="default", name="big", uid="uid-big", spec=spec, created_at=now)
    record.evaluate(now, NoDependencies(), resolved)
    events = 0
    status_bytes = 0
    pending = list(range(size))
    round_ = 0
    while pending:
        retry = []
        for i in pending:
            now += timedelta(milliseconds=1)
            create = record.place(i, "ce1", now)[0]
            name = record.children[i].current.pod_name  # type: ignore[union-attr]
            record.observe(
                PodObservation(
                    pod_name=name,
                    index=i,
                    attempt=record.children[i].attempts,
                    phase=PodPhase.RUNNING,
                ),
                now,
            )
            fail = round_ == 0 and i % 10 == 0
            phase = PodPhase.FAILED if fail else PodPhase.SUCCEEDED
            record.observe(
                PodObservation(
                    pod_name=name,
                    index=i,
                    attempt=record.children[i].attempts,
                    phase=phase,
                    exit_code=1 if fail else 0,
                ),
                now,
            )
            events += 3
            if events % 1000 < 3:
                status_bytes = len(json.dumps(job_status(record).wire()))
            if fail:
                retry.append(i)
            del create
        pending = retry
        round_ += 1
    final = job_status(record)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    restore0 = time.perf_counter()
    restored = restore_record("default", "big", "uid-big", spec, record.created_at, final)
    restore_seconds = time.perf_counter() - restore0
    tracemalloc.stop()
    assert restored.status == record.status
    return {
        "benchmark": "lifecycle_array",
        "children": size,
        "events": events,
        "final_status": record.status.value,
        "attempts": record.attempt_count,
        "cpu_seconds": round(cpu1 - cpu0, 3),
        "wall_seconds": round(wall1 - wall0, 3),
        "microseconds_per_event": round((cpu1 - cpu0) / events * 1e6, 1),
        "peak_traced_memory_mib": round(peak / 2**20, 2),
        "status_bytes_mid_run": status_bytes,
        "final_status_bytes": len(json.dumps(final.wire())),
        "restore_seconds": round(restore_seconds, 3),
    }


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(json.dumps(run(size)))


if __name__ == "__main__":
    main()
