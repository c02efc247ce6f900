"""Kubatch's embedded default as processes: the API server, the simulated kubelet and the
operator, each a child process on 127.0.0.1. Used by `kubatch dev`, the integration tests
and the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@contextmanager
def process(
    args: list[str],
    env: dict[str, str] | None = None,
    log: Path | None = None,
    append: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped (SIGTERM, then SIGKILL after 10 s) when the block ends."""
    out: IO[bytes] | int = open(log, "ab" if append else "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not isinstance(out, int):
            out.close()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, however it dies (Linux's
    PR_SET_PDEATHSIG), so that nothing is left running after a SIGKILL of the parent."""
    if sys.platform == "linux":
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def start_apiserver(stack: ExitStack, workdir: Path) -> Path:
    """Start the embedded API server; returns the kubeconfig it writes."""
    kubeconfig = workdir / "kubeconfig"
    stack.enter_context(
        process(
            [sys.executable, "-m", "kubatch.sim.apiserver", "--kubeconfig", str(kubeconfig)],
            log=workdir / "apiserver.log",
        )
    )
    wait_for_file(kubeconfig)
    return kubeconfig


def start_kubelet(
    stack: ExitStack,
    workdir: Path,
    kubeconfig: Path,
    bind: bool,
    ready_delay: float = 0.2,
    default_duration: float = 0.0,
    lease_seconds: float | None = None,
    status_report_seconds: float | None = None,
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "kubatch.sim.kubelet",
        "--ready-delay",
        str(ready_delay),
        "--default-duration",
        str(default_duration),
    ]
    if bind:
        args.append("--bind")
    if lease_seconds is not None:
        args += ["--lease-seconds", str(lease_seconds)]
    if status_report_seconds is not None:
        args += ["--status-report-seconds", str(status_report_seconds)]
    return stack.enter_context(
        process(args, {"KUBECONFIG": str(kubeconfig)}, workdir / "kubelet.log")
    )


def _serve(
    stack: ExitStack, workdir: Path, kubeconfig: Path, name: str, module: str, args: list[str]
) -> str:
    """Start a server beside the operator (`python -m <module> <args>`) that writes its URL
    to a ready file once it serves; returns that URL."""
    ready = workdir / f"{name}.url"
    ready.unlink(missing_ok=True)
    stack.enter_context(
        process(
            [sys.executable, "-m", module, *args, "--ready-file", str(ready)],
            {"KUBECONFIG": str(kubeconfig)},
            workdir / f"{name}.log",
        )
    )
    wait_for_file(ready, timeout=60)
    return ready.read_text().strip()


def start_aws_api(
    stack: ExitStack,
    workdir: Path,
    kubeconfig: Path,
    secret: str,
    port: int = 0,
    regions: tuple[str, ...] = ("us-east-1",),
    account: str = "000000000000",
) -> str:
    """Start `kubatch api` (the AWS Batch API) for `regions`; returns its endpoint URL."""
    served = [f"--region={region}" for region in regions]
    return _serve(
        stack,
        workdir,
        kubeconfig,
        "aws-api",
        "kubatch.awsapi",
        ["--port", str(port), "--credentials-secret", secret, *served, "--account", account],
    )


def start_console(
    stack: ExitStack,
    workdir: Path,
    kubeconfig: Path,
    port: int = 0,
    actions: str = "none",
    name: str = "console",
) -> str:
    """Start `kubatch console` (the web console); returns its URL."""
    return _serve(
        stack,
        workdir,
        kubeconfig,
        name,
        "kubatch.console",
        ["--port", str(port), "--actions", actions],
    )


@dataclass(kw_only=True)
class Operator:
    """The operator process, run as a Deployment would run it: started again when it exits by
    itself (it exits on purpose when it loses its leader lease); stopped and started by hand
    for restart tests."""

    kubeconfig: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    restart_delay: float = 1.0
    """Seconds before a process that exited by itself is started again."""
    _stack: ExitStack | None = None
    _supervisor: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def log(self) -> Path:
        return self.workdir / f"operator-{self.starts}.log"

    def warnings(self) -> list[str]:
        """Every WARNING and ERROR line its processes logged, in order, each from the start
        it was logged in: what went wrong, for a test's failure message."""
        found = []
        for start in range(1, self.starts + 1):
            log = self.workdir / f"operator-{start}.log"
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()
                found += [
                    f"[{start}] {line}" for line in lines if "[WARNING" in line or "[ERROR" in line
                ]
        return found

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        self._stack = ExitStack()
        self.metrics_port = free_port()
        env = {
            "KUBECONFIG": str(self.kubeconfig),
            "KUBATCH_METRICS_PORT": str(self.metrics_port),
            "KUBATCH_METRICS_ADDRESS": "127.0.0.1",
            **self.env,
        }
        self.proc = self._stack.enter_context(
            process(
                [sys.executable, "-m", "kubatch.controller"],
                env,
                self.workdir / f"operator-{self.starts}.log",
            )
        )
        return self.proc

    def start(self) -> subprocess.Popen[bytes]:
        with self._lock:
            self._stopping.clear()
            proc = self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return proc

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None:
                return
            if proc.poll() is None:
                self._stopping.wait(0.2)
                continue
            if self._stopping.wait(self.restart_delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                if self._stack is not None:
                    self._stack.close()
                self._spawn()

    def kill(self) -> None:
        """SIGKILL, as a crash: the supervisor starts it again, as a Deployment would."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, kill: bool = False) -> None:
        """Stop for good (SIGTERM, or SIGKILL with `kill`: nothing is cleaned up)."""
        self._stopping.set()
        if kill and self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        with self._lock:
            if self._stack is not None:
                self._stack.close()
                self._stack = None
                self.proc = None
