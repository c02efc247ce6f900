"""Multi-node parallel jobs: the part of a job's lifecycle that is its nodes'.

A multi-node job's children are its nodes (index = node index). They become RUNNABLE
together, are placed together (all or none, by the scheduler) and start a new attempt
together (the other nodes' pods are scheduled once the main node runs). The job is
STARTING until every node that has not ended runs, then RUNNING; it ends with its main
node: the other nodes are stopped, and the job succeeds, fails, or (when the main node's
failure is retried) all nodes go back to RUNNABLE. A node other than the main that fails
on its own while the main runs fails the job, without retry (AWS Batch retries only
main-node failures). Timeouts, cancel and terminate act on every node.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from ...api.common import IN_FLIGHT, NOT_STARTED, TERMINAL, JobStatus
from .attempts import Action, Attempt, Child, Counts, CreatePod, PodObservation, ReleasePod
from .retry import AttemptOutcome, should_retry

if TYPE_CHECKING:
    from .definitions import ResolvedJob

S = JobStatus


class Gang:
    """JobRecord's methods for multi-node jobs (JobRecord derives from this class and
    defines what is declared here)."""

    if not TYPE_CHECKING:  # no __dict__ for JobRecord (slots); mypy checks JobRecord's
        __slots__ = ()

    multinode: bool
    main_node: int
    name: str
    children: list[Child]
    counts: Counts
    resolved: ResolvedJob | None
    history: list[Attempt]
    started_at: datetime | None
    attempt_end: datetime | None

    if TYPE_CHECKING:

        def pod_name(self, index: int | None, attempt: int) -> str: ...
        def _set(
            self, child: Child, status: JobStatus, reason: str | None, now: datetime
        ) -> None: ...
        def _refresh(
            self, now: datetime, actions: list[Action], reason: str | None = None
        ) -> None: ...
        @property
        def status(self) -> JobStatus: ...
        @property
        def is_array(self) -> bool: ...

    @property
    def attempts(self) -> int:
        """A multi-node job's attempts: its main node's (every node has as many)."""
        return self.children[self.main_node].attempts

    def job_counts(self) -> Counts:
        """What the job adds to its queue's counts: array children one by one, a multi-node
        job once."""
        return Counter({self.status: 1}) if self.multinode else self.counts

    def _starts_job(self, child: Child) -> bool:
        """Whether a child's start is the job's startedAt: a job's latest attempt's, a
        multi-node job's main node's, an array's first child's."""
        if self.multinode:
            return child.index == self.main_node
        return not self.is_array or self.started_at is None

    def as_nodes(self, resolved: ResolvedJob) -> None:
        """Give a multi-node job one child per node, each as far as the job is (done once,
        when its definition is first resolved; a restored record has them already)."""
        if not resolved.multinode or self.multinode:
            return
        one = self.children[0]
        self.multinode = True
        self.main_node = resolved.main_node
        self.children = [
            Child(index=i, status=one.status, reason=one.reason) for i in range(resolved.num_nodes)
        ]
        for child in self.children:
            child.runnable_since = one.runnable_since
        self.counts = Counter({one.status: len(self.children)})

    def _gang_status(self) -> tuple[JobStatus, str | None]:
        """A multi-node job ends with its main node; it is RUNNING once every node that has
        not finished runs, STARTING before."""
        main = self.children[self.main_node]
        if main.status in TERMINAL or main.status in NOT_STARTED:
            return main.status, main.reason
        if any(c.status == S.STARTING for c in self.children):
            return S.STARTING, None
        return S.RUNNING, None

    def place_gang(
        self, compute_environment: str, nodes: tuple[str, ...], now: datetime
    ) -> list[Action]:
        """The scheduler placed a multi-node job, node i on nodes[i]: every node starts its
        next attempt together (STARTING)."""
        if not self.multinode or len(nodes) != len(self.children):
            raise ValueError(f"{self.name}: {len(nodes)} placements for {len(self.children)}")
        if any(c.status != S.RUNNABLE for c in self.children):
            raise ValueError(f"{self.name} is {self.status}, not RUNNABLE")
        number = self.children[self.main_node].attempts + 1
        actions: list[Action] = []
        for child, node in zip(self.children, nodes, strict=True):
            child.attempts = number
            attempt = Attempt(
                number=number,
                pod_name=self.pod_name(child.index, number),
                compute_environment=compute_environment,
                node_name=node,
            )
            child.current = attempt
            self._set(child, S.STARTING, None, now)
            actions.append(
                CreatePod(
                    index=child.index,
                    attempt=number,
                    pod_name=attempt.pod_name,
                    compute_environment=compute_environment,
                    node=node,
                )
            )
        self._refresh(now, actions)
        return actions

    def _open_gates(self, child: Child, obs: PodObservation) -> list[Action]:
        """The other nodes' pods are created with the main node's, gated (their room held,
        not scheduled), and released once the main node runs, as AWS Batch starts them: when
        the main node is seen running, and whenever a gated pod is seen while it runs
        (after a restart, or a release that did not arrive)."""
        main = self.children[self.main_node]
        if not self.multinode or main.status != S.RUNNING or obs.finished:
            return []
        if child.index != self.main_node and not obs.gated:
            return []
        nodes = [child] if child.index != self.main_node else self.children
        return [
            ReleasePod(node.current.pod_name)
            for node in nodes
            if node.index != self.main_node
            and node.status == S.STARTING
            and node.current is not None
            and node.current.stop_reason is None
        ]

    def _finish_node(
        self,
        child: Child,
        attempt: Attempt,
        outcome: AttemptOutcome,
        obs: PodObservation,
        now: datetime,
    ) -> list[Action]:
        """A node of a multi-node job ended. The main node ends the job: the others are
        stopped, and the job succeeds, is retried (all nodes again) or fails with it. Another
        node that fails on its own while the main node runs fails the job: every node is
        stopped, and the job is not retried (only a main-node failure is)."""
        attempt.end(outcome, obs.finished_at or now, obs.started_at)
        child.current = None
        child.last = attempt
        if child.index != self.main_node:
            if outcome.succeeded:
                self._set(child, S.SUCCEEDED, None, now)
                return []
            self._set(child, S.FAILED, outcome.status_reason, now)
            if attempt.stop_reason is not None:
                return []  # stopped by Kubatch (terminate, timeout, another node's failure)
            code = f" (exit code {outcome.exit_code})" if outcome.exit_code is not None else ""
            because = f"node {child.index} failed: {outcome.reason or outcome.status_reason}{code}"
            return self._stop_nodes(because)
        self.history.append(attempt)
        self.attempt_end = attempt.stopped_at
        strategy = self.resolved.retry_strategy if self.resolved else None
        if outcome.succeeded:
            ended: tuple[JobStatus, str | None] = (S.SUCCEEDED, None)
        elif should_retry(strategy, child.attempts, outcome):
            actions = self._stop_nodes("the main node's attempt ended", finish=False)
            for node in self.children:
                self._again(node, now)
            return actions
        else:
            ended = (S.FAILED, outcome.status_reason)
        actions = self._stop_nodes("the main node exited", finish=False)
        self._set(child, ended[0], ended[1], now)
        for node in self.children:
            if node.status in IN_FLIGHT and node.current is not None:
                stopped = node.current
                stopped.stopped_at = now
                stopped.status_reason = stopped.stop_reason
                node.current, node.last = None, stopped
                self._set(node, ended[0], stopped.stop_reason, now)
        return actions

    def _stop_nodes(self, reason: str, finish: bool = True) -> list[Action]:
        """Stop every node of a multi-node job still in flight, with `reason` as their
        attempt's end (`finish`: the job fails with it when its main node ends)."""
        actions: list[Action] = []
        for node in self.children:
            attempt = node.current
            if node.status not in IN_FLIGHT or attempt is None or attempt.stop_reason is not None:
                continue
            actions.append(attempt.stop(reason, node.index, own=finish))
        return actions

    def _again(self, child: Child, now: datetime) -> None:
        """A node of a multi-node job back to RUNNABLE for the job's next attempt, whatever
        it ended with."""
        if child.current is not None:
            child.last, child.current = child.current, None
        self.counts[child.status] -= 1
        self.counts[S.RUNNABLE] += 1
        child.status, child.reason = S.RUNNABLE, None
        child.runnable_since = now
        child.retried = True

    def _reconcile_gang(self, seen_pods: set[str], now: datetime) -> list[Action]:
        """A multi-node job's nodes start together. After a restart, a gang found partly
        placed (pods of some nodes exist, the status of others was not written) is stopped
        and placed again whole, under a new attempt number (so that no new pod takes the
        name of one being stopped); a placed gang some of whose pods were never created gets
        them, on the nodes it was placed on."""
        actions: list[Action] = []
        if not self.multinode:
            return actions
        flying = [c for c in self.children if c.status in IN_FLIGHT and c.current is not None]
        if not flying or all(c.current.pod_name not in seen_pods for c in flying if c.current):
            return actions  # nothing of it runs: the usual path puts it back to RUNNABLE
        if len(flying) < len(self.children):
            actions += self._stop_nodes("the job's nodes were only partly started", False)
            number = max(c.attempts for c in self.children)
            for child in self.children:
                child.attempts = number
                self._again(child, now)
            return actions
        for child in flying:
            attempt = child.current
            if attempt is None or attempt.pod_name in seen_pods or child.status != S.STARTING:
                continue
            env = attempt.compute_environment or ""
            actions.append(
                CreatePod(
                    index=child.index,
                    attempt=attempt.number,
                    pod_name=attempt.pod_name,
                    compute_environment=env,
                    node=attempt.node_name,
                )
            )
        return actions
