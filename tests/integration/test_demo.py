"""`make demo` (kubatch dev) runs every example to the end, non-interactively."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parents[2]


def dev(examples: Path, workdir: Path, *options: str) -> list[str]:
    """The command line of `kubatch dev` on a folder of manifests."""
    kubatch = shutil.which("kubatch", path=str(Path(sys.executable).parent))
    assert kubatch is not None
    return [kubatch, "dev", "--examples", str(examples), "--workdir", str(workdir), *options]


def test_demo_runs_every_example_to_its_expected_end(tmp_path: Path) -> None:
    done = subprocess.run(
        dev(ROOT / "examples", tmp_path, "--timeout", "180", "--duration", "0.2"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every job ended as expected" in done.stdout
    jobs = ("render-teapot", "render-frames", "prepare", "frames", "encode", "publish")
    for job in (*jobs, "train-model"):
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
    done = subprocess.run(
        dev(manifests, tmp_path / "work", "--timeout", "120"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "UNEXPECTED (wanted SUCCEEDED)" in done.stdout


def test_a_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    """What `timeout` and CI send: the API server, kubelet and operator go with it."""
    run = subprocess.Popen(
        dev(
            ROOT / "examples",
            tmp_path,
            "--keep",
            "--duration",
            "0.2",
            "--aws-api-port",
            "0",
            "--console-port",
            "0",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    printed = []
    for line in run.stdout:
        printed.append(line)
        if "keeps running" in line:
            break
    children = _children(run.pid)
    assert len(children) >= 5, "the API server, the kubelet, the operator, AWS API, console"
    _the_printed_aws_cli_example_works("".join(printed))
    _the_printed_console_url_works("".join(printed))
    run.terminate()
    assert run.wait(timeout=60) == 0, "with --keep, a stop request is the normal end"
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]
    (folder,) = tmp_path.iterdir()
    assert folder.name == f"run-{run.pid}", "each run has its own folder"
    assert (folder / "kubeconfig").exists()


def _the_printed_aws_cli_example_works(printed: str) -> None:
    """What `kubatch dev --aws-api-port` prints (and the README shows) works as printed."""
    exports = re.search(r"export (AWS_ACCESS_KEY_ID=\S+ AWS_SECRET_ACCESS_KEY=\S+ .*)", printed)
    command = re.search(r"  (aws batch describe-job-queues --endpoint-url \S+)", printed)
    assert exports, printed
    assert command, printed
    env = dict(pair.split("=", 1) for pair in exports[1].split())
    aws = Path(sys.executable).parent / "aws"
    done = subprocess.run(
        [str(aws), *command[1].split()[1:]],
        env={
            **os.environ,
            **env,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = {q["jobQueueName"] for q in json.loads(done.stdout)["jobQueues"]}
    assert "high-priority" in names, done.stdout


def _the_printed_console_url_works(printed: str) -> None:
    """`kubatch dev --keep` prints where its web console is; the dashboard is there."""
    url = re.search(r"web console at (http://127\.0\.0\.1:\d+/)", printed)
    assert url, printed
    with urllib.request.urlopen(url[1], timeout=30) as response:
        page = response.read().decode()
    assert 'data-queue="high-priority"' in page


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
