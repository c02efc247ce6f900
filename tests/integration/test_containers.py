"""AWS Batch's semantics with containers that really run: every test runs on the emulator's
simulated node and on a real node (containerd, runc and the kubelet), the same test, and
asserts the same outcome on both."""

from __future__ import annotations

import pytest

from tests.support.containers import Program
from tests.support.system import Scenario

pytestmark = pytest.mark.node


def test_a_job_runs_its_command_and_succeeds(scenario: Scenario) -> None:
    queue = scenario.queue(environments=(scenario.node_environment(),))
    scenario.run("hello", queue, Program(prints="hello"))
    status = scenario.wait("hello", "SUCCEEDED", timeout=60)
    assert status["attempts"][0]["exitCode"] == 0
