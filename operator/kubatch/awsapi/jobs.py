"""The AWS Batch API's job operations, on BatchJobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..api import (
    API_VERSION,
    BATCHJOBS,
)
from ..api.batchjob import BatchJobStatus, queue_position
from ..api.common import JobStatus, Obj
from ..api.jobqueue import JobQueueStatus
from ..core import ended_attempt, format_ranges, kept_pod, parse_ranges, pod_name
from ..kube.errors import ApiError
from . import shapes
from .auth import Signed
from .base import Operations, page
from .errors import ClientError, NotFound

MAX_BULK_STOP = 50
"""CancelJobs and TerminateJobs take up to 50 job ids."""
SNAPSHOT_JOBS = 100
"""GetJobQueueSnapshot lists the first 100 RUNNABLE jobs."""


class JobOperations(Operations):
    """SubmitJob, DescribeJobs, ListJobs, CancelJob(s), TerminateJob(s)."""

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
        if not number:
            # As AWS does: a job named by its definition's name runs the latest ACTIVE
            # revision at the time it is submitted, which DescribeJobs shows at once.
            manifest["spec"]["jobDefinition"] = f"{definition_name}:{max(active)}"
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
        number = BatchJobStatus.of(obj).job_definition_revision or (int(pinned) if pinned else None)
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
            self._consumable_names() if full else None,
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
            kids = None
            if index is not None:
                kids = await self._with_unlisted(obj, index)
            found.append(self._detail(obj, index, kids=kids))
        return {"jobs": found}

    async def _with_unlisted(self, obj: Obj, index: int) -> shapes.Children:
        """The job's children, with child `index`'s attempt read from its pod (or the log kept
        of it) when its status does not list it: a child that succeeded at its first attempt
        is not listed, to keep an array's status small."""
        size = int(((obj.get("spec") or {}).get("arrayProperties") or {}).get("size") or 0)
        kids = shapes.children(obj, size)
        if kids.attempts.get(index) or kids.states[index] != JobStatus.SUCCEEDED:
            return kids
        meta = obj["metadata"]
        name, namespace = pod_name(meta["name"], meta["uid"], index, 1), meta["namespace"]
        try:
            pod = await self.client.get("v1", "pods", name, namespace)
        except ApiError as e:
            if not e.not_found:
                raise
            try:
                pod = kept_pod(await self.client.get("v1", "configmaps", name, namespace))
            except ApiError as gone:
                if not gone.not_found:
                    raise
                return kids
        attempt = ended_attempt(pod)
        if attempt is not None and attempt.array_index == index:
            kids.attempts[index] = [attempt]
        return kids

    async def op_list_jobs(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        filters = request.get("filters") or []
        wanted = None if filters else request.get("jobStatus") or JobStatus.RUNNING
        if request.get("multiNodeJobId"):
            parent, _ = self._node(request["multiNodeJobId"], caller, "multiNodeJobId")
            nodes = shapes.node_status(parent)
            if not nodes:
                raise ClientError(f"{request['multiNodeJobId']} is not a multi-node job")
            details = [self._detail(parent, None, full=False, node=n) for n in sorted(nodes)]
        elif request.get("arrayJobId"):
            parent, index = self._job(request["arrayJobId"], caller, "arrayJobId")
            size = ((parent.get("spec") or {}).get("arrayProperties") or {}).get("size")
            if index is not None or size is None:
                raise ClientError(f"{request['arrayJobId']} is not an array job")
            kids = shapes.children(parent, size)
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

    async def op_get_job_queue_snapshot(self, request: Obj, caller: Signed) -> Obj:
        """The first 100 RUNNABLE jobs in the order they will be dispatched (the caller's; an
        admin key's: everyone's), and what the queue's running jobs hold, by share under
        fair share."""
        _, queue = self._cluster("job-queue", request["jobQueue"], "jobQueue")
        name = queue["metadata"]["name"]
        waiting: list[tuple[int, Obj]] = []
        for job in self.caches.jobs.values():
            if (job.get("spec") or {}).get("jobQueue") != name:
                continue
            if not caller.key.admin and job["metadata"]["namespace"] != caller.key.namespace:
                continue
            position = queue_position(job)
            if position is not None:
                waiting.append((position, job))
        waiting.sort(key=lambda found: found[0])
        now = shapes.millis(datetime.now(UTC))
        front = []
        for _, job in waiting[:SNAPSHOT_JOBS]:
            status = BatchJobStatus.of(job)
            since = status.runnable_at or status.created_at
            front.append(
                shapes.drop_none(
                    {
                        "jobArn": self.arns.arn("job", job["metadata"]["uid"]),
                        "earliestTimeAtPosition": shapes.millis(since),
                    }
                )
            )
        held = JobQueueStatus.of(queue)
        utilization: Obj = {
            "totalCapacityUsage": [{"capacityUnit": "VCPU", "quantity": held.runningv_cpus}],
            "lastUpdatedAt": now,
        }
        if held.shares:
            top = sorted(held.shares, key=lambda s: -s.runningv_cpus)
            utilization["fairshareUtilization"] = {
                "activeShareCount": len(held.shares),
                "topCapacityUtilization": [
                    {
                        "shareIdentifier": share.share_identifier,
                        "capacityUsage": [
                            {"capacityUnit": "VCPU", "quantity": share.runningv_cpus}
                        ],
                    }
                    for share in top
                ],
            }
        return {
            "frontOfQueue": {"jobs": front, "lastUpdatedAt": now},
            "queueUtilization": utilization,
        }

    async def _stop(self, job_id: Any, reason: str, caller: Signed, field: str) -> None:
        """Cancel or terminate one job. One that does not exist (or is another account's) is
        no error: AWS answers 200 for it."""
        try:
            obj, index = self._job(job_id, caller)
        except NotFound:
            return
        spec = obj.get("spec") or {}
        stop: Obj = {"reason": reason}
        if index is not None:
            held = spec.get(field) or {}
            if held and "arrayIndexes" not in held:
                return  # the whole array is already stopped
            indexes = set(parse_ranges(held["arrayIndexes"])) if held else set()
            stop["arrayIndexes"] = format_ranges(indexes | {index})
        meta = obj["metadata"]
        await self._write(
            self.client.patch(
                API_VERSION, BATCHJOBS, meta["name"], {"spec": {field: stop}}, meta["namespace"]
            ),
            self.caches.jobs,
        )

    async def op_cancel_job(self, request: Obj, caller: Signed) -> Obj:
        await self._stop(request["jobId"], request["reason"], caller, "cancel")
        return {}

    async def op_terminate_job(self, request: Obj, caller: Signed) -> Obj:
        await self._stop(request["jobId"], request["reason"], caller, "terminate")
        return {}

    async def _stop_each(self, request: Obj, caller: Signed, field: str) -> Obj:
        """CancelJobs, TerminateJobs: up to 50 jobs, each one's result apart (200 even when
        some failed; an unknown job counts as done, as in CancelJob)."""
        ids = request["jobs"]
        if not 1 <= len(ids) <= MAX_BULK_STOP:
            raise ClientError(f"jobs must hold 1 to {MAX_BULK_STOP} job ids; got {len(ids)}")
        successful: list[str] = []
        errors: list[Obj] = []
        for job_id in ids:
            try:
                await self._stop(job_id, request["reason"], caller, field)
            except ClientError as e:
                errors.append({"job": job_id, "code": "ValidationException", "message": e.message})
            except ApiError as e:
                errors.append({"job": job_id, "code": "ServerException", "message": str(e)})
            else:
                successful.append(job_id)
        return {"successful": successful, "errors": errors}

    async def op_cancel_jobs(self, request: Obj, caller: Signed) -> Obj:
        return await self._stop_each(request, caller, "cancel")

    async def op_terminate_jobs(self, request: Obj, caller: Signed) -> Obj:
        return await self._stop_each(request, caller, "terminate")


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
