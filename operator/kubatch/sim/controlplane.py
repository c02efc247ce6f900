"""A real Kubernetes control plane on loopback ports, for tests, benchmarks and `kubatch dev`.

It follows envtest's convention: the binaries live in the folder named by `KUBEBUILDER_ASSETS`
(etcd and kube-apiserver; kube-controller-manager and kube-scheduler when present, which the
folder `setup-envtest` prepares lacks). `control_plane()` generates a CA, serving and client
certificates and a service-account key, starts etcd, the API server, the controller-manager
(every default controller, node lifecycle included) and the scheduler on free ports, waits
until pods can be created (the `default` ServiceAccount exists), and stops them all at the end.

`python -m kubatch.sim.controlplane prepare SOURCE TARGET` decompresses `*.xz` binaries from
SOURCE into TARGET (checking SOURCE/SHA256SUMS); `python -m kubatch.sim.controlplane run`
starts one and prints its kubeconfig until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .certificates import Certificates, make_certificates
from .stack import free_port, process

ASSETS_VARIABLE = "KUBEBUILDER_ASSETS"
REQUIRED = ("etcd", "kube-apiserver")
OPTIONAL = ("kube-controller-manager", "kube-scheduler")
SERVICE_RANGE = "10.96.0.0/16"
ISSUER = "https://kubernetes.default.svc"


class ControlPlaneError(RuntimeError):
    """The control plane could not be prepared or started; the message says which part."""


def assets_from_environment() -> Path | None:
    """The folder `KUBEBUILDER_ASSETS` names, when it holds at least etcd and kube-apiserver."""
    value = os.environ.get(ASSETS_VARIABLE)
    if not value:
        return None
    folder = Path(value)
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ControlPlaneError(f"{ASSETS_VARIABLE}={folder} lacks {', '.join(missing)}")
    return folder


def prepare(source: Path, target: Path) -> Path:
    """Decompress `source/*.xz` into `target` once, checking `source/SHA256SUMS` when present.

    Returns `target`. A binary already in `target` with the right checksum is kept."""
    sums: dict[str, str] = {}
    listing = source / "SHA256SUMS"
    if listing.exists():
        for line in listing.read_text().splitlines():
            if line.strip():
                digest, name = line.split()
                sums[name.lstrip("*")] = digest
    target.mkdir(parents=True, exist_ok=True)
    for packed in sorted(source.glob("*.xz")):
        name = packed.name.removesuffix(".xz")
        binary = target / name
        expected = sums.get(name)
        if binary.exists() and (expected is None or _sha256(binary) == expected):
            continue
        partial = binary.with_suffix(".partial")
        with lzma.open(packed) as packed_file, open(partial, "wb") as out:
            shutil.copyfileobj(packed_file, out, length=1 << 20)
        if expected is not None and _sha256(partial) != expected:
            partial.unlink()
            raise ControlPlaneError(
                f"{packed}: checksum of the decompressed file is not {expected}"
            )
        partial.chmod(0o755)
        partial.replace(binary)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    *,
    token: str | None = None,
    certificate: Path | None = None,
    key: Path | None = None,
    user: str = "admin",
    namespace: str = "default",
) -> Path:
    """Write a self-contained kubeconfig (certificates inlined) and return its path."""
    import base64

    def inline(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    credentials: dict[str, str] = {}
    if token is not None:
        credentials["token"] = token
    if certificate is not None and key is not None:
        credentials["client-certificate-data"] = inline(certificate)
        credentials["client-key-data"] = inline(key)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubatch",
                "cluster": {"server": server, "certificate-authority-data": inline(ca)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [
            {"name": user, "context": {"cluster": "kubatch", "user": user, "namespace": namespace}}
        ],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


# -- the processes ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class ControlPlane:
    """A running control plane. `kubeconfig` is an admin's (system:masters)."""

    assets: Path
    workdir: Path
    certificates: Certificates
    etcd_url: str
    port: int
    kubeconfig: Path
    components: tuple[str, ...]
    apiserver_flags: tuple[str, ...] = ()
    """More kube-apiserver flags (a benchmark's limits, say)."""
    _apiserver: ExitStack = field(default_factory=ExitStack)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def apiserver_args(self) -> list[str]:
        c = self.certificates
        return [
            str(self.assets / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={c.serving}",
            f"--tls-private-key-file={c.serving_key}",
            f"--client-ca-file={c.ca}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={c.service_account_public}",
            f"--service-account-signing-key-file={c.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # Simulated nodes' kubelets listen on loopback: reach them by address, never by a
            # name to look up.
            "--kubelet-preferred-address-types=InternalIP",
            # A real node's kubelet asks for a client certificate (logs, exec).
            f"--kubelet-client-certificate={c.admin}",
            f"--kubelet-client-key={c.admin_key}",
            *self.apiserver_flags,
        ]

    def start_apiserver(self) -> None:
        self._apiserver = ExitStack()
        self._apiserver.enter_context(
            process(self.apiserver_args(), log=self.workdir / "kube-apiserver.log", append=True)
        )
        self.wait_ready()

    def stop_apiserver(self) -> None:
        """Stop the API server (SIGTERM, as a rolling restart would); etcd keeps the data."""
        self._apiserver.close()

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def _get(self, path: str) -> tuple[int, str]:
        c = self.certificates
        context = ssl.create_default_context(cafile=str(c.ca))
        context.load_cert_chain(str(c.admin), str(c.admin_key))
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=5) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = (0, "")
        while time.monotonic() < deadline:
            last = self._get("/readyz")
            if last[0] == 200:
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {timeout:.0f}s: {last[0]} {last[1][:300]} "
            f"(log: {self.workdir / 'kube-apiserver.log'})"
        )

    def wait_for_default_service_account(self, timeout: float = 60.0) -> None:
        """Pods are refused in a namespace until its `default` ServiceAccount exists."""
        deadline = time.monotonic() + timeout
        path = "/api/v1/namespaces/default/serviceaccounts/default"
        while time.monotonic() < deadline:
            if self._get(path)[0] == 200:
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"the default ServiceAccount did not appear within {timeout:.0f}s "
            f"(log: {self.workdir / 'kube-controller-manager.log'})"
        )


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ControlPlaneError(f"{what} exited with {proc.returncode} (log: {log})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ControlPlaneError(f"{what} did not listen on port {port} within 30s (log: {log})")


def _data_folder(workdir: Path, stack: ExitStack) -> Path:
    """etcd's data in memory where the machine has /dev/shm: fsyncs are what makes a test
    cluster slow, and its data is thrown away anyway."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="kubatch-etcd-", dir=shm))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        return folder
    return workdir / "etcd"


@contextmanager
def control_plane(
    assets: Path, workdir: Path, apiserver_flags: tuple[str, ...] = ()
) -> Iterator[ControlPlane]:
    """Start a control plane from the binaries in `assets`; stop it when the block ends."""
    missing = [name for name in REQUIRED if not (assets / name).is_file()]
    if missing:
        raise ControlPlaneError(f"{assets} lacks {', '.join(missing)}")
    workdir.mkdir(parents=True, exist_ok=True)
    certificates = make_certificates(workdir / "pki")
    with ExitStack() as stack:
        client_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        etcd_log = workdir / "etcd.log"
        etcd = stack.enter_context(
            process(
                [
                    str(assets / "etcd"),
                    f"--data-dir={_data_folder(workdir, stack)}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                    "--snapshot-count=10000",
                ],
                log=etcd_log,
            )
        )
        _wait_for_port(client_port, etcd, "etcd", etcd_log)
        port = free_port()
        admin = kubeconfig(
            workdir / "kubeconfig",
            f"https://127.0.0.1:{port}",
            certificates.ca,
            certificate=certificates.admin,
            key=certificates.admin_key,
        )
        components = tuple(n for n in (*REQUIRED, *OPTIONAL) if (assets / n).is_file())
        plane = ControlPlane(
            assets=assets,
            workdir=workdir,
            certificates=certificates,
            etcd_url=etcd_url,
            port=port,
            kubeconfig=admin,
            components=components,
            apiserver_flags=apiserver_flags,
        )
        plane.start_apiserver()
        stack.callback(plane.stop_apiserver)
        if "kube-controller-manager" in components:
            stack.enter_context(
                process(
                    [
                        str(assets / "kube-controller-manager"),
                        f"--kubeconfig={admin}",
                        "--leader-elect=false",
                        "--secure-port=0",
                        "--use-service-account-credentials",
                        f"--root-ca-file={certificates.ca}",
                        f"--service-account-private-key-file={certificates.service_account_key}",
                        f"--cluster-signing-cert-file={certificates.ca}",
                        f"--cluster-signing-key-file={certificates.ca_key}",
                        f"--service-cluster-ip-range={SERVICE_RANGE}",
                        "--controllers=*",
                    ],
                    log=workdir / "kube-controller-manager.log",
                )
            )
            plane.wait_for_default_service_account()
        if "kube-scheduler" in components:
            stack.enter_context(
                process(
                    [
                        str(assets / "kube-scheduler"),
                        f"--kubeconfig={admin}",
                        "--leader-elect=false",
                        "--secure-port=0",
                        # Why a pod waits unscheduled, and when each is bound, in its log.
                        "-v=2",
                    ],
                    log=workdir / "kube-scheduler.log",
                )
            )
        yield plane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubatch.sim.controlplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_command = commands.add_parser("prepare", help="decompress binaries into a folder")
    prepare_command.add_argument("source", type=Path)
    prepare_command.add_argument("target", type=Path)
    run_command = commands.add_parser("run", help="start a control plane until interrupted")
    run_command.add_argument("--assets", type=Path, default=None)
    run_command.add_argument("--workdir", type=Path, default=Path(".kubatch-controlplane"))
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            if not args.source.is_dir():
                print(f"{args.source}: no such folder; nothing to prepare", file=sys.stderr)
                return 0
            print(prepare(args.source, args.target))
            return 0
        assets = args.assets or assets_from_environment()
        if assets is None:
            print(f"set {ASSETS_VARIABLE} or pass --assets", file=sys.stderr)
            return 2
        with control_plane(assets, args.workdir.resolve()) as plane:
            print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    except ControlPlaneError as e:
        print(f"control plane: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
