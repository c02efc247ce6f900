"""A scheduled job fires on time and its run is a BatchJob like any other. (Cron schedules,
time zones and concurrency policies are tested with an injected clock in
tests/unit/test_scheduled_jobs.py: a real clock would need minutes.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.cluster import wait_for
from tests.support.system import Scenario


def test_a_scheduled_job_fires_at_its_time(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    scenario.definition()
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    scenario.apply(
        {
            "kind": "ScheduledJob",
            "metadata": {"name": "soon"},
            "spec": {
                "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "jobTemplate": {
                    "metadata": {"annotations": {"sim.kubatch.io/duration": "0.5"}},
                    "spec": {"jobQueue": queue, "jobDefinition": "def"},
                },
            },
        }
    )

    def made() -> list[Any] | None:
        jobs = scenario.kube.custom.list_namespaced_custom_object(
            "kubatch.io",
            "v1alpha1",
            scenario.namespace,
            "batchjobs",
            label_selector="kubatch.io/scheduled-job=soon",
        )["items"]
        return jobs or None

    (job,) = wait_for(made, timeout=30, what="the scheduled run")
    created = datetime.fromisoformat(job["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    assert at - timedelta(seconds=1) <= created <= at + timedelta(seconds=5), "it fired on time"
    scenario.wait(job["metadata"]["name"], "SUCCEEDED")

    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = (
            scenario.kube.custom.get_namespaced_custom_object(
                "kubatch.io", "v1alpha1", scenario.namespace, "scheduledjobs", "soon"
            ).get("status")
            or {}
        )
        return found if found.get("lastSuccessfulTime") else None

    final = wait_for(status, what="the schedule's status")
    assert final["lastScheduleTime"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert final["active"] == []
    assert "nextScheduleTime" not in final
