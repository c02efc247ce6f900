"""The AWS Batch API over HTTP (`kubatch api`): botocore's `batch` service model routes each
request to its operation and checks its parameters; every operation reads the caches and
writes the custom resources with the server's own ServiceAccount, within the namespace the
caller's access key maps to."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote

import botocore.session
from aiohttp import web
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from ..api.common import Obj
from ..core import essential_container, kept_log
from ..keys import LABEL_KEPT_LOG
from ..kube.cache import KubatchCaches
from ..kube.client import Client
from ..kube.errors import ApiError
from . import logs, validation
from .auth import AccessKey, Signed, verify
from .base import REGION
from .consumables import ConsumableOperations
from .definitions import DefinitionOperations
from .errors import AccessDenied, AwsError, ClientError, ServerError
from .jobs import JobOperations
from .keystore import SecretKeys
from .names import Arns
from .platform import PlatformOperations
from .tags import TagOperations

__all__ = ["BatchApi", "SecretKeys"]

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
    "CreateConsumableResource",
    "UpdateConsumableResource",
    "DeleteConsumableResource",
}


SERVICE_JOBS = (
    "service jobs and service environments run SageMaker training jobs, which have no "
    "meaning on a Kubernetes cluster: submit container jobs to a job queue instead"
)
QUOTA_SHARES = (
    "quota shares (quota-share scheduling policies) are not served by Kubatch: a fair-share "
    "scheduling policy (CreateSchedulingPolicy) divides a queue between shares"
)
NOT_SUPPORTED = {
    **dict.fromkeys(
        (
            "CreateServiceEnvironment",
            "UpdateServiceEnvironment",
            "DeleteServiceEnvironment",
            "DescribeServiceEnvironments",
            "SubmitServiceJob",
            "DescribeServiceJob",
            "ListServiceJobs",
            "TerminateServiceJob",
            "TerminateServiceJobs",
            "UpdateServiceJob",
        ),
        SERVICE_JOBS,
    ),
    **dict.fromkeys(
        (
            "CreateQuotaShare",
            "UpdateQuotaShare",
            "DeleteQuotaShare",
            "DescribeQuotaShare",
            "ListQuotaShares",
        ),
        QUOTA_SHARES,
    ),
}
"""The operations of botocore's batch model that Kubatch answers with ClientException, and
why (every other one is in BatchApi.operations)."""


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


class BatchApi(
    JobOperations, DefinitionOperations, PlatformOperations, ConsumableOperations, TagOperations
):
    """HTTP and routing: each request's operation, by the explicit table below, to its family's
    handler."""

    def __init__(
        self,
        client: Client,
        regions: list[Arns],
        keys: Callable[[str], Awaitable[dict[str, AccessKey]]],
    ) -> None:
        self.client = client
        self.regions = {arns.region: arns for arns in regions}
        self.caches = KubatchCaches(client)
        self.keys = keys
        self.definition_locks = {}
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
            "GetJobQueueSnapshot": self.op_get_job_queue_snapshot,
            "CancelJob": self.op_cancel_job,
            "CancelJobs": self.op_cancel_jobs,
            "TerminateJob": self.op_terminate_job,
            "TerminateJobs": self.op_terminate_jobs,
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
            "CreateConsumableResource": self.op_create_consumable_resource,
            "DescribeConsumableResource": self.op_describe_consumable_resource,
            "UpdateConsumableResource": self.op_update_consumable_resource,
            "DeleteConsumableResource": self.op_delete_consumable_resource,
            "ListConsumableResources": self.op_list_consumable_resources,
            "ListJobsByConsumableResource": self.op_list_jobs_by_consumable_resource,
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
                why = NOT_SUPPORTED.get(operation, "it is not implemented yet")
                raise ClientError(f"{operation} is not supported by Kubatch: {why}")
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
        """The caller, and the region it signed for: the region of the ARNs it is answered
        with (each handler runs in its own task, so the region stays the request's)."""
        signed = verify(
            request.method,
            f"http://{request.host}{request.raw_path}",
            dict(request.headers),
            body,
            await self.keys(_access_key(request.headers.get("Authorization", ""))),
            self.regions,
            datetime.now(UTC),
            service,
        )
        REGION.set(signed.region)
        return signed

    async def _logs(self, operation: str, body: bytes, caller: Signed) -> Obj:
        """CloudWatch Logs' GetLogEvents on the attempts' pods (see awsapi/logs.py)."""
        request = self.logs.check(operation, body)
        if operation != "GetLogEvents":
            raise ClientError(f"{operation} is not supported by Kubatch (GetLogEvents is)")
        namespace = caller.key.namespace
        jobs = [j for j in self.caches.jobs.values() if j["metadata"]["namespace"] == namespace]
        stream = logs.check_stream(request, jobs)
        path = f"/api/v1/namespaces/{namespace}/pods/{stream}/log"
        try:
            text = await self.client.text(path, {"timestamps": "true"})
        except ApiError as e:
            if e.not_found:
                text = await self._kept_log(namespace, stream, jobs)
            elif e.status == 400 and "container name must be specified" in e.message:
                # A pod of several containers (an EKS-style definition's): its essential one.
                pod = await self.client.get("v1", "pods", stream, namespace)
                params = {"timestamps": "true", "container": essential_container(pod)}
                text = await self.client.text(path, params)
            elif e.status == 400:  # the container is still being created: nothing logged yet
                text = ""
            else:
                raise
        return logs.page(logs.parse_log(text), request)

    async def _kept_log(self, namespace: str, stream: str, jobs: list[Obj]) -> str:
        """An attempt's log once its pod is gone: the one the operator kept, as CloudWatch
        keeps a log after its instance is gone."""
        try:
            configmap = await self.client.get("v1", "configmaps", stream, namespace)
        except ApiError as e:
            if e.not_found:
                raise logs.not_here_yet(jobs, stream) from e
            raise
        if (configmap["metadata"].get("labels") or {}).get(LABEL_KEPT_LOG) != stream:
            raise logs.ResourceNotFound("The specified log stream does not exist.")
        return kept_log(configmap)

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
            outside = list(validation.enum_problems(params, shape))
            if outside:
                raise ClientError(validation.message(outside))
        return params

    async def start(self) -> None:
        await self.caches.start()


def _access_key(authorization: str) -> str:
    found = re.search(r"Credential=([^/\s]+)/", authorization)
    return found[1] if found else ""
