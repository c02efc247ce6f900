"""The client tries a request again when the answer is lost: no connection, a connection
dropped, or an answer cut short (a server killed mid-reply). Over real loopback sockets."""

from __future__ import annotations

import asyncio

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


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_lost_answer_is_asked_again(failure: str) -> None:
    async def scenario() -> tuple[dict[str, object], int]:
        served = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            await reader.readuntil(b"\r\n\r\n")
            served += 1
            writer.write(FAILURES[failure] if served == 1 else GOOD)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = Client(Credentials(server=f"http://127.0.0.1:{port}"), retries=3)
        try:
            answer = await client.request("GET", "/api/v1/namespaces")
        finally:
            await client.close()
            server.close()
        return answer, served

    answer, served = asyncio.run(scenario())
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
    async def scenario() -> tuple[str, int, dict[str, int]]:
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
            await client.request("POST", "/api/v1/namespaces", {"kind": "Namespace"}, write=True)
            found = "ok"
        except ApiError as e:
            found = str(e.status)
        finally:
            await client.close()
            server.close()
        return found, count, client.stats

    found, count, stats = asyncio.run(scenario())
    assert (found, count) == (outcome, served)
    assert stats["throttled"] == sum(b.startswith(b"HTTP/1.1 429") for b in answers[:served])
