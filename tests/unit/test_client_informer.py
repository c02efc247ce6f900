"""The client's informer over a real loopback HTTP server: it watches from a list's version,
lists again when the watch expires (410), and hands each new list whole to its caller (who
learns from it what was deleted meanwhile)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp import web

from kubatch.kube.client import Client, Credentials

Obj = dict[str, Any]


def pod(name: str, version: int) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version)}}


class Server:
    """Lists answer with `lists` in turn; each watch streams its events, then 410 Gone."""

    def __init__(self, lists: list[tuple[list[Obj], int]], watches: list[list[Obj]]) -> None:
        self.lists, self.watches = lists, watches
        self.requests: list[str] = []
        self.done = asyncio.Event()

    async def pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            self.requests.append("list")
            items, version = self.lists.pop(0)
            return web.json_response(
                {"kind": "PodList", "metadata": {"resourceVersion": str(version)}, "items": items}
            )
        self.requests.append(f"watch from {request.query['resourceVersion']}")
        response = web.StreamResponse()
        await response.prepare(request)
        if not self.watches:
            await self.done.wait()  # a watch with nothing to tell, until the test ends
            return response
        for event in self.watches.pop(0):
            await response.write(json.dumps(event).encode() + b"\n")
        gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
        await response.write(json.dumps(gone).encode() + b"\n")
        return response


@pytest.mark.parametrize(
    ("since", "first"), [("", "list"), ("3", "watch from 3")], ids=["listing", "from_a_version"]
)
def test_the_informer_watches_and_lists_again_after_410(since: str, first: str) -> None:
    listings: list[list[str]] = []
    changes: list[tuple[str, str]] = []

    async def scenario() -> list[str]:
        server = Server(
            lists=[([pod("a", 2), pod("b", 3)], 3), ([pod("b", 3), pod("c", 8)], 9)],
            watches=[[{"type": "MODIFIED", "object": pod("b", 4)}]],
        )
        if since:
            server.lists.pop(0)  # the caller made that list itself
        app = web.Application()
        app.router.add_get("/api/v1/pods", server.pods)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        client = Client(Credentials(server=f"http://127.0.0.1:{port}"))

        def listed(items: Sequence[Obj]) -> None:
            listings.append([i["metadata"]["name"] for i in items])

        task = asyncio.create_task(
            client.informer(
                "v1",
                "pods",
                lambda kind, obj: changes.append((kind, obj["metadata"]["name"])),
                listed=listed,
                since=since,
            )
        )
        try:
            for _ in range(200):
                if len(server.requests) >= (4 if not since else 3):
                    break
                await asyncio.sleep(0.01)
        finally:
            server.done.set()
            task.cancel()
            await client.close()
            await runner.cleanup()
        return server.requests

    requests = asyncio.run(scenario())
    assert requests[0] == first
    assert "list" in requests[1:], "a 410 in the watch is followed by a new list"
    assert changes == [("MODIFIED", "b")]
    assert listings[-1] == ["b", "c"], "the new list is handed over whole (a is gone)"
    assert requests[-1] == "watch from 9", "and watched from its version"
