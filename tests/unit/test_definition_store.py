"""RegisterJobDefinition's write: a write conflict (the operator's status write, another
caller's create) reads and tries again, up to STORE_ATTEMPTS; any other refusal is answered at
once, in AWS's terms, without sending the request again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubatch.api.common import Obj
from kubatch.awsapi.definitions import STORE_ATTEMPTS, DefinitionOperations
from kubatch.awsapi.errors import ClientError
from kubatch.kube.errors import ApiError

CONFLICT = ApiError(409, "Conflict", "the object has been modified")
EXISTS = ApiError(409, "AlreadyExists", 'jobdefinitions.kubatch.io "d" already exists')
INVALID = ApiError(422, "Invalid", "spec.containerProperties.image: Required value")
BROKEN = ApiError(500, "InternalError", "etcd is sad")
WRITTEN: Obj = {"metadata": {"name": "d"}}


class Store(DefinitionOperations):
    """Only the write: `_put_definition` answers from a script of failures."""

    def __init__(self, failures: list[ApiError]) -> None:
        self.failures = failures
        self.calls = 0

    async def _put_definition(self, manifest: Obj, namespace: str) -> Obj:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return WRITTEN


@pytest.mark.parametrize(
    ("failures", "calls", "answer"),
    [
        ([], 1, WRITTEN),
        ([CONFLICT, EXISTS], 3, WRITTEN),
        ([CONFLICT] * STORE_ATTEMPTS, STORE_ATTEMPTS, "the object changed meanwhile"),
        ([INVALID], 1, "spec.containerProperties.image: Required value"),
        ([CONFLICT, INVALID], 2, "spec.containerProperties.image: Required value"),
        ([BROKEN], 1, BROKEN),
    ],
    ids=[
        "written",
        "conflicts_then_written",
        "conflicts_all_along",
        "invalid",
        "conflict_then_invalid",
        "server_error",
    ],
)
def test_only_a_write_conflict_is_sent_again(
    failures: list[ApiError], calls: int, answer: Any
) -> None:
    store = Store(list(failures))
    run = store._store_definition({"metadata": {"name": "d"}}, "default")
    if answer is WRITTEN:
        assert asyncio.run(run) == WRITTEN
    elif isinstance(answer, ApiError):
        with pytest.raises(ApiError) as raised:
            asyncio.run(run)
        assert raised.value is answer
    else:
        with pytest.raises(ClientError, match=answer):
            asyncio.run(run)
    assert store.calls == calls
