"""The status book: a status is written until the server holds it, and only then; once both
agree it is kept as text, and reading it back changes nothing a write would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubatch.core.outbox.effects import Failure
from kubatch.core.outbox.statuses import StatusBook

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUNNABLE = {"status": "RUNNABLE", "attempts": [], "statusReason": "CAPACITY:X"}
RUNNABLE_REORDERED = {"statusReason": "CAPACITY:X", "attempts": [], "status": "RUNNABLE"}
STARTING = {"status": "STARTING", "attempts": [{"container": {"podName": "p"}}]}
EDITED = {"status": "SUCCEEDED"}


def job(status: dict[str, Any] | None = None, version: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kubatch.io/v1alpha1",
        "metadata": {"namespace": "ns", "name": "j", "resourceVersion": str(version)},
    }
    if status is not None:
        obj["status"] = status
    return obj


def settled_book() -> StatusBook:
    """A job whose RUNNABLE status was written and confirmed."""
    book = StatusBook()
    book.observed("batchjobs", job(), 1)
    book.want("batchjobs", job(), dict(RUNNABLE))
    (write,) = book.due(T0)
    book.outcome(write, None, 2, T0)
    assert book.due(T0) == []
    return book


Step = tuple[str, Any]


@pytest.mark.parametrize(
    ("steps", "writes"),
    [
        ([("want", RUNNABLE)], []),
        ([("want", RUNNABLE_REORDERED)], []),
        ([("observed", (RUNNABLE, 3))], []),
        ([("want", STARTING)], [(STARTING, RUNNABLE)]),
        ([("observed", (EDITED, 3))], [(RUNNABLE, EDITED)]),
        ([("observed", (EDITED, 2))], []),
        ([("want", STARTING), ("want", RUNNABLE)], []),
    ],
    ids=[
        "the_same_status_again_writes_nothing",
        "the_same_status_in_another_key_order_writes_nothing",
        "the_server_reporting_it_again_writes_nothing",
        "a_new_status_is_written_as_a_change_from_the_held_one",
        "a_status_someone_else_changed_is_put_back",
        "an_event_not_newer_than_the_write_is_ignored",
        "a_change_taken_back_before_it_was_sent_writes_nothing",
    ],
)
def test_a_settled_status_is_written_again_only_when_it_differs_from_the_servers(
    steps: list[Step], writes: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    book = settled_book()
    for op, arg in steps:
        if op == "want":
            book.want("batchjobs", job(), dict(arg))
        else:
            status, version = arg
            book.observed("batchjobs", job(dict(status), version), version)
    assert [(w.status, w.previous) for w in book.due(T0)] == writes


def test_a_settled_status_reads_back_as_it_was_and_the_entry_holds_it_packed() -> None:
    book = settled_book()
    entry = book.entries[("batchjobs", "ns/j")]
    assert entry.settled is not None
    assert (entry.desired, entry.confirmed) == (None, None)
    assert book.current("batchjobs", "ns", "j") == RUNNABLE
    assert len(entry.settled) < len(json.dumps(RUNNABLE)) / 3


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"status": "FAILED", "statusReason": "Essential container exited: café ✓ \u0000"},
        {"attempts": [{"container": {"exitCode": 137}}] * 50, "positionInQueue": 10**9},
    ],
    ids=["empty", "unicode", "long"],
)
def test_any_status_settles_and_reads_back_unchanged(status: dict[str, Any]) -> None:
    book = StatusBook()
    book.observed("batchjobs", job(dict(status), 1), 1)
    book.want("batchjobs", job(dict(status), 1), dict(status))
    assert book.entries[("batchjobs", "ns/j")].settled is not None
    assert book.current("batchjobs", "ns", "j") == status
    assert book.due(T0) == []


def test_a_failed_write_is_sent_again_after_a_back_off_then_settles() -> None:
    book = settled_book()
    book.want("batchjobs", job(), dict(STARTING))
    (write,) = book.due(T0)
    book.outcome(write, Failure(409, "Conflict", "the object has been modified"), 0, T0)
    assert book.due(T0) == []
    (again,) = book.due(T0 + timedelta(seconds=1))
    assert (again.status, again.previous) == (STARTING, RUNNABLE)
    book.outcome(again, None, 5, T0 + timedelta(seconds=1))
    assert book.entries[("batchjobs", "ns/j")].settled is not None
    assert book.current("batchjobs", "ns", "j") == STARTING


def test_a_write_to_an_object_gone_forgets_it() -> None:
    book = settled_book()
    book.want("batchjobs", job(), dict(STARTING))
    (write,) = book.due(T0)
    book.outcome(write, Failure(404, "NotFound", 'batchjobs "j" not found'), 0, T0)
    assert book.current("batchjobs", "ns", "j") is None
    assert book.due(T0 + timedelta(minutes=5)) == []
