"""An ended attempt's log is kept beyond its pod (core/outbox/logs.py): asked for once its
container has ended, asked again until its ConfigMap exists, never read twice, and read back
as a pod's log would be served."""

from __future__ import annotations

import copy

import pytest

from kubatch.core.outbox.effects import Effect, KeepLog
from kubatch.core.outbox.logs import (
    RETRY,
    keep_request,
    kept_body,
    kept_log,
    serve_kept_log,
    tail_within,
)
from tests.support.engine import UNAVAILABLE, FakeApi, batch_job, cluster, node


def _keeps(effects: list[Effect]) -> list[str]:
    return [e.key for e in effects if isinstance(e, KeepLog)]


def _ended(exit_code: int = 0) -> tuple[FakeApi, str]:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.step()
    pod = api.pod_of("j")
    api.run(pod)
    api.step(1)
    api.finish(pod, exit_code)
    return api, pod


@pytest.mark.parametrize("exit_code", [0, 3])
def test_an_ended_attempts_log_is_kept_once_whatever_its_exit(exit_code: int) -> None:
    api, pod = _ended(exit_code)
    assert _keeps(api.step(1)) == [pod]
    assert pod in api.kept
    for _ in range(5):
        assert _keeps(api.step(30)) == []


def test_a_running_attempts_log_is_not_kept_yet() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.step()
    api.run(api.pod_of("j"))
    assert _keeps(api.step(1)) == []


def test_a_container_that_never_ran_has_no_log_to_keep() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.step()
    pod = api.pod_of("j")
    api.bind(pod)
    api.pods[pod]["status"] = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "main", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
        ],
    }
    api.engine.observe_pod(copy.deepcopy(api.pods[pod]), api.now)
    assert _keeps(api.step(1)) == []


def test_a_keep_refused_for_a_passing_reason_is_asked_again_after_a_while() -> None:
    api, pod = _ended()
    api.fail = lambda effect: UNAVAILABLE if isinstance(effect, KeepLog) else None
    assert _keeps(api.step(1)) == [pod]
    assert _keeps(api.step(RETRY.total_seconds() / 2)) == [], "not at once"
    api.fail = lambda effect: None
    assert _keeps(api.step(RETRY.total_seconds())) == [pod]
    assert pod in api.kept


def test_a_pod_gone_before_its_log_was_read_is_asked_no_more() -> None:
    api, pod = _ended()
    del api.pods[pod]  # its node went, and the pod garbage collector took it
    assert _keeps(api.step(1)) == [pod]
    assert _keeps(api.step(120)) == []
    assert pod not in api.kept


def test_a_keep_lost_on_its_way_is_asked_again() -> None:
    api, pod = _ended()
    api.lose = lambda effect: isinstance(effect, KeepLog)
    assert _keeps(api.step(1)) == [pod]
    assert _keeps(api.step(30)) == [], "still on its way"
    api.lose = lambda effect: False
    assert _keeps(api.step(60)) == [pod]


def test_a_log_kept_before_a_restart_is_not_read_again() -> None:
    api, pod = _ended()
    api.step(1)
    assert pod in api.kept
    api.restart()
    assert _keeps(api.step(1)) == []


def test_a_log_not_yet_kept_at_a_restart_is_kept_after_it() -> None:
    api, pod = _ended()
    api.restart()
    assert _keeps(api.step(1)) == [pod]


def test_no_log_is_kept_when_the_limit_is_zero() -> None:
    api = cluster(batch_job("j"), nodes=(node("n1"),))
    api.engine.config.kept_log_bytes = 0
    api.engine.logs.limit = 0
    api.step()
    pod = api.pod_of("j")
    api.run(pod)
    api.finish(pod)
    assert _keeps(api.step(1)) == []


def test_a_kept_log_deleted_with_its_job_is_forgotten() -> None:
    api, pod = _ended()
    api.step(1)
    api.engine.observe_kept_log(api.kept[pod], deleted=True)
    assert pod not in api.engine.logs.kept
    api.engine.observe_kept_log(api.kept[pod])
    api.engine.unlisted("configmaps", set(), api.now)
    assert pod not in api.engine.logs.kept


# -- what is kept, and how it reads back -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "kept", "dropped"),
    [
        ("a\nb\n", 100, "a\nb\n", 0),
        ("aaaa\nbb\n", 3, "bb\n", 5),  # the cut falls at a line's start: the line is whole
        ("aaaa\nbbbb\n", 7, "bbbb\n", 5),  # "aa\n" of the first line: cut, not kept
        ("aaaaaaaa\n", 4, "", 9),  # one line longer than the limit: nothing whole fits
    ],
    ids=["whole", "at_a_line_start", "a_line_cut", "no_line_fits"],
)
def test_past_the_limit_only_whole_lines_of_the_tail_are_kept(
    text: str, limit: int, kept: str, dropped: int
) -> None:
    assert tail_within(text, limit) == (kept, dropped)


POD = {
    "metadata": {
        "name": "j-1a2b3-1",
        "namespace": "team",
        "labels": {"kubatch.io/job-name": "j", "kubatch.io/attempt": "1"},
        "ownerReferences": [{"kind": "BatchJob", "name": "j", "uid": "u1"}],
    },
    "status": {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "main",
                "state": {"terminated": {"exitCode": 1, "startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    },
}


def test_a_kept_log_is_labelled_as_its_pod_and_owned_by_its_job() -> None:
    request = keep_request(POD, 1024)
    assert request is not None
    meta = kept_body(request, "", 0)["metadata"]
    assert meta["name"] == "j-1a2b3-1"
    assert meta["labels"]["kubatch.io/job-name"] == "j"
    assert meta["labels"]["kubatch.io/log-of"] == "j-1a2b3-1"
    assert meta["ownerReferences"] == [{"kind": "BatchJob", "name": "j", "uid": "u1"}]


def test_a_kept_log_reads_back_as_the_pods_log_would_be_served() -> None:
    request = keep_request(POD, 1024)
    assert request is not None
    text = "2026-01-01T00:00:01.5Z first\n2026-01-01T00:00:02Z second\n"
    body = kept_body(request, text, 0)
    assert kept_log(body) == text
    assert serve_kept_log(kept_log(body), timestamps=False) == "first\nsecond\n"
    assert serve_kept_log(kept_log(body), timestamps=False, tail=1) == "second\n"
    assert serve_kept_log(kept_log(body), tail=0) == ""


def test_a_kept_tail_says_how_much_was_left_out() -> None:
    request = keep_request(POD, 1024)
    assert request is not None
    body = kept_body(request, "2026-01-01T00:00:02Z the end\n", 4096)
    lines = serve_kept_log(kept_log(body), timestamps=False).splitlines()
    assert lines == ["[kubatch: the first 4096 bytes of this log were not kept]", "the end"]


def test_a_failure_that_found_the_log_kept_counts_as_kept() -> None:
    api, pod = _ended()
    api.kept[pod] = {"metadata": {"name": "x"}}  # made by an earlier operator, unseen yet
    assert _keeps(api.step(1)) == [pod]
    assert _keeps(api.step(120)) == []
    assert pod in api.engine.logs.kept
