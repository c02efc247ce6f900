"""`python -m kubatch.sim.apiserver --port 0 --kubeconfig FILE`: the emulator as a process,
on 127.0.0.1, with a kubeconfig for its clients."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import yaml
from aiohttp import web

from ..containers import Obj
from .server import ApiServer


def kubeconfig(server: str, namespace: str = "default") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubatch-sim", "cluster": {"server": server}}],
        "users": [{"name": "kubatch-sim", "user": {"token": "kubatch-sim"}}],
        "contexts": [
            {
                "name": "kubatch-sim",
                "context": {
                    "cluster": "kubatch-sim",
                    "user": "kubatch-sim",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "kubatch-sim",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def serve(port: int, kubeconfig_path: Path | None) -> None:
    server = ApiServer()
    runner = web.AppRunner(server.app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    address = f"http://127.0.0.1:{port}"
    if kubeconfig_path is not None:
        tmp = kubeconfig_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(kubeconfig(address)))
        os.replace(tmp, kubeconfig_path)
    print(f"kubatch API server listening on {address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close_watches()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubatch-apiserver", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server here")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port, args.kubeconfig))
    return 0
