"""CloudWatch Logs' GetLogEvents, for the logs of AWS Batch jobs (`kubatch api`).

AWS Batch writes each attempt's container output to the log group /aws/batch/job, in the
stream DescribeJobs names (`container.logStreamName`); AWS users read it with
`logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=...)`. Kubatch's stream
name is the attempt's pod, whose log the kubelet keeps (a stopped attempt's too): each line
is an event, timestamped by the container runtime. botocore's `logs` model checks the
parameters (JSON 1.1 protocol: POST / with X-Amz-Target Logs_20140328.<Operation>)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import botocore.session
from botocore.validate import ParamValidator

from ..api.batchjob import worker_cluster_running
from ..api.common import Obj
from ..core import pod_name
from .errors import AwsError, ClientError

TARGET_PREFIX = "Logs_20140328."
SERVICE = "logs"
LOG_GROUP = "/aws/batch/job"
DEFAULT_LIMIT = 10_000


class ResourceNotFound(AwsError):
    code = "ResourceNotFoundException"


class InvalidParameter(AwsError):
    code = "InvalidParameterException"


@dataclass(frozen=True)
class Event:
    timestamp: int
    """Milliseconds since the epoch."""
    message: str


def parse_log(text: str) -> list[Event]:
    """A pod's log read with timestamps=true ("<RFC 3339 time> <line>" per line) as events."""
    events = []
    for line in text.splitlines():
        stamp, _, message = line.partition(" ")
        try:
            when = datetime.fromisoformat(_micro(stamp))
        except ValueError:
            continue  # not a line of the log (a partial last line, a notice)
        events.append(Event(int(when.timestamp() * 1000), message))
    return events


def _micro(stamp: str) -> str:
    """An RFC 3339 time with nanoseconds as fromisoformat reads it (microseconds)."""
    stamp = stamp.replace("Z", "+00:00")
    head, dot, tail = stamp.partition(".")
    if not dot:
        return stamp
    digits = "".join(c for c in tail if c.isdigit())
    return f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"


def operation_of(target: str | None) -> str | None:
    """The Logs operation an X-Amz-Target names, None when it names none."""
    if not target or not target.startswith(TARGET_PREFIX):
        return None
    return target.removeprefix(TARGET_PREFIX)


class LogsModel:
    """botocore's logs service model: the operations and their input checks."""

    def __init__(self) -> None:
        self.model = botocore.session.get_session().get_service_model(SERVICE)
        self.validator = ParamValidator()

    def check(self, operation: str, body: bytes) -> Obj:
        if operation not in self.model.operation_names:
            raise ClientError(f"no CloudWatch Logs operation is {operation}")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise InvalidParameter("the request body is not valid JSON") from None
        if not isinstance(params, dict):
            raise InvalidParameter("the request body must be a JSON object")
        shape = self.model.operation_model(operation).input_shape
        report = self.validator.validate(params, shape)
        if report.has_errors():
            raise InvalidParameter(report.generate_report())
        return params


def owns(job: Obj, stream: str) -> bool:
    """Whether a log stream is the pod of one of a BatchJob's attempts (of the job, of an
    array child, or of a node: `<job>-<uid>[-<index>]-<attempt>`, see core/jobs/attempts.py)."""
    meta = job["metadata"]
    prefix = pod_name(meta["name"], meta.get("uid", ""), None, 0)[: -len("-0")]
    rest = stream.removeprefix(prefix)
    return rest != stream and re.fullmatch(r"(-\d+)?-\d+", rest) is not None


def page(events: list[Event], request: Obj) -> Obj:
    """GetLogEvents' answer: a window of events and the tokens that move it (f/<index>
    forward, b/<index> backward; at either end the same token comes back, as AWS does)."""
    limit = request.get("limit") or DEFAULT_LIMIT
    start_ms, end_ms = request.get("startTime"), request.get("endTime")
    chosen = [
        e
        for e in events
        if (start_ms is None or e.timestamp >= start_ms)
        and (end_ms is None or e.timestamp < end_ms)
    ]
    token = request.get("nextToken")
    if token:
        kind, _, number = str(token).partition("/")
        if kind not in ("f", "b") or not number.isdigit():
            raise InvalidParameter("The specified nextToken is invalid.")
        position = min(int(number), len(chosen))
        first, last = (
            (position, min(position + limit, len(chosen)))
            if kind == "f"
            else (max(0, position - limit), position)
        )
    elif request.get("startFromHead"):
        first, last = 0, min(limit, len(chosen))
    else:
        first, last = max(0, len(chosen) - limit), len(chosen)
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp}
            for e in chosen[first:last]
        ],
        "nextForwardToken": f"f/{last}",
        "nextBackwardToken": f"b/{first}",
    }


def check_stream(request: Obj, jobs: Iterable[Obj]) -> str:
    """The pod a GetLogEvents request reads: the group must be AWS Batch's, the stream an
    attempt of a job the caller sees."""
    group = request.get("logGroupName") or request.get("logGroupIdentifier")
    if group != LOG_GROUP:
        raise ResourceNotFound(
            f"The specified log group does not exist: Kubatch keeps its jobs' logs in {LOG_GROUP}"
        )
    stream = str(request.get("logStreamName") or "")
    if not any(owns(job, stream) for job in jobs):
        raise ResourceNotFound("The specified log stream does not exist.")
    return stream


def not_here_yet(jobs: Iterable[Obj], stream: str) -> ResourceNotFound:
    """The answer for a stream with neither a pod nor a kept log here: one whose attempt runs
    in a worker cluster (its node `<cluster>:<node>` in the job's status) is not readable from
    here until it ends, and the message says so."""
    for job in jobs:
        cluster = worker_cluster_running(job, stream)
        if cluster:
            return ResourceNotFound(
                f"The specified log stream is not readable here yet: its attempt runs in "
                f"worker cluster {cluster}, and its log is kept here once it ends."
            )
    return ResourceNotFound("The specified log stream does not exist.")
