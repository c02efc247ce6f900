"""Deleting a queue or a compute environment that still has work: held by a finalizer until
the work is done, as AWS requires a queue or an environment to be disabled and unused before
it goes.

Kubatch puts its finalizer on every JobQueue and ComputeEnvironment. Once one is deleted:
- a queue takes no new jobs (they fail: "is being deleted"); the jobs already in it run to
  their end; then the finalizer is lifted;
- an environment takes no new placements and grows no more; its idle nodes are given up at
  once (minvCpus no longer holds); once no Kubatch pod runs on it and, for a managed pool,
  its nodes are gone, the finalizer is lifted.
Meanwhile their status is DELETING with what they wait for. The finalizer is kept
level-triggered: added or lifted again until the object shows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from ...api import API_VERSION, COMPUTEENVIRONMENTS, JOBQUEUES
from ...api.common import JobStatus, Obj
from ...keys import FINALIZER
from ..outbox.effects import Effect, PatchObject
from ..state.objects import EnvState
from ..state.store import Store

RESEND = timedelta(seconds=10)
UNFINISHED = (
    JobStatus.SUBMITTED,
    JobStatus.PENDING,
    JobStatus.RUNNABLE,
    JobStatus.STARTING,
    JobStatus.RUNNING,
)


def is_deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def queue_holds(name: str, counts: Mapping[str, Counter[JobStatus]]) -> str | None:
    """What a deleted queue waits for, or None once it can go."""
    left = sum(counts.get(name, Counter())[s] for s in UNFINISHED)
    return f"waiting for {left} job(s) in the queue to end" if left else None


def environment_holds(store: Store, env: EnvState) -> str | None:
    """What a deleted environment waits for, or None once it can go."""
    pool = store.pool_nodes(env.selector)
    busy = sum(1 for n in pool if n.ours.millicpu or n.ours.memory)
    if busy:
        return f"waiting for the jobs on {busy} node(s) to end"
    if env.provider != "unmanaged" and pool:
        return f"waiting for {len(pool)} node(s) to be removed"
    return None


def deleting_status(status: Obj, holds: str | None) -> Obj:
    return {**status, "status": "DELETING", "statusReason": holds or "being deleted"}


class Finalizers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: dict[tuple[str, str], datetime] = {}

    def effects(self, now: datetime, counts: Mapping[str, Counter[JobStatus]]) -> list[Effect]:
        found: list[Effect] = []
        for name, env in self.store.envs.items():
            holds = environment_holds(self.store, env)
            patch = self._patch(COMPUTEENVIRONMENTS, name, env.obj, holds, now)
            if patch is not None:
                found.append(
                    PatchObject(
                        api_version=API_VERSION,
                        plural=COMPUTEENVIRONMENTS,
                        namespace=None,
                        name=name,
                        patch=patch,
                    )
                )
        for name, queue in self.store.queues.items():
            patch = self._patch(JOBQUEUES, name, queue.obj, queue_holds(name, counts), now)
            if patch is not None:
                found.append(
                    PatchObject(
                        api_version=API_VERSION,
                        plural=JOBQUEUES,
                        namespace=None,
                        name=name,
                        patch=patch,
                    )
                )
        return found

    def _patch(
        self, plural: str, name: str, obj: Obj, holds: str | None, now: datetime
    ) -> Obj | None:
        """The metadata patch that puts the finalizer on (or, once free, lifts it)."""
        meta = obj["metadata"]
        present = list(meta.get("finalizers") or [])
        deleting = is_deleting(obj)
        if deleting and FINALIZER in present and holds is None:
            wanted = [f for f in present if f != FINALIZER]
        elif not deleting and FINALIZER not in present:
            wanted = [*present, FINALIZER]
        else:
            self.sent.pop((plural, name), None)
            return None
        last = self.sent.get((plural, name))
        if last is not None and now - last < RESEND:
            return None
        self.sent[(plural, name)] = now
        # Conditional on the version read: a finalizer list changed meanwhile is not lost.
        return {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}

    def forget(self, plural: str, name: str) -> None:
        self.sent.pop((plural, name), None)
