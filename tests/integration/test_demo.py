"""`make demo` (kubatch dev) runs every example to the end, non-interactively."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_demo_runs_every_example_to_its_expected_end(tmp_path: Path) -> None:
    kubatch = shutil.which("kubatch", path=str(Path(sys.executable).parent))
    assert kubatch is not None
    done = subprocess.run(
        [
            kubatch,
            "dev",
            "--examples",
            str(ROOT / "examples"),
            "--workdir",
            str(tmp_path),
            "--timeout",
            "180",
            "--duration",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every job ended as expected" in done.stdout
    for job in ("render-teapot", "render-frames", "prepare", "frames", "encode", "publish"):
        assert f"{job}" in done.stdout


def test_demo_fails_when_a_job_does_not_end_as_expected(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name in ("00-compute-environment.yaml", "01-job-queues.yaml", "02-job-definition.yaml"):
        shutil.copy(ROOT / "examples" / name, manifests / name)
    (manifests / "10-job.yaml").write_text(
        "apiVersion: kubatch.io/v1alpha1\nkind: BatchJob\nmetadata:\n  name: fails\n"
        "  annotations:\n    sim.kubatch.io/exit-code: '3'\n"
        "spec:\n  jobQueue: high-priority\n  jobDefinition: render\n"
    )
    kubatch = shutil.which("kubatch", path=str(Path(sys.executable).parent))
    assert kubatch is not None
    done = subprocess.run(
        [
            kubatch,
            "dev",
            "--examples",
            str(manifests),
            "--workdir",
            str(tmp_path / "work"),
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "UNEXPECTED (wanted SUCCEEDED)" in done.stdout
