"""The engine under random weather: pods that run, fail and vanish, writes that fail or are
lost, other workloads' pods, terminate requests and operator restarts, in any order. After
every step its invariants hold (indexes sound, no node over-committed by Kubatch, every job
still known); once the weather clears, every job ends, every stop it asked for is seen, and
no pod of an ended job is left running."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kubatch.api.common import JobStatus
from kubatch.core.outbox.effects import CreateObject, DeleteObject, Effect, Failure, WriteStatus
from tests.support.engine import FakeApi, batch_job, cluster, foreign_pod, node
from tests.support.manifests import job_definition

JOBS = 6
FAILURES = {
    "unavailable": Failure(503, "ServiceUnavailable", "try again"),
    "no_account": Failure(
        403, "Forbidden", "error looking up service account default/default: not found"
    ),
}


def _jobs() -> list[dict[str, Any]]:
    found = []
    for i in range(JOBS):
        spec: dict[str, Any] = {
            "containerOverrides": {"resourceRequirements": [{"type": "VCPU", "value": "1"}]}
        }
        if i % 2:
            spec["retryStrategy"] = {"attempts": 3}
        if i % 3 == 0:
            spec["arrayProperties"] = {"size": 2}
        if i == 5:
            spec["dependsOn"] = [{"jobName": "j1"}]
        found.append(batch_job(f"j{i}", **spec))
    return found


class Weather(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        definition = job_definition(timeout={"attemptDurationSeconds": 120})
        self.api: FakeApi = cluster(
            *_jobs(), nodes=(node("n1", cpu="2"), node("n2", cpu="3")), definition=definition
        )
        self.failing: dict[str, int] = {}
        self.losing = 0
        self.foreign: list[dict[str, Any]] = []

        def fail(effect: Effect) -> Failure | None:
            for name, left in self.failing.items():
                if left > 0 and isinstance(effect, CreateObject | DeleteObject | WriteStatus):
                    self.failing[name] -= 1
                    return FAILURES[name]
            return None

        def lose(effect: Effect) -> bool:
            if self.losing > 0 and isinstance(effect, CreateObject | DeleteObject):
                self.losing -= 1
                return True
            return False

        self.api.fail = fail
        self.api.lose = lose

    # -- the weather ---------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0, 1, 5, 30, 61]))
    def step(self, seconds: int) -> None:
        self.api.step(seconds)

    @rule(data=st.data(), outcome=st.sampled_from(["run", "succeed", "fail", "vanish", "bind"]))
    def kubelet(self, data: st.DataObject, outcome: str) -> None:
        if not self.api.pods:
            return
        key = data.draw(st.sampled_from(sorted(self.api.pods)))
        phase = self.api.pods[key]["status"]["phase"]
        if phase in ("Succeeded", "Failed"):
            return
        if outcome == "run":
            self.api.run(key)
        elif outcome == "bind":
            self.api.bind(key)
        elif outcome == "vanish":
            pod = self.api.pods.pop(key)
            self.api.engine.observe_pod(pod, self.api.now, deleted=True)
        elif phase == "Running":
            self.api.finish(key, 0 if outcome == "succeed" else 1)

    @rule(name=st.sampled_from(sorted(FAILURES)), count=st.integers(1, 4))
    def writes_fail(self, name: str, count: int) -> None:
        self.failing[name] = count

    @rule(count=st.integers(1, 3))
    def writes_are_lost(self, count: int) -> None:
        self.losing = count

    @rule(cpu=st.sampled_from(["100m", "500m"]), daemonset=st.booleans())
    def another_workload(self, cpu: str, daemonset: bool) -> None:
        store = self.api.engine.store
        room = [n for n in sorted(store.nodes) if store.nodes[n].free.millicpu >= 500]
        if not room:
            return
        pod = foreign_pod(f"other-{len(self.foreign)}", room[0], cpu, daemonset)
        self.foreign.append(pod)
        self.api.engine.observe_pod(pod, self.api.now)

    @rule(index=st.integers(0, JOBS - 1))
    def terminate(self, index: int) -> None:
        for obj in self.api.objects:
            if obj.get("kind") == "BatchJob" and obj["metadata"]["name"] == f"j{index}":
                if "terminate" in obj["spec"]:
                    return
                obj["spec"]["terminate"] = {"reason": "enough"}
                obj["metadata"]["generation"] = 2
                obj["metadata"]["resourceVersion"] = str(next(self.api.versions))
                self.api.engine.upsert_job(copy.deepcopy(obj), self.api.now)

    @precondition(lambda self: True)
    @rule()
    def restart(self) -> None:
        self.api.restart()

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def indexes_are_sound_and_nothing_is_over_committed(self) -> None:
        assert self.api.engine.check() == []

    @invariant()
    def no_job_is_lost(self) -> None:
        assert len(self.api.engine.store.jobs) == JOBS

    def teardown(self) -> None:
        """The weather clears: every job ends, every stop asked for is seen."""
        api = self.api
        self.failing.clear()
        self.losing = 0
        for pod in self.foreign:
            api.engine.observe_pod(pod, api.now, deleted=True)
        for _ in range(200):
            api.step(5)
            for key in sorted(api.pods):
                phase = api.pods[key]["status"]["phase"]
                if phase == "Pending":
                    api.run(key)
                elif phase == "Running":
                    api.finish(key)
            if all(api.record(f"j{i}").terminal for i in range(JOBS)):
                break
        api.settle(steps=10, seconds=40)
        names = [f"j{i}" for i in range(JOBS)]
        stuck = {n: api.status(n) for n in names if not api.record(n).terminal}
        assert not stuck, stuck
        assert api.engine.intents.stops == {}, "every stop was seen through"
        assert api.engine.intents.creates == {}
        active = [
            k for k, p in api.pods.items() if p["status"]["phase"] not in ("Succeeded", "Failed")
        ]
        assert active == [], "no pod of an ended job is left running"
        for i in range(JOBS):
            record = api.record(f"j{i}")
            assert record.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


Weather.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWeather = Weather.TestCase
