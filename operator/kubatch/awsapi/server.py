"""The AWS Batch API over HTTP (`kubatch api`): botocore's `batch` service model routes each
request to its operation and checks its parameters; every operation reads the caches and
writes the custom resources with the server's own ServiceAccount, within the namespace the
caller's access key maps to."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from aiohttp import web
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from ..api import (
    API_VERSION,
    BATCHJOBS,
    COMPUTEENVIRONMENTS,
    JOBDEFINITIONS,
    JOBQUEUES,
    SCHEDULINGPOLICIES,
    InvalidManifest,
    JobDefinition,
    parse,
)
from ..api.common import JobStatus, Obj
from ..api.jobdefinition import JobDefinitionSpec
from ..core import Revision, format_ranges, parse_ranges, revision_hash
from ..keys import ANNOTATION_AWS_NAME, ANNOTATION_AWS_TAGS, LABEL_DEFINITION
from ..kube.cache import Cache, KubatchCaches
from ..kube.client import Client
from ..kube.errors import ApiError
from . import logs, shapes
from .auth import AccessKey, Signed, read_keys, verify
from .errors import AccessDenied, AwsError, ClientError, ServerError
from .names import Arns, check_name, object_name

Handler = Callable[[Obj, Signed], Awaitable[Obj]]
log = logging.getLogger("kubatch.awsapi")

ADMIN = {
    "CreateComputeEnvironment",
    "UpdateComputeEnvironment",
    "DeleteComputeEnvironment",
    "CreateJobQueue",
    "UpdateJobQueue",
    "DeleteJobQueue",
    "CreateSchedulingPolicy",
    "UpdateSchedulingPolicy",
    "DeleteSchedulingPolicy",
}


@dataclass(frozen=True, kw_only=True)
class ClusterKind:
    """A cluster-scoped kind the API manages: its plural, its Kind, its name in messages,
    and whether a delete waits for state DISABLED (as AWS asks)."""

    plural: str
    kind: str
    title: str
    disable_first: bool = True


# By the kind an ARN names. Tagging them is managing them (admin keys only).
CLUSTER = {
    "compute-environment": ClusterKind(
        plural=COMPUTEENVIRONMENTS, kind="ComputeEnvironment", title="compute environment"
    ),
    "job-queue": ClusterKind(plural=JOBQUEUES, kind="JobQueue", title="job queue"),
    "scheduling-policy": ClusterKind(
        plural=SCHEDULINGPOLICIES,
        kind="SchedulingPolicy",
        title="scheduling policy",
        disable_first=False,
    ),
}
REVISION_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: OperationModel


def routes() -> list[Route]:
    """One route per operation of botocore's batch model (its method and requestUri)."""
    model = botocore.session.get_session().get_service_model("batch")
    found = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"].split("?")[0]
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
        found.append(Route(operation.http["method"], re.compile(f"^{pattern}$"), operation))
    return found


def page(
    items: list[Any], request: Obj, default: int = 100, most: int = 1000
) -> tuple[list[Any], str | None]:
    """A page of `items` and the nextToken of the next one (opaque to callers)."""
    size = request.get("maxResults")
    size = default if size is None else size
    if not isinstance(size, int) or not 1 <= size <= most:
        raise ClientError(f"maxResults must be between 1 and {most}")
    start = 0
    token = request.get("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ClientError("nextToken is not a token this endpoint returned") from None
    end = start + size
    following = (
        base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
        if end < len(items)
        else None
    )
    return items[start:end], following


class BatchApi:
    def __init__(
        self,
        client: Client,
        arns: Arns,
        keys: Callable[[str], Awaitable[dict[str, AccessKey]]],
    ) -> None:
        self.client = client
        self.arns = arns
        self.caches = KubatchCaches(client)
        self.keys = keys
        self.routes = routes()
        self.validator = ParamValidator()
        self.logs = logs.LogsModel()
        self.handlers = self.operations()

    # -- HTTP --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        """For probes: up once every cache has listed its objects (no AWS operation is GET
        /healthz, so this route hides none)."""
        synced = all(c.synced.is_set() for c in self.caches.all)
        return web.Response(text="ok" if synced else "syncing", status=200 if synced else 503)

    def operations(self) -> dict[str, Handler]:
        """Every AWS Batch operation served, by its name in botocore's model, and its handler:
        the one place a request's operation is looked up."""
        return {
            "SubmitJob": self.op_submit_job,
            "DescribeJobs": self.op_describe_jobs,
            "ListJobs": self.op_list_jobs,
            "CancelJob": self.op_cancel_job,
            "TerminateJob": self.op_terminate_job,
            "RegisterJobDefinition": self.op_register_job_definition,
            "DescribeJobDefinitions": self.op_describe_job_definitions,
            "DeregisterJobDefinition": self.op_deregister_job_definition,
            "CreateComputeEnvironment": self.op_create_compute_environment,
            "UpdateComputeEnvironment": self.op_update_compute_environment,
            "DeleteComputeEnvironment": self.op_delete_compute_environment,
            "DescribeComputeEnvironments": self.op_describe_compute_environments,
            "CreateJobQueue": self.op_create_job_queue,
            "UpdateJobQueue": self.op_update_job_queue,
            "DeleteJobQueue": self.op_delete_job_queue,
            "DescribeJobQueues": self.op_describe_job_queues,
            "CreateSchedulingPolicy": self.op_create_scheduling_policy,
            "UpdateSchedulingPolicy": self.op_update_scheduling_policy,
            "DeleteSchedulingPolicy": self.op_delete_scheduling_policy,
            "DescribeSchedulingPolicies": self.op_describe_scheduling_policies,
            "ListSchedulingPolicies": self.op_list_scheduling_policies,
            "TagResource": self.op_tag_resource,
            "UntagResource": self.op_untag_resource,
            "ListTagsForResource": self.op_list_tags_for_resource,
        }

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        operation = "Unknown"
        caller = "-"
        try:
            logs_operation = logs.operation_of(request.headers.get("X-Amz-Target"))
            if logs_operation is not None and request.method == "POST":
                operation = logs_operation
                body = await request.read()
                signed = await self._signed(request, body, logs.SERVICE)
                caller = signed.key.access_key_id
                result = await self._logs(logs_operation, body, signed)
                response = web.json_response(
                    result,
                    content_type="application/x-amz-json-1.1",
                    headers={"x-amzn-RequestId": str(uuid.uuid4())},
                )
                log.info("POST %s by %s -> 200", operation, caller)
                return response
            route, match = self._route(request)
            operation = route.operation.name
            body = await request.read()
            signed = await self._signed(request, body, "batch")
            caller = signed.key.access_key_id
            params = self._params(route, match, request, body)
            if operation in ADMIN and not signed.key.admin:
                raise AccessDenied(
                    f"User: {signed.key.access_key_id} is not authorized to perform: "
                    f"batch:{operation} (the access key is not an admin key)"
                )
            handler = self.handlers.get(operation)
            if handler is None:
                raise ClientError(f"{operation} is not supported by Kubatch")
            result = await handler(params, signed)
            response = web.json_response(result, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        except AwsError as e:
            response = self._error(e)
        except ApiError as e:
            log.warning("%s: the API server answered %s %s", operation, e.status, e)
            response = self._error(ServerError(f"Kubernetes API error: {e}"))
        except Exception:
            log.exception("%s failed", operation)
            response = self._error(ServerError("Internal error"))
        log.info(
            "%s %s by %s -> %s in %.0f ms",
            request.method,
            operation,
            caller,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    async def _signed(self, request: web.Request, body: bytes, service: str) -> Signed:
        return verify(
            request.method,
            f"http://{request.host}{request.raw_path}",
            dict(request.headers),
            body,
            await self.keys(_access_key(request.headers.get("Authorization", ""))),
            self.arns.region,
            datetime.now(UTC),
            service,
        )

    async def _logs(self, operation: str, body: bytes, caller: Signed) -> Obj:
        """CloudWatch Logs' GetLogEvents on the attempts' pods (see awsapi/logs.py)."""
        request = self.logs.check(operation, body)
        if operation != "GetLogEvents":
            raise ClientError(f"{operation} is not supported by Kubatch (GetLogEvents is)")
        namespace = caller.key.namespace
        jobs = [j for j in self.caches.jobs.values() if j["metadata"]["namespace"] == namespace]
        stream = logs.check_stream(request, jobs)
        try:
            text = await self.client.text(
                f"/api/v1/namespaces/{namespace}/pods/{stream}/log", {"timestamps": "true"}
            )
        except ApiError as e:
            if e.not_found:
                raise logs.ResourceNotFound("The specified log stream does not exist.") from e
            if e.status == 400:  # the container is still being created: nothing logged yet
                text = ""
            else:
                raise
        return logs.page(logs.parse_log(text), request)

    def _error(self, error: AwsError) -> web.Response:
        return web.json_response(
            error.body(),
            status=error.status,
            headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())},
        )

    def _route(self, request: web.Request) -> tuple[Route, re.Match[str]]:
        path = request.raw_path.split("?", 1)[0]  # still quoted: an ARN in it holds "/"
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == request.method:
                return route, found
        raise ClientError(f"no AWS Batch operation is {request.method} {request.path}")

    def _params(self, route: Route, match: re.Match[str], request: web.Request, body: bytes) -> Obj:
        params: Obj = {}
        if body.strip():
            try:
                params = json.loads(body)
            except ValueError:
                raise ClientError("the request body is not valid JSON") from None
            if not isinstance(params, dict):
                raise ClientError("the request body must be a JSON object")
        params.update({k: unquote(v) for k, v in match.groupdict().items()})
        query = parse_qs(request.query_string)
        shape = route.operation.input_shape
        if shape is not None:
            for member, member_shape in shape.members.items():
                if member_shape.serialization.get("location") == "querystring":
                    name = member_shape.serialization.get("name", member)
                    if name in query:
                        params[member] = (
                            query[name] if member_shape.type_name == "list" else query[name][0]
                        )
            report = self.validator.validate(params, shape)
            if report.has_errors():
                raise ClientError(report.generate_report())
        return params

    async def start(self) -> None:
        await self.caches.start()

    # -- lookups -----------------------------------------------------------------------------

    def _node(self, job_id: Any, caller: Signed, field: str) -> tuple[Obj, int | None]:
        """The BatchJob of a multi-node job's node ("<uid>#<index>"), and the index; or
        (the job, None) for any other jobId."""
        text = self.arns.parse("job", job_id, field) if isinstance(job_id, str) else job_id
        uid, mark, node = str(text).partition("#")
        if not mark:
            return self._job(job_id, caller, field)[0], None
        obj, _ = self._job(uid, caller, field)
        if not node.isdigit() or int(node) not in shapes.node_status(obj.get("status") or {}):
            raise ClientError(f"Job {text} not found: {uid} has no node {node}")
        return obj, int(node)

    def _job(self, job_id: Any, caller: Signed, field: str = "jobId") -> tuple[Obj, int | None]:
        """The BatchJob of a jobId ("<uid>" or "<uid>:<index>") in the caller's namespace."""
        if not isinstance(job_id, str) or not job_id:
            raise ClientError(f"{field} is required")
        job_id = self.arns.parse("job", job_id, field)
        uid, _, index = job_id.partition(":")
        obj = self.caches.jobs.by_uid.get(uid)
        if obj is None or obj["metadata"]["namespace"] != caller.key.namespace:
            raise ClientError(f"Job {job_id} not found")
        if index:
            size = ((obj.get("spec") or {}).get("arrayProperties") or {}).get("size")
            if size is None or not index.isdigit() or int(index) >= size:
                raise ClientError(f"Job {job_id} not found: {uid} has no child {index}")
            return obj, int(index)
        return obj, None

    def _dependency(self, caller: Signed) -> Callable[[str], str]:
        def reference(job_id: str) -> str:
            obj, index = self._job(job_id, caller, "dependsOn.jobId")
            name = str(obj["metadata"]["name"])
            return name if index is None else f"{name}:{index}"

        return reference

    def _dependency_id(self, namespace: str) -> Callable[[str], str]:
        def job_id(reference: str) -> str:
            name, _, index = reference.partition(":")
            obj = self.caches.jobs.get(namespace, name)
            uid = obj["metadata"]["uid"] if obj else name
            return f"{uid}:{index}" if index else str(uid)

        return job_id

    def _revisions(self, namespace: str, name: str) -> dict[int, Obj]:
        return {
            int(r.get("revision", 0)): r
            for r in self.caches.revisions.values()
            if r["metadata"].get("namespace") == namespace
            and (r["metadata"].get("labels") or {}).get(LABEL_DEFINITION) == name
        }

    def _revision(self, namespace: str, name: str, number: int | None) -> Revision | None:
        found = self._revisions(namespace, name).get(number or 0)
        if found is None:
            return None
        return Revision(number or 0, JobDefinitionSpec.model_validate(found.get("data") or {}))

    def _cluster(self, kind: str, value: Any, field: str) -> tuple[str, Obj]:
        """(AWS name, object) of an environment, queue or policy named by name or ARN."""
        name = self.arns.parse(kind, value, field)
        check_name(field, name)
        obj = self.caches.of(CLUSTER[kind].plural).get(None, object_name(name))
        if obj is None:
            raise ClientError(f"{CLUSTER[kind].title.capitalize()} {name} does not exist")
        return name, obj

    # -- jobs --------------------------------------------------------------------------------

    async def op_submit_job(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        queue_name, queue = self._cluster("job-queue", request.get("jobQueue"), "jobQueue")
        if (queue.get("spec") or {}).get("state") == "DISABLED":
            raise ClientError(f"Job queue {queue_name} is DISABLED: it accepts no new jobs")
        allowed = (queue.get("spec") or {}).get("allowedNamespaces")
        if allowed is not None and namespace not in allowed:
            raise ClientError(f"Job queue {queue_name} does not accept jobs from this account")
        manifest = shapes.job_manifest(
            request, self.arns, self._dependency(caller), queue["metadata"]["name"]
        )
        reference = manifest["spec"]["jobDefinition"]
        definition_name, _, number = reference.partition(":")
        definition = self.caches.definitions.get(namespace, definition_name)
        revisions = self._revisions(namespace, definition_name)
        inactive = set(((definition or {}).get("spec") or {}).get("deregisteredRevisions") or [])
        active = [r for r in revisions if r not in inactive]
        if definition is None or not revisions or (number and int(number) not in revisions):
            raise ClientError(f"Job definition {request.get('jobDefinition')} not found")
        if (number and int(number) in inactive) or (not number and not active):
            raise ClientError(f"Job definition {request.get('jobDefinition')} is INACTIVE")
        self._check(manifest)
        created = await self._write(
            self.client.create(API_VERSION, BATCHJOBS, manifest, namespace), self.caches.jobs
        )
        uid = created["metadata"]["uid"]
        return {
            "jobArn": self.arns.arn("job", uid),
            "jobName": request["jobName"],
            "jobId": uid,
        }

    def _check(self, manifest: Obj) -> None:
        """Refuse what the API server would refuse, with the field and the rule."""
        body = dict(manifest)
        body["metadata"] = {**body["metadata"], "name": body["metadata"].get("name") or "x"}
        try:
            parse(body)
        except InvalidManifest as e:
            raise ClientError("; ".join(e.errors)) from None

    async def _write(self, call: Awaitable[Obj], cache: Cache) -> Obj:
        try:
            written = await call
        except ApiError as e:
            if e.status in (400, 409, 422):
                raise ClientError(
                    e.message if e.status != 409 else "Object already exists"
                ) from None
            if e.not_found:
                raise ClientError(e.message) from None
            raise
        cache.put(written)
        return written

    def _detail(
        self,
        obj: Obj,
        index: int | None,
        full: bool = True,
        kids: shapes.Children | None = None,
        node: int | None = None,
    ) -> Obj:
        namespace = obj["metadata"]["namespace"]
        spec = obj.get("spec") or {}
        definition_name, _, pinned = str(spec.get("jobDefinition", "")).partition(":")
        number = (obj.get("status") or {}).get("jobDefinitionRevision") or (
            int(pinned) if pinned else None
        )
        definition = self.caches.definitions.get(namespace, definition_name)
        shown = shapes.aws_name(definition) if definition else definition_name
        revision = self._revision(namespace, definition_name, number) if full and number else None
        queue = self.caches.queues.get(None, spec.get("jobQueue", ""))
        return shapes.job_detail(
            obj,
            self.arns,
            revision,
            shown,
            self._dependency_id(namespace),
            index,
            shapes.aws_name(queue) if queue else None,
            kids,
            node,
        )

    async def op_describe_jobs(self, request: Obj, caller: Signed) -> Obj:
        ids = request["jobs"]
        if len(ids) > 100:
            raise ClientError("jobs may hold at most 100 job ids")
        found = []
        for job_id in ids:
            try:
                if "#" in str(job_id):
                    obj, node = self._node(job_id, caller, "jobs")
                    found.append(self._detail(obj, None, node=node))
                    continue
                obj, index = self._job(job_id, caller, "jobs")
            except ClientError:
                continue  # AWS leaves out ids it does not know
            found.append(self._detail(obj, index))
        return {"jobs": found}

    async def op_list_jobs(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        filters = request.get("filters") or []
        wanted = None if filters else request.get("jobStatus") or JobStatus.RUNNING
        if request.get("multiNodeJobId"):
            parent, _ = self._node(request["multiNodeJobId"], caller, "multiNodeJobId")
            nodes = shapes.node_status(parent.get("status") or {})
            if not nodes:
                raise ClientError(f"{request['multiNodeJobId']} is not a multi-node job")
            details = [self._detail(parent, None, full=False, node=n) for n in sorted(nodes)]
        elif request.get("arrayJobId"):
            parent, index = self._job(request["arrayJobId"], caller, "arrayJobId")
            size = ((parent.get("spec") or {}).get("arrayProperties") or {}).get("size")
            if index is not None or size is None:
                raise ClientError(f"{request['arrayJobId']} is not an array job")
            kids = shapes.children(parent.get("status") or {}, size)
            details = [self._detail(parent, i, full=False, kids=kids) for i in range(size)]
        elif request.get("jobQueue"):
            _, queue = self._cluster("job-queue", request["jobQueue"], "jobQueue")
            queue_name = queue["metadata"]["name"]
            jobs = [
                j
                for j in self.caches.jobs.values()
                if j["metadata"]["namespace"] == namespace
                and (j.get("spec") or {}).get("jobQueue") == queue_name
            ]
            jobs.sort(
                key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["uid"])
            )
            details = [self._detail(j, None, full=False) for j in jobs]
        else:
            raise ClientError("one of jobQueue, arrayJobId or multiNodeJobId is required")
        details = [
            d for d in details if (wanted is None or d["status"] == wanted) and _matches(d, filters)
        ]
        shown, token = page(details, request, default=1000)
        return shapes.drop_none(
            {"jobSummaryList": [shapes.job_summary(d) for d in shown], "nextToken": token}
        )

    async def _stop(self, request: Obj, caller: Signed, field: str) -> Obj:
        obj, index = self._job(request["jobId"], caller)
        spec = obj.get("spec") or {}
        stop: Obj = {"reason": request["reason"]}
        if index is not None:
            held = spec.get(field) or {}
            if held and "arrayIndexes" not in held:
                return {}  # the whole array is already stopped
            indexes = set(parse_ranges(held["arrayIndexes"])) if held else set()
            stop["arrayIndexes"] = format_ranges(indexes | {index})
        meta = obj["metadata"]
        await self._write(
            self.client.patch(
                API_VERSION, BATCHJOBS, meta["name"], {"spec": {field: stop}}, meta["namespace"]
            ),
            self.caches.jobs,
        )
        return {}

    async def op_cancel_job(self, request: Obj, caller: Signed) -> Obj:
        return await self._stop(request, caller, "cancel")

    async def op_terminate_job(self, request: Obj, caller: Signed) -> Obj:
        return await self._stop(request, caller, "terminate")

    # -- job definitions ---------------------------------------------------------------------

    async def op_register_job_definition(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        name = check_name("jobDefinitionName", request.get("jobDefinitionName"))
        spec = shapes.definition_spec(request)
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "JobDefinition",
            "metadata": {"name": object_name(name), "annotations": {ANNOTATION_AWS_NAME: name}},
            "spec": spec,
        }
        self._check(manifest)
        try:
            current = await self.client.get(
                API_VERSION, JOBDEFINITIONS, object_name(name), namespace
            )
        except ApiError as e:
            if not e.not_found:
                raise
            written = await self._write(
                self.client.create(API_VERSION, JOBDEFINITIONS, manifest, namespace),
                self.caches.definitions,
            )
        else:
            spec["deregisteredRevisions"] = (current.get("spec") or {}).get(
                "deregisteredRevisions"
            ) or []
            current["spec"] = spec
            written = await self._write(
                self.client.request(
                    "PUT",
                    f"/apis/{API_VERSION}/namespaces/{namespace}/jobdefinitions/{object_name(name)}",
                    current,
                    write=True,
                ),
                self.caches.definitions,
            )
        number = await self._revision_of(written)
        return {
            "jobDefinitionName": name,
            "jobDefinitionArn": self.arns.arn("job-definition", f"{name}:{number}"),
            "revision": number,
        }

    async def _revision_of(self, written: Obj) -> int:
        """The revision the operator records for the spec just written (it numbers them)."""
        model = parse(written)
        assert isinstance(model, JobDefinition)
        digest = revision_hash(model.spec)
        meta = written["metadata"]
        deadline = time.monotonic() + REVISION_WAIT_SECONDS
        while time.monotonic() < deadline:
            current = await self.client.get(
                API_VERSION, JOBDEFINITIONS, meta["name"], meta["namespace"]
            )
            status = current.get("status") or {}
            for revision in status.get("revisions") or []:
                if revision.get("hash") == digest:
                    self.caches.definitions.put(current)
                    return int(revision["revision"])
            if status.get("status") == "INVALID" and (status.get("observedGeneration") or 0) >= (
                current["metadata"].get("generation") or 0
            ):
                raise ClientError(status.get("statusReason") or "the job definition is invalid")
            await asyncio.sleep(0.1)
        raise ServerError(
            "the job definition was stored but the operator did not number its revision within "
            f"{REVISION_WAIT_SECONDS:.0f} s: is the Kubatch operator running?"
        )

    async def op_describe_job_definitions(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        wanted: dict[str, set[int] | None] | None = None
        if request.get("jobDefinitions"):
            if len(request["jobDefinitions"]) > 100:
                raise ClientError("jobDefinitions may hold at most 100 entries")
            wanted = {}
            for value in request["jobDefinitions"]:
                ref = self.arns.parse("job-definition", value, "jobDefinitions")
                name, _, number = ref.partition(":")
                key = object_name(check_name("jobDefinitions", name))
                if number:
                    numbers = wanted.get(key)
                    if key not in wanted or numbers is not None:
                        wanted[key] = (numbers or set()) | {int(number) if number.isdigit() else -1}
                else:
                    wanted[key] = None
        only_name = request.get("jobDefinitionName")
        status_wanted = request.get("status")
        found = []
        definitions = sorted(
            (
                d
                for d in self.caches.definitions.values()
                if d["metadata"]["namespace"] == namespace
            ),
            key=lambda d: shapes.aws_name(d),
        )
        for definition in definitions:
            key = definition["metadata"]["name"]
            aws = shapes.aws_name(definition)
            if wanted is not None and key not in wanted:
                continue
            if only_name and aws != only_name:
                continue
            inactive = set((definition.get("spec") or {}).get("deregisteredRevisions") or [])
            for revision_number, revision in sorted(self._revisions(namespace, key).items()):
                numbers = wanted.get(key) if wanted is not None else None
                if numbers is not None and revision_number not in numbers:
                    continue
                active = revision_number not in inactive
                if status_wanted and status_wanted != ("ACTIVE" if active else "INACTIVE"):
                    continue
                data = revision.get("data") or {}
                tags = shapes.tags_of({"metadata": definition["metadata"], "spec": data})
                found.append(
                    shapes.definition_detail(aws, revision_number, data, active, tags, self.arns)
                )
        shown, token = page(found, request)
        return shapes.drop_none({"jobDefinitions": shown, "nextToken": token})

    async def op_deregister_job_definition(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        ref = self.arns.parse("job-definition", request["jobDefinition"], "jobDefinition")
        name, _, number = ref.partition(":")
        check_name("jobDefinition", name)
        if not number.isdigit():
            raise ClientError("jobDefinition must name a revision: name:revision or its ARN")
        key = object_name(name)
        definition = self.caches.definitions.get(namespace, key)
        if definition is None or int(number) not in self._revisions(namespace, key):
            raise ClientError(f"Job definition {name}:{number} not found")
        held = list((definition.get("spec") or {}).get("deregisteredRevisions") or [])
        if int(number) not in held:
            await self._write(
                self.client.patch(
                    API_VERSION,
                    JOBDEFINITIONS,
                    key,
                    {"spec": {"deregisteredRevisions": [*held, int(number)]}},
                    namespace,
                ),
                self.caches.definitions,
            )
        return {}

    # -- compute environments, queues, scheduling policies -----------------------------------

    async def _create_cluster(self, kind: str, name: str, spec: Obj, tags: Any) -> None:
        what = CLUSTER[kind]
        annotations = {ANNOTATION_AWS_NAME: name}
        if tags:
            annotations[ANNOTATION_AWS_TAGS] = json.dumps(shapes.string_map(tags, "tags"))
        manifest = {
            "apiVersion": API_VERSION,
            "kind": what.kind,
            "metadata": {"name": object_name(name), "annotations": annotations},
            "spec": spec,
        }
        self._check(manifest)
        await self._write(
            self.client.create(API_VERSION, what.plural, manifest), self.caches.of(what.plural)
        )

    async def _patch_cluster(self, kind: str, obj: Obj, patch: Obj) -> Obj:
        plural = CLUSTER[kind].plural
        merged = {**obj, "spec": _merge(obj.get("spec") or {}, patch.get("spec") or {})}
        self._check(merged)
        return await self._write(
            self.client.patch(API_VERSION, plural, obj["metadata"]["name"], patch),
            self.caches.of(plural),
        )

    async def _delete_cluster(self, kind: str, name: str, obj: Obj) -> Obj:
        what = CLUSTER[kind]
        if what.disable_first and (obj.get("spec") or {}).get("state") != "DISABLED":
            raise ClientError(
                f"Cannot delete {what.title} {name}: its state must be DISABLED first"
            )
        try:
            await self.client.delete(API_VERSION, what.plural, obj["metadata"]["name"])
        except ApiError as e:
            if not e.not_found:
                raise
        return {}

    async def op_create_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("computeEnvironmentName", request.get("computeEnvironmentName"))
        spec = shapes.environment_spec(request)
        await self._create_cluster("compute-environment", name, spec, request.get("tags"))
        return {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": self.arns.arn("compute-environment", name),
        }

    async def op_update_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(
            "compute-environment", request["computeEnvironment"], "computeEnvironment"
        )
        spec = shapes.environment_spec(request, update=True)
        await self._patch_cluster("compute-environment", obj, {"spec": spec})
        return {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": self.arns.arn("compute-environment", name),
        }

    async def op_delete_compute_environment(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster(
            "compute-environment", request["computeEnvironment"], "computeEnvironment"
        )
        return await self._delete_cluster("compute-environment", name, obj)

    async def op_describe_compute_environments(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described(
            "compute-environment", request.get("computeEnvironments"), "computeEnvironments"
        )
        details = [shapes.environment_detail(o, self.arns) for o in objects]
        shown, token = page(details, request)
        return shapes.drop_none({"computeEnvironments": shown, "nextToken": token})

    def _described(self, kind: str, values: Any, field: str) -> list[Obj]:
        cache = self.caches.of(CLUSTER[kind].plural)
        if values:
            if len(values) > 100:
                raise ClientError(f"{field} may hold at most 100 entries")
            found = []
            for value in values:
                name = self.arns.parse(kind, value, field)
                obj = cache.get(None, object_name(check_name(field, name)))
                if obj is not None:
                    found.append(obj)
            return found
        return sorted(cache.values(), key=shapes.aws_name)

    def _aws_names(self) -> dict[str, str]:
        return {
            o["metadata"]["name"]: shapes.aws_name(o)
            for cache in (self.caches.environments, self.caches.policies)
            for o in cache.values()
        }

    async def op_create_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("jobQueueName", request.get("jobQueueName"))
        spec = shapes.queue_spec(request, self.arns)
        await self._create_cluster("job-queue", name, spec, request.get("tags"))
        return {"jobQueueName": name, "jobQueueArn": self.arns.arn("job-queue", name)}

    async def op_update_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("job-queue", request["jobQueue"], "jobQueue")
        spec = shapes.queue_spec(request, self.arns, update=True)
        await self._patch_cluster("job-queue", obj, {"spec": spec})
        return {"jobQueueName": name, "jobQueueArn": self.arns.arn("job-queue", name)}

    async def op_delete_job_queue(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("job-queue", request["jobQueue"], "jobQueue")
        return await self._delete_cluster("job-queue", name, obj)

    async def op_describe_job_queues(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("job-queue", request.get("jobQueues"), "jobQueues")
        names = self._aws_names()
        details = [shapes.queue_detail(o, self.arns, names) for o in objects]
        shown, token = page(details, request)
        return shapes.drop_none({"jobQueues": shown, "nextToken": token})

    async def op_create_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        name = check_name("name", request.get("name"))
        if request.get("quotaSharePolicy") is not None:
            raise ClientError("quotaSharePolicy is not supported by Kubatch")
        spec = shapes.policy_spec(request)
        await self._create_cluster("scheduling-policy", name, spec, request.get("tags"))
        return {"name": name, "arn": self.arns.arn("scheduling-policy", name)}

    async def op_update_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        _, obj = self._cluster("scheduling-policy", request["arn"], "arn")
        fairshare = shapes.policy_spec(request)["fairsharePolicy"]
        # AWS replaces the policy: fields left out go back to their defaults.
        patch = {
            "spec": {
                "fairsharePolicy": {
                    "shareDecaySeconds": fairshare.get("shareDecaySeconds"),
                    "computeReservation": fairshare.get("computeReservation"),
                    "shareDistribution": fairshare.get("shareDistribution"),
                }
            }
        }
        await self._patch_cluster("scheduling-policy", obj, patch)
        return {}

    async def op_delete_scheduling_policy(self, request: Obj, caller: Signed) -> Obj:
        name, obj = self._cluster("scheduling-policy", request["arn"], "arn")
        return await self._delete_cluster("scheduling-policy", name, obj)

    async def op_describe_scheduling_policies(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("scheduling-policy", request["arns"], "arns")
        return {"schedulingPolicies": [shapes.policy_detail(o, self.arns) for o in objects]}

    async def op_list_scheduling_policies(self, request: Obj, caller: Signed) -> Obj:
        objects = self._described("scheduling-policy", None, "arns")
        arns = [{"arn": self.arns.arn("scheduling-policy", shapes.aws_name(o))} for o in objects]
        shown, token = page(arns, request)
        return shapes.drop_none({"schedulingPolicies": shown, "nextToken": token})

    # -- tags --------------------------------------------------------------------------------

    def _tagged(self, arn: str, caller: Signed, writing: bool) -> tuple[str, Obj, str]:
        """(plural, object, namespace) of a resourceArn."""
        kind, name = self.arns.resource(arn)
        if kind == "job":
            obj, index = self._job(name, caller, "resourceArn")
            if index is not None:
                raise ClientError("tags belong to the array job, not to one child")
            return BATCHJOBS, obj, caller.key.namespace
        if kind == "job-definition":
            base = name.partition(":")[0]
            found = self.caches.definitions.get(
                caller.key.namespace, object_name(check_name("resourceArn", base))
            )
            if found is None:
                raise ClientError(f"Job definition {name} not found")
            return JOBDEFINITIONS, found, caller.key.namespace
        if writing and kind in CLUSTER and not caller.key.admin:
            raise AccessDenied(
                f"User: {caller.key.access_key_id} is not authorized to perform: batch:TagResource "
                f"on {arn} (the access key is not an admin key)"
            )
        return CLUSTER[kind].plural, self._cluster(kind, arn, "resourceArn")[1], ""

    async def _set_tags(self, plural: str, obj: Obj, namespace: str, tags: dict[str, str]) -> None:
        if len(tags) > 50:
            raise ClientError("a resource may have at most 50 tags")
        patch = {
            "metadata": {"annotations": {ANNOTATION_AWS_TAGS: json.dumps(tags, sort_keys=True)}}
        }
        await self._write(
            self.client.patch(
                API_VERSION, plural, obj["metadata"]["name"], patch, namespace or None
            ),
            self.caches.of(plural),
        )

    async def op_tag_resource(self, request: Obj, caller: Signed) -> Obj:
        plural, obj, namespace = self._tagged(request["resourceArn"], caller, writing=True)
        tags = {**shapes.tags_of(obj), **shapes.string_map(request["tags"], "tags")}
        await self._set_tags(plural, obj, namespace, tags)
        return {}

    async def op_untag_resource(self, request: Obj, caller: Signed) -> Obj:
        plural, obj, namespace = self._tagged(request["resourceArn"], caller, writing=True)
        tags = {k: v for k, v in shapes.tags_of(obj).items() if k not in set(request["tagKeys"])}
        await self._set_tags(plural, obj, namespace, tags)
        return {}

    async def op_list_tags_for_resource(self, request: Obj, caller: Signed) -> Obj:
        _, obj, _ = self._tagged(request["resourceArn"], caller, writing=False)
        return {"tags": shapes.tags_of(obj)}


def _access_key(authorization: str) -> str:
    found = re.search(r"Credential=([^/\s]+)/", authorization)
    return found[1] if found else ""


def _merge(base: Obj, patch: Obj) -> Obj:
    """A JSON merge patch (RFC 7386) applied to `base`."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _matches(detail: Obj, filters: list[Obj]) -> bool:
    """ListJobs' filters: JOB_NAME (case-insensitive, a trailing * matches any rest),
    JOB_DEFINITION (name, name:revision or ARN), BEFORE_CREATED_AT / AFTER_CREATED_AT
    (epoch milliseconds)."""
    for entry in filters:
        name = entry.get("name")
        values = entry.get("values") or []
        if not values:
            raise ClientError(f"filter {name} needs at least one value")
        value = str(values[0])
        if name == "JOB_NAME":
            job = detail["jobName"].lower()
            pattern = value.lower()
            ok = job.startswith(pattern[:-1]) if pattern.endswith("*") else job == pattern
        elif name == "JOB_DEFINITION":
            definition = detail["jobDefinition"].split(":", 5)[-1].removeprefix("job-definition/")
            wanted = (
                value.split(":", 5)[-1].removeprefix("job-definition/")
                if value.startswith("arn:")
                else value
            )
            ok = (
                definition == wanted
                or (":" not in wanted and definition.partition(":")[0] == wanted)
                or (wanted.endswith("*") and definition.startswith(wanted[:-1]))
            )
        elif name in ("BEFORE_CREATED_AT", "AFTER_CREATED_AT"):
            if not value.isdigit():
                raise ClientError(
                    f"filter {name} takes a time in epoch milliseconds; got {value!r}"
                )
            created = detail.get("createdAt") or 0
            ok = created < int(value) if name == "BEFORE_CREATED_AT" else created > int(value)
        else:
            raise ClientError(
                f"filter name must be JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT or "
                f"AFTER_CREATED_AT; got {name!r}"
            )
        if not ok:
            return False
    return True


# -- access keys -------------------------------------------------------------------------------


class SecretKeys:
    """Access keys from a Secret (key `credentials.yaml`): read again when a key it does not
    hold arrives (one read at a time, shared by the requests waiting for it) and every
    `refresh` seconds, so that new keys work at once and removed keys stop working without a
    restart."""

    def __init__(self, client: Client, namespace: str, name: str, refresh: float = 30.0) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.refresh = refresh
        self.keys: dict[str, AccessKey] = {}
        self.read_at = -refresh
        self.lock = asyncio.Lock()

    async def load(self) -> dict[str, AccessKey]:
        secret = await self.client.get("v1", "secrets", self.name, self.namespace)
        data = (secret.get("data") or {}).get("credentials.yaml")
        if data is None:
            raise ValueError(f"Secret {self.namespace}/{self.name} has no key credentials.yaml")
        self.keys = read_keys(
            base64.b64decode(data).decode(), f"Secret {self.namespace}/{self.name}"
        )
        return self.keys

    async def __call__(self, access_key_id: str) -> dict[str, AccessKey]:
        asked = time.monotonic()
        if asked - self.read_at < self.refresh and access_key_id in self.keys:
            return self.keys
        async with self.lock:
            if self.read_at >= asked:
                return self.keys  # read while this request waited
            try:
                await self.load()
            except (ApiError, ValueError) as e:
                log.warning("access keys not read again: %s", e)
            self.read_at = time.monotonic()
        return self.keys
