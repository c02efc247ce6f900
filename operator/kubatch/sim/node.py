"""A real Kubernetes node on this machine: containerd, runc, a bridge CNI and the kubelet.

`real_node()` joins a node to a control plane started by `kubatch.sim.controlplane`: it makes a
Linux bridge on a private subnet (the node's address is the bridge's), starts containerd with
its own config, root, state and socket in the node's folder (every registry pointed at a closed
local port, so a pull never leaves the machine and a missing image fails at once), imports the
images built offline (`kubatch.sim.images`), serves the cluster's DNS on the node's address
(`kubatch.sim.clusterdns`), gives the kubelet a client certificate from the cluster's CA and
starts it. Pods on the node reach the API server at the `kubernetes`
Service's address (10.96.0.1:443), as in any cluster: with no kube-proxy here, one NAT rule on
the bridge sends that address to the API server's loopback port.

It needs root, cgroups, `containerd`, `runc`, `ctr`, the CNI plugins and busybox-static
(Debian's packages: `ensure_packages()` installs them with apt where it can), and a `kubelet`
binary beside the control plane's. `missing()` says what is missing, in words.

Its processes run in a mount namespace of their own (every mount they make stays there, and
/var/log/pods there is the node's folder). What it changes outside its folder, and puts back
when it stops: the bridge and its NAT rule, its own cgroup
(`kubatch-<node>`, the kubelet's cgroupRoot), and the kernel settings the kubelet rewrites
(vm.overcommit_memory, kernel.panic, kernel.panic_on_oops). It ends only the processes it
started, by PID (and the container shims of its own containerd).

A node holds a lock per node name and per bridge (`/run/lock/kubatch-*.lock`) while it runs. A
node that died without cleaning up (its process killed) leaves its cgroup, bridge and NAT rule
behind; the next node of that name or bridge, finding the lock free, removes them first.

`python -m kubatch.sim.node run` starts a control plane and a node and prints a KUBECONFIG.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .certificates import client_pair
from .controlplane import ControlPlane, ControlPlaneError, kubeconfig
from .images import busybox_image, pause_image
from .stack import free_port, process

PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "busybox-static",
    "iptables",
    # The operator image, built here: podman, on a Debian base mmdebstrap makes.
    "podman",
    "mmdebstrap",
)
IMAGE_TOOLS = ("podman", "mmdebstrap")
TOOLS = ("containerd", "runc", "ctr", "iptables", "ip")
CNI_PLUGINS = Path("/usr/lib/cni")
BUSYBOX = Path("/bin/busybox")
SERVICE_ADDRESS = "10.96.0.1"
"""The `kubernetes` Service's address (the first of the control plane's service range)."""
CLOSED_REGISTRY = "http://127.0.0.1:9"
"""Where every image pull goes: a closed local port, so it fails at once."""
KERNEL_SETTINGS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
"""Settings the kubelet rewrites for the whole machine; restored when the node stops."""
POD_LOG_FOLDERS = (Path("/var/log/pods"), Path("/var/log/containers"))
CGROUP_ROOT = Path("/sys/fs/cgroup")
LOCKS = Path("/run/lock")


class NodeError(RuntimeError):
    """The node could not be prepared or started; the message says which part and why."""


def missing(assets: Path | None) -> list[str]:
    """What this machine lacks for a real node, in words (empty: it can run one)."""
    found: list[str] = []
    if sys.platform != "linux":
        found.append("a real node needs Linux")
        return found
    if os.geteuid() != 0:
        found.append("a real node needs root (containerd, the kubelet, a bridge)")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            found.append(f"no `{tool}` on PATH")
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_PLUGINS / plugin).is_file():
            found.append(f"no CNI plugin {CNI_PLUGINS / plugin}")
    if not BUSYBOX.is_file():
        found.append(f"no {BUSYBOX} (busybox-static) to build the images from")
    if assets is None:
        found.append("no control plane binaries (KUBEBUILDER_ASSETS)")
    elif not (assets / "kubelet").is_file():
        found.append(f"no kubelet in {assets}")
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        found.append("no memory cgroup")
    return found


def ensure_packages() -> list[str]:
    """Install the Debian packages a real node needs when some are missing (root and apt
    only). Returns what was installed; raises NodeError when it cannot install them."""
    absent = [t for t in (*TOOLS, *IMAGE_TOOLS) if shutil.which(t) is None]
    if not BUSYBOX.is_file() or not (CNI_PLUGINS / "bridge").is_file():
        absent.append("packages")
    if not absent:
        return []
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NodeError(f"missing {', '.join(absent)}; install {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise NodeError(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return list(PACKAGES)


def _run(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired as e:
        raise NodeError(f"{' '.join(args)} did not finish within 60 s") from e
    if check and done.returncode != 0:
        raise NodeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


# -- the node's network ----------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """A bridge on a private /24 inside the machine: the node's address is the bridge's."""

    bridge: str
    subnet: int
    """The third octet: 10.244.<subnet>.0/24."""

    @property
    def address(self) -> str:
        return f"10.244.{self.subnet}.1"

    @property
    def cidr(self) -> str:
        return f"10.244.{self.subnet}.0/24"

    @property
    def chain(self) -> str:
        return f"KUBATCH-{self.bridge.upper()}"[:28]

    def cni(self, data: Path) -> dict[str, object]:
        return {
            "cniVersion": "0.4.0",
            "name": self.bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.cidr, "gateway": self.address}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(data),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }


@contextmanager
def bridge(network: Network, apiserver_port: int) -> Iterator[Network]:
    """The node's bridge with its address, and the NAT rule that sends the `kubernetes`
    Service's address to the API server's loopback port; removed when the block ends."""
    with ExitStack() as stack:
        stack.enter_context(_lock(f"bridge-{network.bridge}"))
        if Path(f"/sys/class/net/{network.bridge}").exists():
            _remove_stale_bridge(network)
        _run(["ip", "link", "add", network.bridge, "type", "bridge"])
        stack.callback(_run, ["ip", "link", "delete", network.bridge], False)
        _run(["ip", "addr", "add", f"{network.address}/24", "dev", network.bridge])
        _run(["ip", "link", "set", network.bridge, "up"])
        # Packets from pods to the Service address arrive on the bridge; DNAT to loopback
        # needs route_localnet on that interface (only there).
        Path(f"/proc/sys/net/ipv4/conf/{network.bridge}/route_localnet").write_text("1")
        chain = network.chain
        _run(["iptables", "-t", "nat", "-N", chain])
        stack.callback(_run, ["iptables", "-t", "nat", "-X", chain], False)
        stack.callback(_run, ["iptables", "-t", "nat", "-F", chain], False)
        _run(
            [
                "iptables", "-t", "nat", "-A", chain, "-d", SERVICE_ADDRESS, "-p", "tcp",
                "--dport", "443", "-j", "DNAT", "--to-destination", f"127.0.0.1:{apiserver_port}",
            ]
        )  # fmt: skip
        jump = ["PREROUTING", "-i", network.bridge, "-j", chain]
        _run(["iptables", "-t", "nat", "-I", *jump])
        stack.callback(_run, ["iptables", "-t", "nat", "-D", *jump], False)
        yield network


def _remove_stale_bridge(network: Network) -> None:
    """A bridge of ours whose lock is free was left by a node that died: remove it, its NAT
    chain and the jump to it."""
    _run(["ip", "link", "delete", network.bridge], False)
    chain = network.chain
    _run(["iptables", "-t", "nat", "-D", "PREROUTING", "-i", network.bridge, "-j", chain], False)
    _run(["iptables", "-t", "nat", "-F", chain], False)
    _run(["iptables", "-t", "nat", "-X", chain], False)


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """A machine-wide lock for the node's lifetime (released by the kernel if the process dies),
    so a leftover is known for one when the lock is free."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    path = LOCKS / f"kubatch-{name}.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise NodeError(f"{name} is in use by another node (process {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- containerd ------------------------------------------------------------------------------


def containerd_config(folder: Path, network: Network, sandbox_image: str) -> Path:
    """containerd's config: its own root, state and socket; cgroupfs; the local sandbox image;
    the CNI bridge; every registry at a closed port; no negative oom_score_adj (root here may
    lack CAP_SYS_RESOURCE)."""
    hosts = folder / "certs.d" / "_default"
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts.toml").write_text(
        f'server = "{CLOSED_REGISTRY}"\n[host."{CLOSED_REGISTRY}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    cni = folder / "cni"
    cni.mkdir(exist_ok=True)
    (cni / "10-kubatch.conflist").write_text(json.dumps(network.cni(folder / "ipam"), indent=1))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{folder / "root"}"
state = "{folder / "state"}"
[grpc]
  address = "{folder / "containerd.sock"}"
[ttrpc]
  address = "{folder / "containerd.sock.ttrpc"}"
[debug]
  level = "info"
[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [{cri}.cni]
    bin_dir = "{CNI_PLUGINS}"
    conf_dir = "{cni}"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{folder / "runc"}"
  [{cri}.registry]
    config_path = "{folder / "certs.d"}"
"""
    path = folder / "config.toml"
    path.write_text(text)
    return path


# -- the kubelet -----------------------------------------------------------------------------


def kubelet_config(
    path: Path, socket: Path, ca: Path, network: Network, port: int, health: int, cgroup_root: str
) -> Path:
    """The KubeletConfiguration for this machine (see ../shared/k8s/README.md): cgroupfs, no
    swap check, no kernel tuning, no image GC, no host resolv.conf, the node's own ports."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "makeIPTablesUtilChains": False,
        "protectKernelDefaults": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "resolvConf": "",
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "address": network.address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": health,
        "serializeImagePulls": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        # The node's own cluster DNS (kubatch.sim.clusterdns) answers on its address.
        "clusterDNS": [network.address],
        "maxPods": 110,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(kw_only=True)
class RealNode:
    """A running real node. Its parts can be stopped and started again (faults)."""

    name: str
    workdir: Path
    plane: ControlPlane
    network: Network
    labels: dict[str, str]
    kubelet_port: int
    health_port: int
    images: list[Path] = field(default_factory=list)
    _containerd: ExitStack = field(default_factory=ExitStack)
    _kubelet: ExitStack = field(default_factory=ExitStack)
    cgroup_root: str = "/"
    enter: list[str] = field(default_factory=list)
    """The command prefix that enters the node's mount namespace."""
    kubelet_process: subprocess.Popen[bytes] | None = None
    containerd_process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def address(self) -> str:
        return self.network.address

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        address = ["--address", str(self.socket), "--connect-timeout", "5s"]
        return _run(["ctr", *address, "--namespace", "k8s.io", *args], check)

    # -- containerd --

    def start_containerd(self) -> None:
        folder = self.workdir / "containerd"
        config = folder / "config.toml"
        self._containerd = ExitStack()
        self.containerd_process = self._containerd.enter_context(
            process(
                [*self.enter, "containerd", "--config", str(config)],
                log=self.workdir / "containerd.log",
                append=True,
            )
        )
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            if self.containerd_process.poll() is not None or time.monotonic() > deadline:
                raise NodeError(f"containerd did not start (log: {self.workdir}/containerd.log)")
            time.sleep(0.1)

    def stop_containerd(self) -> None:
        self._containerd.close()
        self.containerd_process = None

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", "--all-platforms", str(archive))
        if archive not in self.images:
            self.images.append(archive)

    # -- the kubelet --

    def kubelet_args(self) -> list[str]:
        folder = self.workdir / "kubelet"
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        args = [
            str(self.plane.assets / "kubelet"),
            f"--config={folder / 'config.yaml'}",
            f"--kubeconfig={folder / 'kubeconfig'}",
            f"--root-dir={folder / 'root'}",
            f"--cert-dir={folder / 'pki'}",
            f"--hostname-override={self.name}",
            f"--node-ip={self.network.address}",
            "-v=2",
        ]
        if labels:
            args.append(f"--node-labels={labels}")
        return args

    def start_kubelet(self) -> None:
        self._kubelet = ExitStack()
        self.kubelet_process = self._kubelet.enter_context(
            process(
                [*self.enter, *self.kubelet_args()], log=self.workdir / "kubelet.log", append=True
            )
        )

    def stop_kubelet(self, kill: bool = False) -> None:
        """Stop the kubelet (SIGTERM; SIGKILL when `kill`, as a crash would). Its containers
        keep running under containerd."""
        if kill and self.kubelet_process is not None and self.kubelet_process.poll() is None:
            self.kubelet_process.kill()
        self._kubelet.close()
        self.kubelet_process = None

    def kill_tasks(self) -> None:
        """SIGKILL every container (sandboxes included) and delete its task: the shims reap
        them and unmount their root filesystems."""
        listing = self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
        for task in (line.split()[0] for line in listing if line.split()):
            self.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task, check=False)
        deadline = time.monotonic() + 10
        while self.running_tasks() and time.monotonic() < deadline:
            time.sleep(0.1)
        for line in self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]:
            if line.split():
                self.ctr("tasks", "delete", "--force", line.split()[0], check=False)

    def running_tasks(self) -> list[str]:
        """Ids of the containers (sandboxes included) containerd runs."""
        listing = self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
        return [line.split()[0] for line in listing if line.split()[-1:] == ["RUNNING"]]


def _read_kernel_settings() -> dict[str, str]:
    return {k: Path("/proc/sys", k).read_text().strip() for k in KERNEL_SETTINGS}


def _restore_kernel_settings(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)


@contextmanager
def _mount_namespace(workdir: Path) -> Iterator[list[str]]:
    """A mount namespace of the node's own, held open by a process that waits; containerd,
    its shims and containers, and the kubelet run in it (the prefix this yields enters it).
    Every mount they make (root filesystems, volumes, network namespaces) stays in it and is
    gone with it. In it, /var/log/pods and /var/log/containers, where the kubelet writes the
    containers' logs, are the node's own folders: two nodes never see each other's."""
    with ExitStack() as stack:
        holder = stack.enter_context(
            process(["unshare", "--mount", "--propagation", "private", "sleep", "infinity"])
        )
        own = os.stat("/proc/self/ns/mnt").st_ino
        deadline = time.monotonic() + 10
        path = f"/proc/{holder.pid}/ns/mnt"
        while not Path(path).exists() or os.stat(path).st_ino == own:
            if holder.poll() is not None or time.monotonic() > deadline:
                raise NodeError("unshare could not make the node's mount namespace")
            time.sleep(0.01)
        prefix = ["nsenter", f"--mount={path}", "--"]
        for folder in POD_LOG_FOLDERS:
            source = workdir / "logs" / folder.name
            source.mkdir(parents=True, exist_ok=True)
            if not folder.exists():
                folder.mkdir(parents=True)
                stack.callback(_remove_empty, folder)
            _run([*prefix, "mount", "--bind", str(source), str(folder)])
        yield prefix


@contextmanager
def _cluster_dns(plane: ControlPlane, network: Network) -> Iterator[None]:
    """The cluster DNS its pods ask (Services and headless Services' pods by name)."""
    from kubernetes import config

    from .clusterdns import ClusterDns

    dns = ClusterDns(config.new_client_from_config(str(plane.kubeconfig)), network.address)
    dns.start()
    try:
        yield
    finally:
        dns.stop()


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _shims_of(socket: Path) -> list[int]:
    """PIDs of the container shims our containerd started (their command names its socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            command
            and command[0].endswith(b"containerd-shim-runc-v2")
            and str(socket).encode() in command
        ):
            found.append(int(entry.name))
    return found


def _hierarchies() -> list[Path]:
    """The cgroup hierarchies (v1: one folder per controller; v2: the one root)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(
        p
        for p in CGROUP_ROOT.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists()
    )


@contextmanager
def _cgroup_root(name: str) -> Iterator[str]:
    """The node's own cgroup (its kubelet's cgroupRoot) in every hierarchy: the node's pods
    live under it, apart from anything else on the machine. At the end, processes left in it
    (containers whose shim died before them, all started by the node) are killed and the
    cgroups removed, deepest first."""
    folders = [h / name for h in _hierarchies()]
    stale = [folder for folder in folders if folder.exists()]
    if stale:
        # Left by a node of this name that died (the caller holds the name's lock).
        _remove_cgroups(stale)
        still = [folder for folder in stale if folder.exists()]
        if still:
            raise NodeError(f"cgroup {still[0]} was left by an earlier node and cannot be removed")
    made = []
    try:
        for folder in folders:
            folder.mkdir()
            made.append(folder)
        yield f"/{name}"
    finally:
        _remove_cgroups(made)


def _remove_cgroups(tops: list[Path]) -> None:
    """Kill what is left in the node's cgroups (all started by the node) and remove them,
    deepest first."""
    deadline = time.monotonic() + 10
    while _kill_cgroup_processes(tops) and time.monotonic() < deadline:
        time.sleep(0.1)
    for top in tops:
        inner = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for folder in [*inner, top]:
            with contextlib.suppress(OSError):
                folder.rmdir()


def _kill_cgroup_processes(tops: list[Path]) -> int:
    """SIGKILL every process in these cgroups; returns how many there were."""
    count = 0
    for top in tops:
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    count += 1
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
    return count


@contextmanager
def real_node(
    plane: ControlPlane,
    workdir: Path,
    name: str = "kubatch-node-0",
    labels: dict[str, str] | None = None,
    subnet: int = 0,
    images: Sequence[Path] = (),
    bridge_name: str | None = None,
) -> Iterator[RealNode]:
    """Start a real node joined to `plane`; stop it and undo what it changed at the end.

    `images` are OCI archives to import besides busybox and the sandbox image."""
    problems = missing(plane.assets)
    if problems:
        raise NodeError("; ".join(problems))
    workdir.mkdir(parents=True, exist_ok=True)
    network = Network(bridge_name or f"kbt{subnet}", subnet)
    folder = workdir / "containerd"
    folder.mkdir(exist_ok=True)
    image_folder = workdir / "images"
    archives = [
        busybox_image(image_folder / "busybox.tar"),
        pause_image(image_folder / "pause.tar"),
        *images,
    ]
    from .images import PAUSE_IMAGE

    containerd_config(folder, network, PAUSE_IMAGE)
    kubelet_folder = workdir / "kubelet"
    certificate, key = client_pair(
        plane.certificates, kubelet_folder / "pki", f"system:node:{name}", "system:nodes"
    )
    kubeconfig(
        kubelet_folder / "kubeconfig",
        plane.server,
        plane.certificates.ca,
        certificate=certificate,
        key=key,
        user=f"system:node:{name}",
    )
    node = RealNode(
        name=name,
        workdir=workdir,
        plane=plane,
        network=network,
        labels=dict(labels or {}),
        kubelet_port=free_port(),
        health_port=free_port(),
    )
    saved = _read_kernel_settings()
    with ExitStack() as stack:
        stack.callback(_restore_kernel_settings, saved)
        stack.enter_context(_lock(f"node-{name}"))
        node.cgroup_root = stack.enter_context(_cgroup_root(f"kubatch-{name}"))
        kubelet_config(
            kubelet_folder / "config.yaml",
            node.socket,
            plane.certificates.ca,
            network,
            node.kubelet_port,
            node.health_port,
            node.cgroup_root,
        )
        stack.enter_context(bridge(network, plane.port))
        stack.enter_context(_cluster_dns(plane, network))
        node.enter = stack.enter_context(_mount_namespace(workdir))
        stack.callback(_sweep, node)
        node.start_containerd()
        stack.callback(node.stop_containerd)
        stack.callback(node.kill_tasks)
        for archive in archives:
            node.import_image(archive)
        node.start_kubelet()
        stack.callback(node.stop_kubelet)
        yield node


def _sweep(node: RealNode) -> None:
    """After the kubelet and containerd stopped: end our containerd's shims (their containers
    go with the node's cgroup)."""
    for pid in _shims_of(node.socket):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _shims_of(node.socket) and time.monotonic() < deadline:
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    from .controlplane import assets_from_environment, control_plane

    parser = argparse.ArgumentParser(
        prog="python -m kubatch.sim.node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="say what this machine lacks for a real node")
    commands.add_parser("install", help="install the Debian packages a real node needs")
    run_command = commands.add_parser("run", help="a control plane and a real node")
    run_command.add_argument("--assets", type=Path, default=None)
    run_command.add_argument("--workdir", type=Path, default=Path(".kubatch-node"))
    run_command.add_argument("--name", default="kubatch-node-0", help="the node's name")
    run_command.add_argument(
        "--image", type=Path, action="append", default=[], help="an OCI archive to import"
    )
    run_command.add_argument("--label", action="append", default=[], help="a node label, key=value")
    run_command.add_argument(
        "--subnet", type=int, default=0, help="its pods' subnet: 10.244.<subnet>.0/24"
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = missing(assets_from_environment())
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    if args.command == "install":
        try:
            print(" ".join(ensure_packages()) or "nothing to install")
        except NodeError as e:
            print(f"real node: {e}", file=sys.stderr)
            return 1
        return 0
    assets = args.assets or assets_from_environment()
    try:
        if assets is None:
            raise NodeError("set KUBEBUILDER_ASSETS or pass --assets")
        workdir = args.workdir.resolve()
        with (
            control_plane(assets, workdir / "control-plane") as plane,
            real_node(
                plane,
                workdir / "node",
                args.name,
                labels=dict(label.split("=", 1) for label in args.label),
                subnet=args.subnet,
                images=[image.resolve() for image in args.image],
            ) as node,
        ):
            print(f"export KUBECONFIG={plane.kubeconfig}  # node {node.name}", flush=True)
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    except (NodeError, ControlPlaneError) as e:
        print(f"real node: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
