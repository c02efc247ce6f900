"""Driving the engine as the controller does, against an in-memory API: effects are carried
out (or failed, or lost, as a test says), their outcomes reported into the inbox, and the
objects they change come back as watch events. A kubelet-like `run`/`finish` moves pods."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubatch.api.common import JobStatus
from kubatch.core.engine import Engine, EngineConfig
from kubatch.core.jobs.record import JobRecord
from kubatch.core.outbox.effects import (
    CreateObject,
    DeleteObject,
    Effect,
    Failure,
    KeepLog,
    Outcome,
    PatchObject,
    PostEvent,
    ResizePool,
    WriteStatus,
)
from kubatch.core.outbox.logs import kept_body
from kubatch.core.outbox.wanted import IntentTimes
from kubatch.keys import split_cluster
from tests.support.manifests import batch_job, job_definition, job_queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Obj = dict[str, Any]
Injected = Callable[[Effect], Failure | None]

SERVICE_ACCOUNT_MISSING = Failure(
    403,
    "Forbidden",
    'pods "x" is forbidden: error looking up service account t/default: '
    'serviceaccount "default" not found',
)
INVALID = Failure(422, "Invalid", 'Pod "x" is invalid: spec.containers[0].image: Required value')
UNAVAILABLE = Failure(503, "ServiceUnavailable", "the server is currently unable to handle it")


def node(name: str, environment: str = "ce1", cpu: str = "4", memory: str = "16Gi") -> Obj:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": "1",
            "labels": {
                "kubatch.io/compute-environment": environment,
                "kubernetes.io/hostname": name,
            },
        },
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def foreign_pod(name: str, node_name: str, cpu: str, daemonset: bool = False) -> Obj:
    owners = [{"kind": "DaemonSet", "name": "ds", "apiVersion": "apps/v1", "uid": "d"}]
    return {
        "metadata": {
            "name": name,
            "namespace": "other",
            "ownerReferences": owners if daemonset else [],
        },
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
        },
        "status": {"phase": "Running"},
    }


_versions = itertools.count(1)


@dataclass
class FakeApi:
    engine: Engine
    now: datetime = T0
    pods: dict[str, Obj] = field(default_factory=dict)
    statuses: dict[tuple[str, str], Obj] = field(default_factory=dict)
    events: list[PostEvent] = field(default_factory=list)
    sent: list[Effect] = field(default_factory=list)
    fail: Injected = lambda effect: None
    """A failure to answer an effect with (None: carry it out)."""
    lose: Callable[[Effect], bool] = lambda effect: False
    """Whether an effect is lost: neither carried out nor answered."""
    late: Callable[[Effect], bool] = lambda effect: False
    """Whether a pod create is carried out and answered but its watch event is late (shown
    only by `reveal`)."""
    versions: itertools.count[int] = field(default_factory=lambda: _versions)
    """The server's resourceVersions: one counter for everything, as on a server."""
    objects: list[Obj] = field(default_factory=list)
    """Everything else the server holds (platform objects, jobs, nodes), as served."""
    patches: list[PatchObject] = field(default_factory=list)
    """The pod patches the engine sent and the server applied."""
    made: list[Obj] = field(default_factory=list)
    """Objects the engine created that are not pods (ControllerRevisions, BatchJobs)."""
    kept: dict[str, Obj] = field(default_factory=dict)
    """The ConfigMaps that keep ended attempts' logs, by their pod ("namespace/name")."""
    kubelet_acts: bool = True
    """Whether the nodes' kubelet stops a pod whose activeDeadlineSeconds is lowered (at
    once, as if its container exited on SIGTERM)."""

    def step(self, seconds: float = 0.0, dispatch: bool = True) -> list[Effect]:
        """Move the clock, step the engine, carry out what it asks."""
        self.now += timedelta(seconds=seconds)
        self.engine.dispatch_needed = self.engine.dispatch_needed or dispatch
        effects = self.engine.step(self.now)
        self.sent += effects
        for effect in effects:
            self._carry_out(effect)
        return effects

    def settle(self, steps: int = 5, seconds: float = 1.0) -> None:
        for _ in range(steps):
            self.step(seconds)

    def _carry_out(self, effect: Effect) -> None:
        if self.lose(effect):
            return
        failure = self.fail(effect)
        if failure is not None:
            self.engine.report(Outcome(effect=effect, failure=failure))
            return
        version = next(self.versions)
        if isinstance(effect, CreateObject) and effect.plural == "pods":
            name = effect.body["metadata"]["name"]
            key = f"{effect.namespace}/{name}"
            if key in self.pods:
                self.engine.report(
                    Outcome(effect=effect, failure=Failure(409, "AlreadyExists", "exists"))
                )
                return
            pod = copy.deepcopy(effect.body)
            pod["metadata"]["namespace"] = effect.namespace
            pod["metadata"]["creationTimestamp"] = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            pod["status"] = {"phase": "Pending"}
            self.pods[key] = pod
            self.engine.report(Outcome(effect=effect, version=version))
            if not self.late(effect):
                self.engine.observe_pod(copy.deepcopy(pod), self.now)
        elif isinstance(effect, DeleteObject) and effect.plural == "pods":
            key = f"{effect.namespace}/{effect.name}"
            if key not in self.pods:
                self.engine.report(
                    Outcome(effect=effect, failure=Failure(404, "NotFound", "not found"))
                )
                return
            pod = self.pods.pop(key)
            self.engine.report(Outcome(effect=effect))
            self.engine.observe_pod(pod, self.now, deleted=True)
        elif isinstance(effect, WriteStatus):
            self.statuses[(effect.plural, f"{effect.namespace}/{effect.name}")] = effect.status
            self.engine.report(Outcome(effect=effect, version=version))
        elif isinstance(effect, PostEvent):
            self.events.append(effect)
        elif isinstance(effect, CreateObject):
            self.made.append(copy.deepcopy(effect.body))
            self.engine.report(Outcome(effect=effect, version=version))
        elif isinstance(effect, PatchObject) and effect.plural == "pods":
            key = f"{effect.namespace}/{effect.name}"
            if key not in self.pods:
                self.engine.report(
                    Outcome(effect=effect, failure=Failure(404, "NotFound", "not found"))
                )
                return
            self.patches.append(effect)
            spec = self.pods[key]["spec"]
            for name, value in effect.patch.get("spec", {}).items():
                if value is None:
                    spec.pop(name, None)
                else:
                    spec[name] = value
            self.engine.report(Outcome(effect=effect, version=version))
            self.engine.observe_pod(copy.deepcopy(self.pods[key]), self.now)
            if "activeDeadlineSeconds" in effect.patch.get("spec", {}):
                self._past_deadline(key)
        elif isinstance(effect, KeepLog):
            if effect.key not in self.pods:
                failure = Failure(404, "NotFound", f'pods "{effect.pod}" not found')
                self.engine.report(Outcome(effect=effect, failure=failure))
                return
            if effect.key in self.kept:
                failure = Failure(409, "AlreadyExists", "exists")
                self.engine.report(Outcome(effect=effect, failure=failure))
                return
            body = kept_body(effect, f"{self.now.isoformat()} the log of {effect.pod}\n", 0)
            self.kept[effect.key] = body
            self.engine.report(Outcome(effect=effect, version=version))
            self.engine.observe_kept_log(copy.deepcopy(body))
        elif isinstance(effect, ResizePool | PatchObject | DeleteObject):
            self.engine.report(Outcome(effect=effect))

    def reveal(self, key: str) -> None:
        """The late watch event of a pod shows up."""
        self.engine.observe_pod(copy.deepcopy(self.pods[key]), self.now)

    # -- a kubelet -----------------------------------------------------------------------

    def _past_deadline(self, key: str) -> None:
        """A kubelet stops a pod on its node that is past its deadline: it fails with the
        pod's reason DeadlineExceeded (its container: Error, 143) and stays."""
        pod = self.pods[key]
        if not self.kubelet_acts or not pod["spec"].get("nodeName"):
            return
        if pod["status"].get("phase") not in ("Pending", "Running"):
            return
        self.finish(key, 143)
        pod["status"].update(reason="DeadlineExceeded", message="past the deadline")
        self.engine.observe_pod(copy.deepcopy(pod), self.now)

    def pod_of(self, job: str, attempt: int = 1, index: int | None = None) -> str:
        record = self.record(job)
        return f"default/{record.pod_name(index, attempt)}"

    def bind(self, key: str) -> None:
        pod = self.pods[key]
        if pod["spec"].get("schedulingGates"):
            raise AssertionError(f"{key} has scheduling gates: no scheduler binds it")
        pod["spec"]["nodeName"] = pod["spec"].get("nodeSelector", {}).get("kubernetes.io/hostname")
        self.engine.observe_pod(copy.deepcopy(pod), self.now)

    def run(self, key: str) -> None:
        pod = self.pods[key]
        if not pod["spec"].get("nodeName"):
            self.bind(key)
        started = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        pod["status"] = {
            "phase": "Running",
            "containerStatuses": [{"name": "main", "state": {"running": {"startedAt": started}}}],
        }
        self.engine.observe_pod(copy.deepcopy(pod), self.now)

    def finish(self, key: str, exit_code: int = 0) -> None:
        pod = self.pods[key]
        stamp = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        pod["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": "main",
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "startedAt": stamp,
                            "finishedAt": stamp,
                        }
                    },
                }
            ],
        }
        self.engine.observe_pod(copy.deepcopy(pod), self.now)

    def restart(self, unlisted: frozenset[str] = frozenset()) -> None:
        """A new operator: a new engine rebuilt from what the server holds, in the order the
        controller lists it; the pods of the `unlisted` worker clusters could not be listed."""
        engine = Engine(self.engine.config)
        order = ("ComputeEnvironment", "SchedulingPolicy", "JobQueue", "JobDefinition")
        for kind in order:
            for obj in self.objects:
                if obj.get("kind") == kind:
                    upsert = {
                        "ComputeEnvironment": engine.upsert_environment,
                        "SchedulingPolicy": engine.upsert_policy,
                        "JobQueue": engine.upsert_queue,
                        "JobDefinition": engine.upsert_definition,
                    }[kind]
                    upsert(self._with_status(obj), self.now)
        for obj in self.made:
            if obj.get("kind") == "ControllerRevision":
                engine.upsert_revision(obj)
        for obj in self.objects:
            if "kind" not in obj:
                engine.upsert_node(obj, self.now)
        for obj in self.objects:
            if obj.get("kind") == "BatchJob":
                engine.upsert_job(self._with_status(obj), self.now)
        for configmap in self.kept.values():
            engine.observe_kept_log(copy.deepcopy(configmap))
        for key, pod in self.pods.items():
            if split_cluster(key)[0] not in unlisted:
                engine.observe_pod(copy.deepcopy(pod), self.now)
        engine.start(self.now, unlisted)
        self.engine = engine

    def _with_status(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        plural = obj["kind"].lower() + "s" if obj["kind"] != "JobQueue" else "jobqueues"
        if obj["kind"] == "SchedulingPolicy":
            plural = "schedulingpolicies"
        status = self.statuses.get((plural, f"{meta.get('namespace')}/{meta['name']}"))
        found = copy.deepcopy(obj)
        if status is not None:
            found["status"] = copy.deepcopy(status)
            found["metadata"]["resourceVersion"] = str(next(self.versions))
        return found

    # -- reading -------------------------------------------------------------------------

    def record(self, job: str) -> JobRecord:
        found = self.engine.store.record(("default", job))
        assert found is not None
        return found

    def status(self, job: str) -> JobStatus:
        return self.record(job).status

    def creates(self, key: str) -> int:
        namespace, name = key.split("/")
        return sum(
            1
            for e in self.sent
            if isinstance(e, CreateObject)
            and e.plural == "pods"
            and e.namespace == namespace
            and e.body["metadata"]["name"] == name
        )

    def request(self, job: str, kind: str, reason: str) -> None:
        """The user sets spec.cancel or spec.terminate on a job."""
        found = next(
            o for o in self.objects if o.get("kind") == "BatchJob" and o["metadata"]["name"] == job
        )
        found["spec"][kind] = {"reason": reason}
        meta = found["metadata"]
        meta.update(generation=meta["generation"] + 1, resourceVersion=str(next(self.versions)))
        self.engine.upsert_job(copy.deepcopy(found), self.now)

    def stops(self, key: str) -> int:
        """Stops sent for a pod: deletes, and lowered deadlines (its kubelet stops it)."""
        return self.deadlines(key) + self.deletes(key)

    def deadlines(self, key: str) -> int:
        """Patches that lowered a pod's deadline (a stop its kubelet carries out)."""
        namespace, name = key.split("/")
        return sum(
            1
            for e in self.sent
            if isinstance(e, PatchObject)
            and e.namespace == namespace
            and e.name == name
            and "activeDeadlineSeconds" in e.patch.get("spec", {})
        )

    def deletes(self, key: str) -> int:
        namespace, name = key.split("/")
        return sum(
            1
            for e in self.sent
            if isinstance(e, DeleteObject) and e.namespace == namespace and e.name == name
        )


def served(manifest: Obj, at: datetime = T0) -> Obj:
    """The object as an API server returns it."""
    manifest = copy.deepcopy(manifest)
    number = next(_versions)
    manifest["metadata"].update(
        uid=f"uid-{number:06d}",
        resourceVersion=str(number),
        generation=1,
        creationTimestamp=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return manifest


def cluster(
    *jobs: Obj,
    nodes: tuple[Obj, ...] = (),
    queue: Obj | None = None,
    definition: Obj | None = None,
    times: IntentTimes | None = None,
    environment: Obj | None = None,
) -> FakeApi:
    """An engine with an environment ce1 (unmanaged unless given), queue q1, definition
    def1, the nodes and the jobs, started at T0."""
    config = EngineConfig(intents=times or IntentTimes())
    engine = Engine(config)
    unmanaged = {
        "apiVersion": "kubatch.io/v1alpha1",
        "kind": "ComputeEnvironment",
        "metadata": {"name": "ce1"},
        "spec": {"type": "UNMANAGED"},
    }
    objects = [
        served(environment or unmanaged),
        served(queue or job_queue()),
        served(definition or job_definition()),
    ]
    engine.upsert_environment(objects[0], T0)
    engine.upsert_queue(objects[1], T0)
    engine.upsert_definition(objects[2], T0)
    for n in nodes:
        engine.upsert_node(n, T0)
        objects.append(n)
    for job in jobs:
        found = served(job)
        objects.append(found)
        engine.upsert_job(found, T0)
    engine.start(T0)
    return FakeApi(engine, objects=objects)


__all__ = ["T0", "FakeApi", "batch_job", "cluster", "foreign_pod", "node", "served"]
