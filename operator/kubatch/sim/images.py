"""Container images built offline, for a real node with no registry in reach.

`busybox_image()` writes an OCI image archive (the layout `ctr images import` and `podman
load` read) whose one layer holds a static busybox and its applet links: the image the tests'
jobs run (`busybox:1.35`) and, with a command that waits for ever and exits on SIGTERM, the
pod sandbox ("pause") image. The archive is deterministic: the same busybox binary gives the
same digests, so a node that already holds the image imports nothing new.

`operator_image()` builds the project's Dockerfile with podman on a Debian base made here by
mmdebstrap (no registry is needed: the base is imported, the project and its dependencies are
installed from wheels built beforehand) and saves it as an OCI archive.

`python -m kubatch.sim.images operator [--output FILE]` builds it from this checkout (and
prints the archive's path): `python -m kubatch.sim.node run --image FILE` imports it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
BUSYBOX_IMAGE = "docker.io/library/busybox:1.35"
"""The image the tests' jobs name (`busybox:1.35`): a tag other than `latest`, so that the
kubelet's default pull policy is IfNotPresent and the imported image is used."""
PAUSE_IMAGE = "registry.k8s.io/pause:kubatch"
"""The pod sandbox image of a real node made here (containerd's `sandbox_image`)."""
PAUSE_COMMAND = ("sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 2147483647 & wait $!; done")
OPERATOR_IMAGE = "localhost/kubatch/operator:dev"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EPOCH = 0
"""Every file's modification time: archives built twice are byte for byte the same."""


class ImageError(RuntimeError):
    """An image could not be built; the message says which step and why."""


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, annotations: dict[str, str] | None = None) -> dict[str, object]:
        found: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if annotations:
            found["annotations"] = annotations
        return found


def _entry(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _busybox_layer(busybox: Path) -> bytes:
    """A tar of /bin/busybox, its applets (as `busybox --list-full` places them, linked to
    it), /etc/passwd and /etc/group with root and nobody, and /tmp."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    applets = sorted({path for path in listing if path and path != "bin/busybox"})
    folders = sorted({"bin", "etc", "tmp", *(str(Path(p).parent) for p in applets)})
    files = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnobody:x:65534:\n",
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in folders:
            tar.addfile(_entry(folder, tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755))
        binary = busybox.read_bytes()
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), io.BytesIO(binary))
        for applet in applets:
            target = "/bin/busybox"
            tar.addfile(_entry(applet, tarfile.SYMTYPE, 0o777, link=target))
        for name, data in sorted(files.items()):
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return out.getvalue()


def oci_archive(
    path: Path,
    layers: Sequence[bytes],
    names: Iterable[str],
    command: Sequence[str],
    entrypoint: Sequence[str] = (),
) -> Path:
    """Write an OCI image archive of uncompressed `layers` (tars), tagged with each of
    `names` (full references, e.g. docker.io/library/busybox:1.35)."""
    compressed = [
        Blob(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip.compress(layer, compresslevel=6, mtime=EPOCH),
        )
        for layer in layers
    ]
    config = Blob(
        "application/vnd.oci.image.config.v1+json",
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {
                    "Env": [f"PATH={PATH}"],
                    "Cmd": list(command),
                    **({"Entrypoint": list(entrypoint)} if entrypoint else {}),
                },
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers],
                },
            },
            sort_keys=True,
        ).encode(),
    )
    manifest = Blob(
        "application/vnd.oci.image.manifest.v1+json",
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config.descriptor(),
                "layers": [layer.descriptor() for layer in compressed],
            },
            sort_keys=True,
        ).encode(),
    )
    index = {
        "schemaVersion": 2,
        "manifests": [
            manifest.descriptor(
                {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                }
            )
            for name in names
        ],
    }
    files: dict[str, bytes] = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index, sort_keys=True).encode(),
    }
    for blob in (*compressed, config, manifest):
        files["blobs/sha256/" + blob.digest.removeprefix("sha256:")] = blob.data
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("blobs", "blobs/sha256"):
            tar.addfile(_entry(folder, tarfile.DIRTYPE, 0o755))
        for name, data in files.items():
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    partial.replace(path)
    return path


def busybox_image(path: Path, busybox: Path = BUSYBOX) -> Path:
    """The jobs' image (busybox:1.35, default command `sh`)."""
    if not busybox.is_file():
        raise ImageError(f"{busybox} not found (Debian's busybox-static package provides it)")
    return oci_archive(path, [_busybox_layer(busybox)], [BUSYBOX_IMAGE], ["sh"])


def pause_image(path: Path, busybox: Path = BUSYBOX) -> Path:
    """The pod sandbox image: busybox waiting for ever, ending at once on SIGTERM."""
    if not busybox.is_file():
        raise ImageError(f"{busybox} not found (Debian's busybox-static package provides it)")
    return oci_archive(path, [_busybox_layer(busybox)], [PAUSE_IMAGE], PAUSE_COMMAND)


# -- the operator image ----------------------------------------------------------------------


def _run(args: Sequence[str], what: str, log: Path, cwd: Path | None = None) -> None:
    _run_env(args, what, log, None, cwd)


def _run_env(
    args: Sequence[str],
    what: str,
    log: Path,
    env: dict[str, str] | None,
    cwd: Path | None = None,
) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run(list(args), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise ImageError(f"{what} failed ({done.returncode}); log {log}:\n" + "\n".join(tail))


BASE_IMAGE = "localhost/kubatch/debian-python:bookworm"
"""The operator image's base made offline: Debian bookworm with python3 and venv."""


def debian_python_base(workdir: Path, log: Path) -> str:
    """A Debian bookworm root with python3 and venv, made by mmdebstrap from Debian's
    packages and imported into podman as BASE_IMAGE (kept once made)."""
    if _podman_has(BASE_IMAGE):
        return BASE_IMAGE
    for tool in ("mmdebstrap", "podman"):
        if shutil.which(tool) is None:
            raise ImageError(f"{tool} not found (Debian package {tool})")
    rootfs = workdir / "debian-python.tar"
    _run(
        [
            "mmdebstrap",
            "--variant=apt",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
        ],
        "mmdebstrap (the Debian base)",
        log,
    )
    _run(
        ["podman", "import", "--change", 'CMD ["python3"]', str(rootfs), BASE_IMAGE],
        "podman import",
        log,
    )
    rootfs.unlink()
    return BASE_IMAGE


def _podman_has(image: str) -> bool:
    done = subprocess.run(
        ["podman", "image", "exists", image], capture_output=True, check=False, env=_podman_env()
    )
    return done.returncode == 0


def _podman_env() -> dict[str, str]:
    """podman with no default ulimits: it would raise RLIMIT_NOFILE past the hard limit of a
    root without CAP_SYS_RESOURCE, and runc refuses such a container."""
    conf = Path(tempfile.gettempdir()) / "kubatch-containers.conf"
    if not conf.exists():
        conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


PROJECT_FILES = ("pyproject.toml", "README.md", "Dockerfile", ".dockerignore")


def operator_image(project: Path, workdir: Path, log: Path, tag: str = OPERATOR_IMAGE) -> Path:
    """Build the project's Dockerfile with podman, offline: on the Debian base made here,
    with the project and its dependencies from wheels built beforehand (pip, from the
    package index, into the build context's wheels/); the image saved as an OCI archive
    (returned) for `ctr images import`."""
    if shutil.which("podman") is None:
        raise ImageError("podman not found (Debian package podman)")
    workdir.mkdir(parents=True, exist_ok=True)
    base = debian_python_base(workdir, log)
    context = workdir / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(project / name, context / name)
    shutil.copytree(
        project / "operator", context / "operator", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = workdir / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels)]
    _run([*pip, str(context)], "pip wheel (the project and its dependencies)", log)
    shutil.copytree(wheels, context / "wheels")
    env = _podman_env()
    _run_env(
        [
            "podman", "build", "--network", "none", "--tag", tag,
            "--build-arg", f"BASE={base}",
            "--build-arg", "PIP_OPTIONS=--no-index --find-links=/src/wheels",
            "--build-arg", "PACKAGE=kubatch",
            str(context),
        ],
        "podman build",
        log,
        env,
    )  # fmt: skip
    archive = workdir / "operator.tar"
    archive.unlink(missing_ok=True)
    _run_env(
        ["podman", "save", "--format", "oci-archive", "--output", str(archive), tag],
        "podman save",
        log,
        env,
    )
    return archive


def source_digest(project: Path) -> str:
    """A digest of what the operator image is built from (the package, its metadata, the
    Dockerfile): an image built from the same sources can be used again."""
    digest = hashlib.sha256()
    files = [project / name for name in PROJECT_FILES]
    files += sorted(
        p for p in (project / "operator").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_operator_image(project: Path, cache: Path, log: Path) -> Path:
    """operator_image(), kept in `cache` per source digest (one build per change)."""
    folder = cache / source_digest(project)
    archive = folder / "operator.tar"
    if archive.exists():
        return archive
    for old in cache.glob("*/operator.tar") if cache.exists() else ():
        shutil.rmtree(old.parent, ignore_errors=True)
    shutil.rmtree(folder / "build", ignore_errors=True)  # what a stopped build left
    built = operator_image(project, folder / "build", log)
    built.replace(archive)
    shutil.rmtree(folder / "build", ignore_errors=True)
    return archive


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kubatch.sim.images")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("operator", help="build the operator image (an OCI archive)")
    build.add_argument("--project", type=Path, default=Path("."))
    build.add_argument("--cache", type=Path, default=Path(".tools/images"))
    args = parser.parse_args(argv)
    try:
        log = args.cache / "build.log"
        print(cached_operator_image(args.project.resolve(), args.cache.resolve(), log))
    except ImageError as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
