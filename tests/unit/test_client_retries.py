"""The client tries a request again when the answer is lost: no connection, a connection
dropped, or an answer cut short (a server killed mid-reply). Over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from kubatch.kube.client import Client, Credentials
from kubatch.kube.errors import ApiError

BODY = b'{"ok": true}'
GOOD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
FAILURES = {
    "answer_cut_short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
    "connection_dropped": b"",
}


async def _scripted(
    answers: list[bytes], call: Callable[[Client], Awaitable[object]]
) -> tuple[object, int, dict[str, int]]:
    """A loopback server that gives `answers` in turn (then GOOD), and a client with 3
    retries making `call`: what the call returned (or the error's status), how many requests
    the server got, and the client's figures."""
    count = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answers[count] if count < len(answers) else GOOD)
        count += 1
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client(Credentials(server=f"http://127.0.0.1:{port}"), retries=3)
    try:
        found: object = await call(client)
    except ApiError as e:
        found = str(e.status)
    finally:
        await client.close()
        server.close()
    return found, count, client.stats


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_lost_answer_is_asked_again(failure: str) -> None:
    answer, served, _ = asyncio.run(
        _scripted([FAILURES[failure]], lambda c: c.request("GET", "/api/v1/namespaces"))
    )
    assert answer == {"ok": True}
    assert served == 2


def _answer(status: int, headers: str = "") -> bytes:
    body = b'{"reason": "TooManyRequests", "message": "try again"}'
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}"
    return head.encode() + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize(
    ("answers", "served", "outcome"),
    [
        # Throttled more often than the client retries: every 429 is waited out.
        ([_answer(429, "Retry-After: 0\r\n")] * 8, 9, "ok"),
        ([_answer(429)] * 4, 5, "ok"),  # no Retry-After: a growing back-off
        # A server error is retried only `retries` times.
        ([_answer(500)] * 8, 4, "500"),
    ],
    ids=["throttled-past-the-retries", "throttled-without-retry-after", "server-error"],
)
def test_a_throttled_request_waits_as_long_as_the_server_asks_and_is_not_lost(
    answers: list[bytes], served: int, outcome: str
) -> None:
    async def post(client: Client) -> str:
        await client.request("POST", "/api/v1/namespaces", {"kind": "Namespace"}, write=True)
        return "ok"

    found, count, stats = asyncio.run(_scripted(answers, post))
    assert (found, count) == (outcome, served)
    assert stats["throttled"] == sum(b.startswith(b"HTTP/1.1 429") for b in answers[:served])
