"""Every kind the operator watches, once: why, and what its events do to the engine. Each is
listed once at start, in the table's order (what a kind refers to comes before it:
environments before queues, revisions before definitions, nodes before pods), and watched
from that list's version by the project's informer (kube/client.py): one watch machinery, one
list per kind. A list made again after a watch was lost tells the engine what went meanwhile
(Engine.unlisted), which kopf's watches never told it. kopf remains the process's runtime:
login, start-up and clean-up, signals."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..api import (
    API_VERSION,
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    CONSUMABLERESOURCES,
    JOBDEFINITIONS,
    JOBQUEUES,
    SCHEDULEDJOBS,
    SCHEDULINGPOLICIES,
)
from ..api.common import Obj
from ..core import Engine
from ..keys import LABEL_KEPT_LOG, LABEL_MANAGED_BY, MANAGED_BY

Apply = Callable[[Engine, Obj, datetime], None]


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"]["namespace"])


@dataclass(frozen=True, kw_only=True)
class Watched:
    api_version: str
    plural: str
    why: str
    upsert: Apply
    delete: Apply
    labels: Mapping[str, str | None] = field(default_factory=dict)
    """Only objects with these labels (None: with the label, whatever its value)."""

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.api_version.rpartition("/")
        return group, version

    @property
    def label_selector(self) -> str | None:
        terms = (k if v is None else f"{k}={v}" for k, v in self.labels.items())
        return ",".join(terms) or None


def _ignore(world: Engine, obj: Obj, now: datetime) -> None:
    """A deleted revision changes nothing: its definition keeps the history it had."""


WATCHED: tuple[Watched, ...] = (
    Watched(
        api_version=API_VERSION,
        plural=COMPUTEENVIRONMENTS,
        why="the node pools: queues and jobs are placed on them",
        upsert=lambda w, o, now: w.upsert_environment(o, now),
        delete=lambda w, o, now: w.delete_environment(_name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=SCHEDULINGPOLICIES,
        why="fair-share policies, which queues name",
        upsert=lambda w, o, now: w.upsert_policy(o, now),
        delete=lambda w, o, now: w.delete_policy(_name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=JOBQUEUES,
        why="queues, which name environments and policies and order the jobs",
        upsert=lambda w, o, now: w.upsert_queue(o, now),
        delete=lambda w, o, now: w.delete_queue(_name(o)),
    ),
    Watched(
        api_version="apps/v1",
        plural="controllerrevisions",
        why="a definition's revisions (Kubatch's only), which jobs name",
        labels={LABEL_MANAGED_BY: MANAGED_BY},
        upsert=lambda w, o, now: w.upsert_revision(o),
        delete=_ignore,
    ),
    Watched(
        api_version=API_VERSION,
        plural=JOBDEFINITIONS,
        why="definitions, which jobs name",
        upsert=lambda w, o, now: w.upsert_definition(o, now),
        delete=lambda w, o, now: w.delete_definition(_namespace(o), _name(o)),
    ),
    Watched(
        api_version=API_VERSION,
        plural=CONSUMABLERESOURCES,
        why="counted resources (licenses, seats) that jobs hold while they run",
        upsert=lambda w, o, now: w.upsert_consumable(o),
        delete=lambda w, o, now: w.delete_consumable(_name(o)),
    ),
    Watched(
        api_version="v1",
        plural="nodes",
        why="the capacity that placement counts",
        upsert=lambda w, o, now: w.upsert_node(o, now),
        delete=lambda w, o, now: w.delete_node(_name(o)),
    ),
    Watched(
        api_version=API_VERSION,
        plural=BATCHJOBS,
        why="the jobs: the many objects, a status written for each",
        upsert=lambda w, o, now: w.upsert_job(o, now),
        delete=lambda w, o, now: w.delete_job(_namespace(o), _name(o), now),
    ),
    Watched(
        api_version=API_VERSION,
        plural=SCHEDULEDJOBS,
        why="schedules that submit jobs",
        upsert=lambda w, o, now: w.upsert_cron(o, now),
        delete=lambda w, o, now: w.delete_cron(_namespace(o), _name(o)),
    ),
    Watched(
        api_version="v1",
        plural="configmaps",
        why="the kept logs of ended attempts (Kubatch's only): before the pods, so that a log "
        "already kept is not asked for again",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_KEPT_LOG: None},
        upsert=lambda w, o, now: w.observe_kept_log(o),
        delete=lambda w, o, now: w.observe_kept_log(o, deleted=True),
    ),
    Watched(
        api_version="v1",
        plural="pods",
        why="every attempt; every pod, Kubatch's or not, holds capacity on its node",
        upsert=lambda w, o, now: w.observe_pod(o, now),
        delete=lambda w, o, now: w.observe_pod(o, now, deleted=True),
    ),
)
BY_PLURAL = {w.plural: w for w in WATCHED}
