"""The web console: pages rendered on the server from informer caches (no request to the API
server per page but a pod's log), kept live by server-sent events, with cancel and
terminate when they are enabled and the caller may patch the job.

Pages: / (dashboard), /jobs, /jobs/{namespace}/{name}, /jobs/{namespace}/{name}/logs,
/definitions, /scheduled; /events (the live stream), /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from .. import __version__
from ..api import BATCHJOBS, GROUP, VERSION
from ..api.batchjob import BatchJobStatus, worker_cluster_running
from ..api.common import JOB_STATES, NOT_STARTED, TERMINAL, Obj
from ..api.times import parse_time
from ..core import essential_container, kept_log, serve_kept_log
from ..keys import LABEL_ARRAY_INDEX, LABEL_JOB_UID, LABEL_KEPT_LOG, LABEL_NODE_INDEX
from ..kube.cache import KubatchCaches
from ..kube.client import Client
from ..kube.errors import ApiError
from . import views
from .queries import (
    BadQuery,
    EventsQuery,
    JobQuery,
    JobsQuery,
    LogQuery,
    NamespaceQuery,
    Query,
    StopForm,
    parse_query,
)

log = logging.getLogger("kubatch.console")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FRAGMENT_HEADER = "X-Kubatch-Fragment"
"""Asked by the page's script when something changed: only the live part is sent back."""
COALESCE = 0.2
"""Seconds changes are gathered before the stream tells the pages (at most 5 events/s)."""
HEARTBEAT = 15.0


class Actions(StrEnum):
    """Who may cancel and terminate jobs from the console."""

    NONE = "none"
    """Nobody: the console only reads (the default)."""
    ALL = "all"
    """Anyone who reaches the console (a workstation, `kubatch dev`)."""
    RBAC = "rbac"
    """The user an authenticating proxy names (X-Forwarded-User, X-Forwarded-Groups), when a
    SubjectAccessReview says that user may patch the job."""


class Problem(Exception):
    """A page that cannot be shown: its HTTP status and what to tell the reader."""

    def __init__(self, status: int, title: str, lines: list[str]) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.lines = lines


class Stream:
    """One open event stream: what changed since it last told its page."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.wake = asyncio.Event()


class Changes:
    """Tells every open stream which resources changed since it last heard."""

    def __init__(self) -> None:
        self.streams: set[Stream] = set()

    def changed(self, plural: str) -> None:
        for stream in list(self.streams):
            stream.pending.add(plural)
            stream.wake.set()


def _clock(value: str) -> str:
    """An API timestamp as the pages show it: "2026-11-23 16:11:20" (UTC, whole seconds)."""
    found = parse_time(value)
    return found.strftime("%Y-%m-%d %H:%M:%S") if found else value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubatch.console", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["STATES"] = JOB_STATES
    env.globals["version"] = __version__
    env.filters["clock"] = _clock
    env.filters["urlencode_query"] = lambda values: urlencode(
        {k: v for k, v in values.items() if v not in (None, "")}
    )
    # Last: the macros are compiled with the filters above.
    macros = env.get_template("_macros.html").module
    for name in ("bar", "state", "when", "job_link", "attempts_table"):
        env.globals[name] = getattr(macros, name)
    return env


class Console:
    def __init__(
        self,
        client: Client,
        actions: Actions = Actions.NONE,
        user_header: str = "X-Forwarded-User",
        groups_header: str = "X-Forwarded-Groups",
    ) -> None:
        self.client = client
        self.actions = actions
        self.user_header = user_header
        self.groups_header = groups_header
        self.caches = KubatchCaches(client, scheduled=True)
        self.changes = Changes()
        self.caches.listen(self.changes.changed)
        self.templates = _environment()
        self.secret = secrets.token_bytes(32)
        self.closing = asyncio.Event()

    async def start(self) -> None:
        await self.caches.start()

    async def stop(self) -> None:
        self.closing.set()
        await self.caches.stop()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._problems])
        static = resources.files("kubatch.console") / "static"
        app.router.add_get("/", self._page(self.dashboard))
        app.router.add_get("/jobs", self._page(self.jobs))
        app.router.add_get("/jobs/{namespace}/{name}", self._page(self.job))
        app.router.add_get("/jobs/{namespace}/{name}/logs", self._page(self.logs))
        app.router.add_post("/jobs/{namespace}/{name}/{action:cancel|terminate}", self.stop_job)
        app.router.add_get("/definitions", self._page(self.definitions))
        app.router.add_get("/scheduled", self._page(self.scheduled))
        app.router.add_get("/events", self.events)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_static("/static", str(static), append_version=True)
        app.on_shutdown.append(self._closing)
        return app

    async def _closing(self, app: web.Application) -> None:
        self.closing.set()

    # -- plumbing ----------------------------------------------------------------------------

    @web.middleware
    async def _problems(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every failure becomes a page that says what went wrong: never a stack trace."""
        try:
            return await handler(request)
        except Problem as p:
            return self._render(request, "problem.html", p.status, title=p.title, lines=p.lines)
        except BadQuery as e:
            return self._render(
                request,
                "problem.html",
                400,
                title="This page cannot be shown for that request",
                lines=e.problems,
            )
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return self._render(request, "problem.html", e.status, title=e.reason, lines=[])
        except ApiError as e:
            log.warning("API request failed: %s", e)
            return self._render(
                request,
                "problem.html",
                502,
                title="The Kubernetes API refused or did not answer",
                lines=[f"{e.status} {e.reason}: {e.message}"],
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("page %s failed", request.path)
            return self._render(
                request,
                "problem.html",
                500,
                title="Something went wrong on the console's side",
                lines=["The error is in the console's log."],
            )

    def _page(
        self, build: Callable[[web.Request], Awaitable[tuple[str, dict[str, Any]]]]
    ) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            template, context = await build(request)
            return self._render(request, template, 200, **context)

        return handler

    def _render(
        self, request: web.Request, template: str, status: int, **context: Any
    ) -> web.Response:
        found = self.templates.get_template(template)
        context = {
            "path": request.path,
            "actions": self.actions.value,
            "token": self.token(),
            "kinds": "",
            "now": datetime.now(UTC),
            **context,
        }
        if request.headers.get(FRAGMENT_HEADER) == "live" and "live" in found.blocks:
            text = "".join(found.blocks["live"](found.new_context(context)))
        else:
            text = found.render(context)
        response = web.Response(text=text, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        return response

    def token(self) -> str:
        """The forms' token: a page of this console can read it, another site cannot."""
        return hmac.new(self.secret, b"stop-jobs", hashlib.sha256).hexdigest()

    @staticmethod
    def _query(model: type[Query], request: web.Request) -> Any:
        repeated = [k for k in set(request.query) if len(request.query.getall(k)) > 1]
        if repeated:
            raise BadQuery([f"{k}: is given more than once" for k in sorted(repeated)])
        return parse_query(model, dict(request.query))

    def _job_obj(self, namespace: str, name: str) -> dict[str, Any]:
        found = self.caches.jobs.get(namespace, name)
        if found is None:
            raise Problem(
                404,
                f"BatchJob {namespace}/{name} not found",
                ["It may not be submitted yet, or it was deleted."],
            )
        return found

    # -- pages -------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        synced = all(c.synced.is_set() for c in self.caches.all)
        return web.Response(text="ok\n" if synced else "syncing\n", status=200 if synced else 503)

    async def dashboard(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        self._query(NamespaceQuery, request)
        view = views.dashboard(
            self.caches.queues.values(),
            self.caches.environments.values(),
            datetime.now(UTC),
            self.caches.consumables.values(),
        )
        return "dashboard.html", {
            "view": view,
            "kinds": "jobqueues,computeenvironments,consumableresources",
            "title": "Dashboard",
        }

    async def jobs(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        query: JobsQuery = self._query(JobsQuery, request)
        page = views.job_page(self.caches.jobs.values(), query, datetime.now(UTC))
        given = query.model_dump(exclude_defaults=True, mode="json")
        return "jobs.html", {
            "view": page,
            "given": given,
            "kinds": BATCHJOBS,
            "title": "Jobs",
        }

    async def _pods(self, job: Obj, index: int | None) -> list[views.AttemptRow]:
        """The attempts of the job (of its child `index`) as their pods tell them."""
        selector = f"{LABEL_JOB_UID}={job['metadata']['uid']}"
        if index is not None:
            selector += f",{LABEL_ARRAY_INDEX}={index}"
        nodes = BatchJobStatus.of(job).node_properties
        if nodes:  # a multi-node job's attempts are its main node's
            selector += f",{LABEL_NODE_INDEX}={nodes.main_node}"
        namespace = str(job["metadata"]["namespace"])
        pods = await self.client.list("v1", "pods", namespace, label_selector=selector)
        rows = {p["metadata"]["name"]: views.pod_attempt(p) for p in pods}
        # An attempt whose pod is gone (with its node) keeps its log: it is one still.
        kept = await self.client.list(
            "v1", "configmaps", namespace, label_selector=f"{selector},{LABEL_KEPT_LOG}"
        )
        for configmap in kept:
            row = views.kept_attempt(configmap)
            rows.setdefault(row.pod, row)
        if not nodes:  # its (child's) attempts in its status, wherever their pods are
            for detail in BatchJobStatus.of(job).attempts:
                if detail.pod_name and index in (None, detail.array_index):
                    rows.setdefault(detail.pod_name, views.status_attempt(detail))
        return sorted(rows.values(), key=lambda a: a.attempt)

    async def job(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        query: JobQuery = self._query(JobQuery, request)
        job = self._job_obj(namespace, name)
        dependencies = {
            name: found
            for name in views.dependency_names(job)
            if (found := self.caches.jobs.get(namespace, name)) is not None
        }
        queue = self.caches.queues.get(None, str((job.get("spec") or {}).get("jobQueue", "")))
        detail = views.job_detail(job, dependencies, queue, datetime.now(UTC))
        child: dict[str, Any] | None = None
        if query.index is not None:
            problem = views.child_problem(job, query.index)
            if problem:
                raise BadQuery([f"index: {problem}"])
            child = {
                "index": query.index,
                "state": views.child_state(job, query.index),
                "attempts": await self._pods(job, query.index),
            }
        return "job.html", {
            "view": detail,
            "child": child,
            "requested": query.requested or "",
            "kinds": "batchjobs,jobqueues",
            "title": f"Job {name}",
        }

    async def logs(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        query: LogQuery = self._query(LogQuery, request)
        job = self._job_obj(namespace, name)
        pod, why = None, views.child_problem(job, query.index)
        if not why:
            pods = await self._pods(job, query.index)
            pod, why = views.log_pod(job, query.attempt, query.index, pods)
        text = ""
        if pod is not None:
            try:
                text = await self._log(namespace, pod, query.tail)
            except ApiError as e:
                cluster = worker_cluster_running(job, pod)
                why = (
                    f"the pod {pod} runs in worker cluster {cluster}: its log is kept here "
                    f"once it ends (`kubatch logs {name} --worker-context {cluster}=CONTEXT` "
                    "reads it now)"
                    if e.not_found and cluster
                    else f"the pod {pod} is gone: its log went with it (none was kept)"
                    if e.not_found
                    else f"the log of {pod} cannot be read: {e.message}"
                )
        return "logs.html", {
            "row": views.job_row(job, datetime.now(UTC)),
            "query": query,
            "pod": pod,
            "why": why,
            "text": text,
            "title": f"Log of {name}"
            + (f" child {query.index}" if query.index is not None else ""),
        }

    async def _log(self, namespace: str, pod: str, tail: int) -> str:
        """The pod's log (its essential container's); once the pod is gone, the log kept of
        it."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        try:
            return await self.client.text(path, {"tailLines": str(tail)})
        except ApiError as e:
            if e.status == 400 and "container name must be specified" in e.message:
                # A pod of several containers (an EKS-style definition's): its essential one.
                found = await self.client.get("v1", "pods", pod, namespace)
                params = {"tailLines": str(tail), "container": essential_container(found)}
                return await self.client.text(path, params)
            if not e.not_found:
                raise
        configmap = await self.client.get("v1", "configmaps", pod, namespace)
        return serve_kept_log(kept_log(configmap), timestamps=False, tail=tail)

    async def definitions(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        query: NamespaceQuery = self._query(NamespaceQuery, request)
        rows = views.definitions(
            self.caches.definitions.values(), self.caches.revisions.values(), query.namespace
        )
        return "definitions.html", {
            "rows": rows,
            "query": query,
            "kinds": "jobdefinitions,controllerrevisions",
            "title": "Job definitions",
        }

    async def scheduled(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        query: NamespaceQuery = self._query(NamespaceQuery, request)
        rows = views.scheduled_jobs(
            self.caches.scheduled.values(),
            self.caches.jobs.values(),
            query.namespace,
            datetime.now(UTC),
        )
        return "scheduled.html", {
            "rows": rows,
            "query": query,
            "kinds": "scheduledjobs,batchjobs",
            "title": "Scheduled jobs",
        }

    # -- actions -----------------------------------------------------------------------------

    async def stop_job(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        action = request.match_info["action"]
        if self.actions is Actions.NONE:
            raise Problem(
                403,
                f"{action.capitalize()} is turned off in this console",
                ["The console was started read-only (--actions none); use kubatch or kubectl."],
            )
        form = await request.post()
        values: Mapping[str, str] = {k: v for k, v in form.items() if isinstance(v, str)}
        stop = parse_query(StopForm, values)
        if not hmac.compare_digest(stop.token, self.token()):
            raise Problem(
                403,
                "The form's token does not match",
                ["Open the job's page again and resend the form from it."],
            )
        job = self._job_obj(namespace, name)
        state = views.job_status(job)
        if action == "cancel" and state not in NOT_STARTED:
            raise Problem(
                409,
                f"{name} is {state}: cancel acts only on SUBMITTED, PENDING and RUNNABLE jobs",
                ["A job that has started goes on; terminate stops it."],
            )
        if action == "terminate" and state in TERMINAL:
            raise Problem(409, f"{name} is {state} already: there is nothing to terminate", [])
        if self.actions is Actions.RBAC:
            await self._authorize(request, namespace, name)
        request_body: dict[str, Any] = {"reason": stop.reason}
        if stop.index:
            request_body["arrayIndexes"] = stop.index
        try:
            written = await self.client.patch(
                f"{GROUP}/{VERSION}",
                BATCHJOBS,
                name,
                {"spec": {action: request_body}},
                namespace,
            )
        except ApiError as e:
            if e.status in (403, 404, 409, 422):
                raise Problem(
                    e.status, f"{action.capitalize()} of {name} was refused", [e.message]
                ) from None
            raise
        self.caches.jobs.put(written)
        log.info("%s of %s/%s requested: %s", action, namespace, name, stop.reason)
        raise web.HTTPSeeOther(f"/jobs/{namespace}/{name}?requested={action}")

    async def _authorize(self, request: web.Request, namespace: str, name: str) -> None:
        user = request.headers.get(self.user_header, "").strip()
        if not user:
            raise Problem(
                401,
                "Who you are is not known",
                [
                    f"Stopping jobs needs the user an authenticating proxy names in "
                    f"{self.user_header}; this request has none."
                ],
            )
        groups = [
            g.strip() for g in request.headers.get(self.groups_header, "").split(",") if g.strip()
        ]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": groups,
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "patch",
                    "group": GROUP,
                    "resource": BATCHJOBS,
                    "name": name,
                },
            },
        }
        answer = await self.client.request(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review
        )
        status = answer.get("status") or {}
        if not status.get("allowed"):
            raise Problem(
                403,
                f"{user} may not stop jobs in namespace {namespace}",
                [
                    f"Kubernetes RBAC does not let {user} patch batchjobs.kubatch.io "
                    f"in {namespace}" + (f": {status['reason']}" if status.get("reason") else "")
                ],
            )

    # -- live --------------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `change` with the resources that changed, at most every
        COALESCE seconds, and a comment every HEARTBEAT seconds to keep proxies open."""
        query: EventsQuery = self._query(EventsQuery, request)
        wanted = {k for k in query.kinds.split(",") if k}
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        stream = Stream()
        pending, wake = stream.pending, stream.wake
        self.changes.streams.add(stream)
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await response.write(b"retry: 1000\nevent: ready\ndata: \n\n")
            while not self.closing.is_set():
                woken = asyncio.ensure_future(wake.wait())
                done, _ = await asyncio.wait(
                    {woken, closing}, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                if closing in done:
                    break
                if not done:
                    await response.write(b": heartbeat\n\n")
                    continue
                await asyncio.sleep(COALESCE)
                wake.clear()
                changed = sorted(pending & wanted if wanted else pending)
                pending.clear()
                if changed:
                    await response.write(f"event: change\ndata: {','.join(changed)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            closing.cancel()
            self.changes.streams.discard(stream)
            with contextlib.suppress(Exception):
                await response.write_eof()
        return response
