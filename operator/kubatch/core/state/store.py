"""The engine's state: what it knows of every object, and the indexes over it.

`Store` alone owns the tables and their indexes; every change goes through one of its
put/remove methods, which keep the indexes right, and `check()` says whether they are (the
tests call it after every step). Pods of every owner count: capacity is a node's
allocatable less all its active pods, Kubatch's own, other workloads' and the ones Kubatch
placed but has not seen yet (assumed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sortedcontainers import SortedList

from ...api import SchedulingPolicy
from ...api.common import JobStatus
from ...api.resources import Resources
from ...keys import LABEL_HOSTNAME
from ..jobs.attempts import OneChildCounts
from ..jobs.dependencies import dependency_names
from ..jobs.record import JobRecord
from .objects import (
    ConsumableState,
    CronState,
    DefinitionState,
    EnvState,
    JobKey,
    JobState,
    NodeState,
    PodState,
    QueueState,
    selects,
)


class Store:
    def __init__(self) -> None:
        self._backlogs: dict[int, list[JobKey]] = {}
        """Per set `oldest` takes from (by id), its keys still to take, the earliest last."""
        self.envs: dict[str, EnvState] = {}
        self.queues: dict[str, QueueState] = {}
        self.policies: dict[str, SchedulingPolicy] = {}
        self.definitions: dict[JobKey, DefinitionState] = {}
        self.jobs: dict[JobKey, JobState] = {}
        self.crons: dict[JobKey, CronState] = {}
        self.nodes: dict[str, NodeState] = {}
        self.pods: dict[str, PodState] = {}
        self.consumables: dict[str, ConsumableState] = {}
        # -- indexes: changed only below ---------------------------------------------------
        self.uids: dict[str, JobKey] = {}
        self.dependents: dict[JobKey, set[JobKey]] = {}
        """A job name -> the jobs that depend on it (or on one of its children)."""
        self.cron_children: dict[JobKey, set[JobKey]] = {}
        """A ScheduledJob -> the BatchJobs it made."""
        self.node_pods: dict[str, set[str]] = {}
        """A node name -> its active pods (the node may not be known yet)."""
        self.runnable: set[JobKey] = set()
        """Jobs with RUNNABLE work."""
        self.in_flight: set[JobKey] = set()
        """Jobs with STARTING or RUNNING work (what fair share counts as each share's)."""
        self.hostnames: dict[str, str] = {}
        """A node's kubernetes.io/hostname label -> its name (not always the same)."""
        self.counts: dict[str, Counter[JobStatus]] = {}
        """A queue name -> its jobs' counts per status (array children one by one)."""
        self.waiting_since: dict[str, SortedList] = {}
        """A queue name -> (POSIX time its oldest RUNNABLE work became so, job), per job."""
        self.counted: dict[JobKey, tuple[str, tuple[int, ...], float | None]] = {}
        """What each job adds to `counts` and `waiting_since` now."""

    # -- jobs ------------------------------------------------------------------------------

    def put_job(self, key: JobKey, state: JobState, cron: str | None) -> None:
        """Add a job (replacing one of the same name)."""
        self.remove_job(key, cron)
        self.jobs[key] = state
        record = state.record
        if record is None:
            return
        self.uids[record.uid] = key
        for dep in dependency_names(record.spec.depends_on):
            self.dependents.setdefault((key[0], dep), set()).add(key)
        if cron:
            self.cron_children.setdefault((key[0], cron), set()).add(key)
        self.track_job(key)

    def remove_job(self, key: JobKey, cron: str | None) -> JobState | None:
        state = self.jobs.pop(key, None)
        if state is None:
            return None
        self.runnable.discard(key)
        self.in_flight.discard(key)
        self._uncount(key)
        record = state.record
        if record is not None:
            if self.uids.get(record.uid) == key:
                del self.uids[record.uid]
            for dep in dependency_names(record.spec.depends_on):
                self._discard(self.dependents, (key[0], dep), key)
        if cron:
            self._discard(self.cron_children, (key[0], cron), key)
        return state

    def oldest(self, keys: set[JobKey], most: int) -> set[JobKey]:
        """Up to `most` of `keys`, removed from it: all when they are few, else the earliest
        submitted (so work spread over steps is taken in the order it came). A backlog is
        sorted once and consumed over the steps that follow (a sort per step would make
        each step as long as the backlog): keys added since are taken once it is used up."""
        if len(keys) <= most:
            taken = set(keys)
            keys.clear()
            self._backlogs.pop(id(keys), None)
            return taken
        order = self._backlogs.get(id(keys))
        if not order:
            order = self._backlogs[id(keys)] = sorted(keys, key=self._submitted, reverse=True)
        taken = set()
        while order and len(taken) < most:
            key = order.pop()
            if key in keys:
                taken.add(key)
        keys -= taken
        return taken

    def _submitted(self, key: JobKey) -> tuple[float, JobKey]:
        record = self.record(key)
        return (record.created_at.timestamp() if record is not None else 0.0, key)

    def track_job(self, key: JobKey) -> None:
        """A job's record changed: keep the RUNNABLE index right."""
        state = self.jobs.get(key)
        record = state.record if state else None
        if record is not None and record.counts[JobStatus.RUNNABLE] and not record.terminal:
            self.runnable.add(key)
        else:
            self.runnable.discard(key)
        if record is not None and _in_flight(record):
            self.in_flight.add(key)
        else:
            self.in_flight.discard(key)
        if record is None:
            self._uncount(key)
            return
        queue = record.spec.job_queue
        found = record.job_counts()
        if isinstance(found, OneChildCounts):
            counts = _ONE[found.child.status]  # a single job's: one of nine, shared
        else:
            counts = tuple(found[status] for status in _STATUSES)
        since = _waiting_since(record) if record.counts[JobStatus.RUNNABLE] else None
        if self.counted.get(key) == (queue, counts, since):
            return  # counted as it is (a job relabeled, say)
        self._uncount(key)
        total = self.counts.get(queue)
        if total is None:
            total = self.counts[queue] = Counter()
        for status, n in zip(_STATUSES, counts, strict=True):
            if n:
                total[status] += n
        if since is not None:
            self.waiting_since.setdefault(queue, SortedList()).add((since, key))
        self.counted[key] = (queue, counts, since)

    def _uncount(self, key: JobKey) -> None:
        found = self.counted.pop(key, None)
        if found is None:
            return
        queue, counts, since = found
        total = self.counts[queue]
        for status, n in zip(_STATUSES, counts, strict=True):
            if n:
                total[status] -= n
                if total[status] <= 0:
                    del total[status]
        if not total:
            del self.counts[queue]
        if since is not None:
            oldest = self.waiting_since[queue]
            oldest.remove((since, key))
            if not oldest:
                del self.waiting_since[queue]

    def oldest_runnable(self, queue: str) -> datetime | None:
        """When the queue's oldest RUNNABLE work became so."""
        found = self.waiting_since.get(queue)
        return datetime.fromtimestamp(found[0][0], UTC) if found else None

    def record(self, key: JobKey) -> JobRecord | None:
        state = self.jobs.get(key)
        return state.record if state else None

    # -- nodes and pods --------------------------------------------------------------------

    # -- the platform's objects and ScheduledJobs: tables without indexes ---------------

    def put_environment(self, name: str, state: EnvState) -> None:
        self.envs[name] = state

    def remove_environment(self, name: str) -> None:
        self.envs.pop(name, None)

    def put_queue(self, name: str, state: QueueState) -> None:
        self.queues[name] = state

    def remove_queue(self, name: str) -> None:
        self.queues.pop(name, None)

    def put_policy(self, name: str, policy: SchedulingPolicy) -> None:
        self.policies[name] = policy

    def remove_policy(self, name: str) -> None:
        self.policies.pop(name, None)

    def put_consumable(self, name: str, state: ConsumableState) -> None:
        self.consumables[name] = state

    def remove_consumable(self, name: str) -> None:
        self.consumables.pop(name, None)

    def definition(self, key: JobKey) -> DefinitionState:
        """A definition's entry, made empty when new (its revisions may come first)."""
        return self.definitions.setdefault(key, DefinitionState(obj=None, model=None, reason=None))

    def remove_definition(self, key: JobKey) -> None:
        self.definitions.pop(key, None)

    def put_cron(self, key: JobKey, state: CronState) -> None:
        self.crons[key] = state

    def remove_cron(self, key: JobKey) -> None:
        self.crons.pop(key, None)

    # -- nodes and pods ------------------------------------------------------------------

    def put_node(self, node: NodeState, now: datetime) -> None:
        keys = self.node_pods.get(node.name, set())
        active = [self.pods[k] for k in keys]
        node.used = _sum(p.requests for p in active)
        node.ours = _sum(p.requests for p in active if p.job is not None)
        node.pods = len(active)
        node.busy = sum(p.keeps_node for p in active)
        old = self.nodes.get(node.name)
        node.idle_since = None if node.busy else (old.idle_since if old else None) or now
        if old is not None:
            self.hostnames.pop(old.labels.get(LABEL_HOSTNAME, old.name), None)
        self.nodes[node.name] = node
        self.hostnames[node.labels.get(LABEL_HOSTNAME, node.name)] = node.name

    def remove_node(self, name: str) -> None:
        old = self.nodes.pop(name, None)
        if old is not None:
            self.hostnames.pop(old.labels.get(LABEL_HOSTNAME, old.name), None)

    def put_pod(self, pod: PodState, now: datetime) -> None:
        """Add or replace a pod; its requests count on its node while it is active."""
        self.remove_pod(pod.key, now)
        self.pods[pod.key] = pod
        if pod.active and pod.node:
            self.node_pods.setdefault(pod.node, set()).add(pod.key)
            node = self.nodes.get(pod.node)
            if node is not None:
                node.used = node.used + pod.requests
                if pod.job is not None:
                    node.ours = node.ours + pod.requests
                node.pods += 1
                if pod.keeps_node:
                    node.busy += 1
                    node.idle_since = None

    def remove_pod(self, key: str, now: datetime) -> PodState | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        if pod.active and pod.node:
            self._discard(self.node_pods, pod.node, key)
            node = self.nodes.get(pod.node)
            if node is not None:
                node.used = node.used - pod.requests
                if pod.job is not None:
                    node.ours = node.ours - pod.requests
                node.pods -= 1
                if pod.keeps_node:
                    node.busy -= 1
                    if node.busy == 0:
                        node.idle_since = now
        return pod

    def pool_nodes(self, selector: Mapping[str, str]) -> list[NodeState]:
        return [n for n in self.nodes.values() if selects(selector, n.labels)]

    # -- lookups ---------------------------------------------------------------------------

    def jobs_of_queue(self, queue: str) -> Iterator[JobKey]:
        for key, state in self.jobs.items():
            if state.record is not None and state.record.spec.job_queue == queue:
                yield key

    # -- the invariants --------------------------------------------------------------------

    def check(self) -> list[str]:
        """What is wrong with the indexes (and capacity), if anything: empty when sound."""
        problems: list[str] = []
        expected_uids = {s.record.uid: k for k, s in self.jobs.items() if s.record is not None}
        if expected_uids != self.uids:
            problems.append("uids: the index does not match the jobs")
        expected_deps: dict[JobKey, set[JobKey]] = {}
        for key, state in self.jobs.items():
            if state.record is not None:
                for dep in dependency_names(state.record.spec.depends_on):
                    expected_deps.setdefault((key[0], dep), set()).add(key)
        if expected_deps != {k: v for k, v in self.dependents.items() if v}:
            problems.append("dependents: the index does not match the jobs' dependsOn")
        runnable = {
            k
            for k, s in self.jobs.items()
            if s.record is not None
            and s.record.counts[JobStatus.RUNNABLE]
            and not s.record.terminal
        }
        if runnable != self.runnable:
            problems.append(f"runnable: {sorted(runnable ^ self.runnable)} out of step")
        in_flight = {k for k, s in self.jobs.items() if s.record and _in_flight(s.record)}
        if in_flight != self.in_flight:
            problems.append(f"in flight: {sorted(in_flight ^ self.in_flight)} out of step")
        counts: dict[str, Counter[JobStatus]] = {}
        for state in self.jobs.values():
            if state.record is not None:
                counts.setdefault(state.record.spec.job_queue, Counter()).update(
                    {s: n for s, n in state.record.job_counts().items() if n}
                )
        if counts != self.counts:
            problems.append("counts: the queues' job counts do not match the jobs")
        for key, (_, _, since) in self.counted.items():
            record = self.record(key)
            queued = record is not None and record.counts[JobStatus.RUNNABLE]
            expected = _waiting_since(record) if record is not None and queued else None
            if since != expected:
                problems.append(f"waiting_since: {key} out of step")
        expected_pods: dict[str, set[str]] = {}
        for pod_key, pod in self.pods.items():
            if pod.active and pod.node:
                expected_pods.setdefault(pod.node, set()).add(pod_key)
        if expected_pods != {k: v for k, v in self.node_pods.items() if v}:
            problems.append("node_pods: the index does not match the pods")
        hostnames = {n.labels.get(LABEL_HOSTNAME, n.name): n.name for n in self.nodes.values()}
        if hostnames != self.hostnames:
            problems.append("hostnames: the index does not match the nodes")
        for node in self.nodes.values():
            active = [self.pods[k] for k in self.node_pods.get(node.name, ())]
            ours = _sum(p.requests for p in active if p.job is not None)
            if (node.used, node.ours, node.pods) != (
                _sum(p.requests for p in active),
                ours,
                len(active),
            ):
                problems.append(f"node {node.name}: used capacity out of step with its pods")
            others = _sum(p.requests for p in active if p.job is None)
            if not ours.fits_in(node.allocatable - others) and ours != Resources():
                problems.append(f"node {node.name}: Kubatch's pods over-commit it")
        return problems

    @staticmethod
    def _discard(index: dict[Any, set[Any]], key: Any, value: Any) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(value)
            if not members:
                del index[key]


_STATUSES = tuple(JobStatus)
_ONE = {t: tuple(int(s == t) for s in _STATUSES) for t in _STATUSES}
"""The counts of a job with one child, one tuple per state: a million queued jobs share them."""


def _waiting_since(record: JobRecord) -> float | None:
    found = min((c.runnable_since for c in record.runnable() if c.runnable_since), default=None)
    return found.timestamp() if found is not None else None


def _sum(items: Iterable[Resources]) -> Resources:
    total = Resources()
    for item in items:
        total = total + item
    return total


def _in_flight(record: JobRecord) -> bool:
    return bool(record.counts[JobStatus.STARTING] or record.counts[JobStatus.RUNNING])
