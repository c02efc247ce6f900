"""The pods the engine wants to exist and to stop, until it sees that they do.

An attempt's pod is *wanted* from the moment its work is placed until the pod is observed:
its create is sent, and sent again (same deterministic name, so a repeat is harmless) after a
back-off when it fails for a reason that passes, or when the pod does not show up. Meanwhile
the placement is *assumed*: its requests count on the chosen node. A create the API refuses
for good, or a pod that does not appear before the create deadline, ends the attempt with the
API's reason, and the assumption is forgotten at once.

A pod the engine wants stopped (timeout, terminate, a pod that cannot start) is stopped until
it is observed finished or gone, again with back-off. One that runs on a node and has a grace
period is stopped by the kubelet: its activeDeadlineSeconds is lowered to 1 (SIGTERM, SIGKILL
after the grace period, the pod Failed with DeadlineExceeded), so the pod stays, and with it
its container's log, as AWS keeps a stopped attempt's log. Any other (not on a node yet, no
grace, or still running long after its grace period) is deleted. A gated pod the engine wants
released (a multi-node job's other node, once the main node runs) gets its gate removed until
the server says it is done (or the pod is gone). And a pod of ours that the cluster does not
schedule (no node can take it) ends its attempt once the schedule deadline passes (counted
from its creation, or from its release), instead of waiting for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ...api.common import Obj
from ..jobs.attempts import POD_REFUSED, UNSCHEDULABLE, PodObservation, PodPhase
from ..state.objects import JobKey
from .effects import CreateObject, DeleteObject, Failure, PatchObject
from .wanted import IntentTimes, Unscheduled, WantedPod, WantedRelease, WantedStop

DEADLINE_STOP = {"spec": {"activeDeadlineSeconds": 1}}
"""The patch that has a pod's kubelet stop it now: its deadline, counted from its start, is
past (a deadline may be lowered on a running pod, never raised)."""


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


def _patch_pod(key: str, patch: Obj) -> PatchObject:
    """A merge patch of the pod "namespace/name", sent on behalf of its intent."""
    namespace, name = _split(key)
    return PatchObject(
        api_version="v1", plural="pods", namespace=namespace, name=name, patch=patch, intent=key
    )


class PodIntents:
    def __init__(self, times: IntentTimes | None = None) -> None:
        self.times = times or IntentTimes()
        self.creates: dict[str, WantedPod] = {}
        self.stops: dict[str, WantedStop] = {}
        self.unscheduled: dict[str, Unscheduled] = {}
        self.releases: dict[str, WantedRelease] = {}
        self.opened: dict[str, datetime] = {}
        """When each gated pod was released: its wait for a node starts then."""
        self.on_node: set[str] = set()
        """Pods bound to a node and not finished: a stop has their kubelet end them."""

    def _backoff(self, sends: int) -> timedelta:
        seconds = min(self.times.max_backoff.total_seconds(), 2.0 ** max(0, sends - 1))
        return timedelta(seconds=seconds)

    # -- what the engine wants -------------------------------------------------------------

    def want_pod(
        self,
        key: str,
        job: JobKey,
        index: int | None,
        attempt: int,
        body: Obj,
        node: str | None,
        now: datetime,
    ) -> None:
        self.creates[key] = WantedPod(
            key=key,
            job=job,
            index=index,
            attempt=attempt,
            body=body,
            node=node,
            since=now,
            next_send=now,
        )

    def want_stopped(
        self,
        key: str,
        grace_seconds: int,
        reason: str,
        ours: tuple[JobKey, int | None, int] | None,
        now: datetime,
    ) -> None:
        current = self.stops.get(key)
        if current is not None and current.grace_seconds <= grace_seconds:
            return
        if ours is None and current is not None:
            ours = current.ours
        self.stops[key] = WantedStop(
            key=key, grace_seconds=grace_seconds, reason=reason, ours=ours, next_send=now, since=now
        )
        # A pod wanted stopped is no longer wanted created, or released.
        self.creates.pop(key, None)
        self.releases.pop(key, None)

    def want_released(self, key: str, now: datetime) -> None:
        if key not in self.releases and key not in self.stops:
            self.releases[key] = WantedRelease(key=key, next_send=now)
            self.opened.setdefault(key, now)

    # -- what was observed ---------------------------------------------------------------

    def observed(
        self,
        key: str,
        finished: bool,
        ours: tuple[JobKey, int | None, int] | None,
        bound: bool,
        gated: bool,
        created: datetime | None,
        waiting_message: str | None,
        now: datetime,
    ) -> None:
        """A pod as the watch reports it (finished: Succeeded, Failed or gone; bound: on a
        node; gated: held back, which is not waiting for a node)."""
        self.creates.pop(key, None)
        if finished:
            self.stops.pop(key, None)
            self.unscheduled.pop(key, None)
            self.releases.pop(key, None)
            self.opened.pop(key, None)
            self.on_node.discard(key)
            return
        if bound:
            self.on_node.add(key)
        if ours is None or bound or gated:
            self.unscheduled.pop(key, None)
            return
        job, index, attempt = ours
        known = self.unscheduled.get(key)
        since = known.since if known else (created or now)
        if known is None and key in self.opened:
            since = max(since, self.opened[key])
        self.unscheduled[key] = Unscheduled(
            job=job,
            index=index,
            attempt=attempt,
            since=since,
            message=waiting_message or "no node has taken the pod",
        )

    def forget(self, key: str) -> None:
        """The attempt ended (or its job went): want nothing more of its pod but a stop."""
        self.creates.pop(key, None)
        self.unscheduled.pop(key, None)
        self.releases.pop(key, None)
        self.opened.pop(key, None)

    # -- what came of the writes -----------------------------------------------------------

    def create_outcome(
        self, key: str, failure: Failure | None, now: datetime
    ) -> PodObservation | None:
        """Returns the observation that ends the attempt when the API refused its pod for
        good; None otherwise."""
        wanted = self.creates.get(key)
        if wanted is None:
            return None
        wanted.in_flight = None
        if failure is None or failure.exists:
            wanted.failure = None
            wanted.since = now  # it exists: the deadline waits for the watch to show it
            wanted.next_send = now + self.times.resync
            return None
        wanted.failure = failure
        if failure.transient:
            wanted.next_send = now + self._backoff(wanted.sends)
            return None
        del self.creates[key]
        return self._refused(wanted)

    def stop_outcome(
        self, key: str, failure: Failure | None, now: datetime
    ) -> tuple[JobKey, PodObservation] | None:
        """Returns, when the pod turned out not to exist, the observation that tells its
        attempt (its create was lost or refused meanwhile: it never ran)."""
        wanted = self.stops.get(key)
        if wanted is None:
            return None
        wanted.in_flight = None
        if failure is not None and failure.gone:
            del self.stops[key]
            if wanted.ours is None:
                return None
            job, index, attempt = wanted.ours
            return job, PodObservation(
                pod_name=_split(key)[1], index=index, attempt=attempt, phase=PodPhase.GONE
            )
        wait = self.times.resync if failure is None else self._backoff(wanted.sends)
        wanted.next_send = now + wait
        return None

    def write_outcome(
        self, key: str, write: DeleteObject | PatchObject, failure: Failure | None, now: datetime
    ) -> tuple[JobKey, PodObservation] | None:
        """What came of a stop (a delete, or a lowered deadline) or of a release; when the
        pod turned out not to exist, the observation that tells its attempt."""
        if isinstance(write, DeleteObject):
            return self.stop_outcome(key, failure, now)
        if write.patch != DEADLINE_STOP:
            self._release_outcome(key, failure, now)
            return None
        wanted = self.stops.get(key)
        if wanted is not None and failure is not None and not failure.gone:
            wanted.deadline_refused = not failure.transient
        return self.stop_outcome(key, failure, now)

    def _release_outcome(self, key: str, failure: Failure | None, now: datetime) -> None:
        """A release is done once the server took it; one refused for good is not sent
        again (the pod, seen gated again while its main node runs, asks anew)."""
        wanted = self.releases.get(key)
        if wanted is None:
            return
        wanted.in_flight = None
        if failure is not None and failure.transient:
            wanted.next_send = now + self._backoff(wanted.sends)
        else:
            del self.releases[key]

    def _refused(self, wanted: WantedPod) -> PodObservation:
        failure = wanted.failure
        message = (
            f"the API server refused the pod: {failure.code} {failure.reason}: {failure.message}"
            if failure is not None
            else f"the pod did not appear within {self.times.create_deadline.total_seconds():.0f}s"
        )
        return PodObservation(
            pod_name=_split(wanted.key)[1],
            index=wanted.index,
            attempt=wanted.attempt,
            phase=PodPhase.PENDING,
            reason=POD_REFUSED,
            message=message,
        )

    # -- each step ---------------------------------------------------------------------------

    def expired(self, now: datetime) -> list[tuple[JobKey, str, PodObservation]]:
        """Attempts whose pod did not come to exist, or was not scheduled, in time:
        (job, pod key, the observation that ends the attempt)."""
        ended: list[tuple[JobKey, str, PodObservation]] = []
        for key, wanted in list(self.creates.items()):
            if now - wanted.since >= self.times.create_deadline and not self._waiting(wanted, now):
                del self.creates[key]
                ended.append((wanted.job, key, self._refused(wanted)))
        for key, waiting in list(self.unscheduled.items()):
            if now - waiting.since >= self.times.schedule_deadline:
                del self.unscheduled[key]
                message = (
                    f"the pod was not scheduled within "
                    f"{self.times.schedule_deadline.total_seconds():.0f}s: {waiting.message}"
                )
                observation = PodObservation(
                    pod_name=_split(key)[1],
                    index=waiting.index,
                    attempt=waiting.attempt,
                    phase=PodPhase.PENDING,
                    reason=UNSCHEDULABLE,
                    message=message,
                )
                ended.append((waiting.job, key, observation))
        return ended

    def due(self, now: datetime) -> list[CreateObject | DeleteObject | PatchObject]:
        """The creates, deletes and releases to send now."""
        writes: list[CreateObject | DeleteObject | PatchObject] = []
        for key, wanted in self.creates.items():
            if self._send(wanted, now):
                writes.append(
                    CreateObject(
                        api_version="v1",
                        plural="pods",
                        namespace=_split(key)[0],
                        body=wanted.body,
                        intent=key,
                    )
                )
        for key, stop in self.stops.items():
            if self._send(stop, now):
                namespace, name = _split(key)
                if self._by_deadline(stop, now):
                    writes.append(_patch_pod(key, DEADLINE_STOP))
                    continue
                grace = stop.grace_seconds
                writes.append(
                    DeleteObject(
                        api_version="v1",
                        plural="pods",
                        namespace=namespace,
                        name=name,
                        grace_seconds=grace,
                        intent=key,
                    )
                )
        opened = {"spec": {"schedulingGates": None}}
        for key in self.releases:
            if self._send(self.releases[key], now):
                writes.append(_patch_pod(key, opened))
        return writes

    def _by_deadline(self, stop: WantedStop, now: datetime) -> bool:
        """Whether to have the pod's kubelet stop it (it keeps its log) rather than delete
        it: it runs on a node, has a grace period, and has not outlasted it by a minute."""
        if stop.grace_seconds <= 0 or stop.deadline_refused or stop.key not in self.on_node:
            return False
        overdue = timedelta(seconds=stop.grace_seconds) + self.times.unanswered
        return stop.since is None or now - stop.since < overdue

    def _send(self, request: WantedPod | WantedStop | WantedRelease, now: datetime) -> bool:
        """Whether a request is due now (none on its way, its back-off over): if so, it is
        counted as sent."""
        if self._waiting(request, now) or now < request.next_send:
            return False
        request.in_flight = now
        request.sends += 1
        return True

    def _waiting(self, request: WantedPod | WantedStop | WantedRelease, now: datetime) -> bool:
        """Whether a request is on its way and not yet taken as lost."""
        sent = request.in_flight
        return sent is not None and now - sent < self.times.unanswered

    def next_wake(self) -> datetime | None:
        times = [w.next_send for w in self.creates.values() if w.in_flight is None]
        times += [w.since + self.times.create_deadline for w in self.creates.values()]
        times += [s.next_send for s in self.stops.values() if s.in_flight is None]
        times += [r.next_send for r in self.releases.values() if r.in_flight is None]
        times += [u.since + self.times.schedule_deadline for u in self.unscheduled.values()]
        return min(times, default=None)
