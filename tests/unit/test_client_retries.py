"""The client tries a request again when the answer is lost: no connection, a connection
dropped, or an answer cut short (a server killed mid-reply). Over real loopback sockets."""

from __future__ import annotations

import asyncio

import pytest

from kubatch.kube.client import Client, Credentials

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
