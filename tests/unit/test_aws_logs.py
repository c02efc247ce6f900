"""CloudWatch Logs' GetLogEvents over an attempt's pod log: events, windows and tokens as
AWS gives them, and only the streams of the caller's jobs."""

from __future__ import annotations

import pytest

from kubatch.awsapi.logs import (
    LOG_GROUP,
    InvalidParameter,
    ResourceNotFound,
    check_stream,
    not_here_yet,
    owns,
    page,
    parse_log,
)
from kubatch.core.jobs.attempts import pod_name

LOG = (
    "2026-12-03T12:00:00.123456789Z first line\n"
    "2026-12-03T12:00:01Z second line\n"
    "2026-12-03T12:00:02.5Z third line\n"
)
JOB = {"metadata": {"name": "render", "uid": "1b2c3d4e-0000-1111-2222-333344445555"}}


def test_each_line_is_an_event_at_the_runtimes_timestamp_in_milliseconds() -> None:
    events = parse_log(LOG)
    assert [e.message for e in events] == ["first line", "second line", "third line"]
    assert events[1].timestamp - events[0].timestamp == 877
    assert events[2].timestamp - events[1].timestamp == 1500


@pytest.mark.parametrize(
    ("request_", "messages", "forward", "backward"),
    [
        ({}, ["first line", "second line", "third line"], "f/3", "b/0"),
        ({"limit": 2}, ["second line", "third line"], "f/3", "b/1"),
        ({"limit": 2, "startFromHead": True}, ["first line", "second line"], "f/2", "b/0"),
        ({"limit": 2, "nextToken": "f/2"}, ["third line"], "f/3", "b/2"),
        ({"limit": 1, "nextToken": "b/2"}, ["second line"], "f/2", "b/1"),
        # At the end, the same forward token comes back (how AWS says there is no more).
        ({"nextToken": "f/3"}, [], "f/3", "b/3"),
    ],
    ids=["latest", "latest_two", "from_head", "forward", "backward", "at_the_end"],
)
def test_windows_and_tokens(
    request_: dict[str, object], messages: list[str], forward: str, backward: str
) -> None:
    found = page(parse_log(LOG), request_)
    assert [e["message"] for e in found["events"]] == messages
    assert (found["nextForwardToken"], found["nextBackwardToken"]) == (forward, backward)


def test_a_token_not_from_this_endpoint_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="nextToken"):
        page(parse_log(LOG), {"nextToken": "x/1"})


@pytest.mark.parametrize(
    ("index", "attempt"), [(None, 1), (7, 2), (None, 12)], ids=["single", "child", "attempt_12"]
)
def test_a_jobs_attempt_pods_are_its_streams(index: int | None, attempt: int) -> None:
    assert owns(JOB, pod_name("render", JOB["metadata"]["uid"], index, attempt))


@pytest.mark.parametrize(
    "stream", ["render", "render-1b2c3-x-1", "other-1b2c3-1", "render-99999-1", "render-1b2c3-"]
)
def test_other_pods_are_not_its_streams(stream: str) -> None:
    assert not owns(JOB, stream)


def test_only_aws_batchs_group_and_the_callers_jobs_are_read() -> None:
    stream = pod_name("render", JOB["metadata"]["uid"], None, 1)
    assert check_stream({"logGroupName": LOG_GROUP, "logStreamName": stream}, [JOB]) == stream
    with pytest.raises(ResourceNotFound, match="log group does not exist"):
        check_stream({"logGroupName": "/other", "logStreamName": stream}, [JOB])
    with pytest.raises(ResourceNotFound, match="log stream does not exist"):
        check_stream({"logGroupName": LOG_GROUP, "logStreamName": stream}, [])


@pytest.mark.parametrize(
    ("attempt", "said"),
    [
        ({"attempt": 1, "podName": "j-1", "nodeName": "east:n1"}, "runs in worker cluster east"),
        ({"attempt": 1, "podName": "j-1", "nodeName": "n1"}, "does not exist"),
        (
            {
                "attempt": 1,
                "podName": "j-1",
                "nodeName": "east:n1",
                "stoppedAt": "2026-12-03T12:00:00Z",
            },
            "does not exist",
        ),
        ({"attempt": 1, "podName": "j-2", "nodeName": "east:n1"}, "does not exist"),
    ],
    ids=["running_in_a_worker_cluster", "here", "ended_there_log_not_kept", "another_attempt"],
)
def test_a_stream_not_readable_here_yet_says_where_its_attempt_runs(
    attempt: dict[str, str], said: str
) -> None:
    """A running attempt's pod in a worker cluster: the endpoint does not reach it (the log is
    kept beside the job once it ends), and the error says so instead of "does not exist"."""
    job = {**JOB, "status": {"attempts": [attempt]}}
    assert said in not_here_yet([job], "j-1").message
