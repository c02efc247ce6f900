"""A start-up that fails ends the process (so that its Deployment starts a fresh one), rather
than leaving kopf to run start-up again into the ports the failed attempt already bound."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from kubatch.controller.operator import STARTUP_FAILED
from kubatch.sim.stack import free_port


def test_a_start_up_that_cannot_list_exits_to_be_started_again(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there: every list fails
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "KUBATCH_LEADER_ELECTION": "false",
        "KUBATCH_METRICS_PORT": str(free_port()),
        "KUBATCH_METRICS_ADDRESS": "127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "kubatch.controller"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == STARTUP_FAILED, done.stderr[-2000:]
    assert "start-up failed" in done.stderr + done.stdout
