"""Every kind the operator watches, once: how it is watched, why, and what its events do to
the engine. The table's order is the order of the initial sync (what a kind refers to comes
before it: environments before queues, revisions before definitions, nodes before pods)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..api import (
    API_VERSION,
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    JOBDEFINITIONS,
    JOBQUEUES,
    SCHEDULEDJOBS,
    SCHEDULINGPOLICIES,
)
from ..api.common import Obj
from ..core import Engine
from ..keys import LABEL_MANAGED_BY, MANAGED_BY

Apply = Callable[[Engine, Obj, datetime], None]

KOPF: Literal["kopf"] = "kopf"
INFORMER: Literal["informer"] = "informer"
FEW = "few objects: kopf's watch, with its retries and back-off, costs nothing here"
MANY = (
    "the many objects (a job and a pod per attempt): watched directly from the initial list, "
    "without kopf's per-object state, which cost more CPU than the engine itself"
)


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"]["namespace"])


@dataclass(frozen=True, kw_only=True)
class Watched:
    api_version: str
    plural: str
    by: Literal["kopf", "informer"]
    why: str
    upsert: Apply
    delete: Apply
    labels: Mapping[str, str] = field(default_factory=dict)
    """Only objects with these labels."""

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.api_version.rpartition("/")
        return group, version

    @property
    def label_selector(self) -> str | None:
        return ",".join(f"{k}={v}" for k, v in self.labels.items()) or None


def _ignore(world: Engine, obj: Obj, now: datetime) -> None:
    """A deleted revision changes nothing: its definition keeps the history it had."""


WATCHED: tuple[Watched, ...] = (
    Watched(
        api_version=API_VERSION,
        plural=COMPUTEENVIRONMENTS,
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_environment(o, now),
        delete=lambda w, o, now: w.delete_environment(_name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=SCHEDULINGPOLICIES,
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_policy(o, now),
        delete=lambda w, o, now: w.delete_policy(_name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=JOBQUEUES,
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_queue(o, now),
        delete=lambda w, o, now: w.delete_queue(_name(o)),
    ),
    Watched(
        api_version="apps/v1",
        plural="controllerrevisions",
        by=KOPF,
        why=FEW + " (a definition's revisions, Kubatch's only)",
        labels={LABEL_MANAGED_BY: MANAGED_BY},
        upsert=lambda w, o, now: w.upsert_revision(o),
        delete=_ignore,
    ),
    Watched(
        api_version=API_VERSION,
        plural=JOBDEFINITIONS,
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_definition(o, now),
        delete=lambda w, o, now: w.delete_definition(_namespace(o), _name(o)),
    ),
    Watched(
        api_version="v1",
        plural="nodes",
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_node(o, now),
        delete=lambda w, o, now: w.delete_node(_name(o)),
    ),
    Watched(
        api_version=API_VERSION,
        plural=BATCHJOBS,
        by=INFORMER,
        why=MANY,
        upsert=lambda w, o, now: w.upsert_job(o, now),
        delete=lambda w, o, now: w.delete_job(_namespace(o), _name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=SCHEDULEDJOBS,
        by=KOPF,
        why=FEW,
        upsert=lambda w, o, now: w.upsert_cron(o, now),
        delete=lambda w, o, now: w.delete_cron(_namespace(o), _name(o)),
    ),
    Watched(
        api_version="v1",
        plural="pods",
        by=INFORMER,
        why=MANY + "; every pod, Kubatch's or not, holds capacity on its node",
        upsert=lambda w, o, now: w.observe_pod(o, now),
        delete=lambda w, o, now: w.observe_pod(o, now, deleted=True),
    ),
)
BY_PLURAL = {w.plural: w for w in WATCHED}
