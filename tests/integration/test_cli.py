"""The kubatch CLI against the test cluster: submit -> describe -> logs -> cancel, the
listings, and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from kubatch.cli.main import cli
from tests.support.system import Scenario


def run(scenario: Scenario, *args: str) -> Result:
    base = ["--kubeconfig", str(scenario.kube.kubeconfig), "-n", scenario.namespace]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def setup(scenario: Scenario) -> tuple[str, str]:
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    return ce, queue


def test_submit_describe_logs_and_cancel(scenario: Scenario) -> None:
    ce, queue = setup(scenario)
    submitted = run(
        scenario,
        "submit",
        "hello",
        "--queue",
        queue,
        "--definition",
        "def",
        "--parameter",
        "msg=from the cli",
        "--wait",
    )
    assert submitted.exit_code == 0, submitted.output
    assert f"submitted BatchJob {scenario.namespace}/hello" in submitted.output

    described = run(scenario, "describe", "hello")
    assert described.exit_code == 0, described.output
    assert "Status:        SUCCEEDED" in described.output
    assert f"Environment:   {ce}" in described.output
    assert "hello-" in described.output  # the attempt's pod

    logs = run(scenario, "logs", "hello")
    assert logs.exit_code == 0, logs.output
    assert "$ echo from the cli" in logs.output
    assert "AWS_BATCH_JQ_NAME=" + queue in logs.output

    blocked = run(
        scenario, "submit", "blocked", "-q", queue, "-d", "def", "--depends-on", "not-there"
    )
    assert blocked.exit_code == 0, blocked.output
    scenario.wait("blocked", "PENDING")
    cancelled = run(scenario, "cancel", "blocked", "--reason", "no longer needed")
    assert cancelled.exit_code == 0, cancelled.output
    assert scenario.wait("blocked", "FAILED")["statusReason"] == "no longer needed"
    described = run(scenario, "describe", "blocked")
    assert "not-there  does not exist yet" in described.output


def test_listings_as_tables_json_and_yaml(scenario: Scenario) -> None:
    ce, queue = setup(scenario)
    assert run(scenario, "submit", "ok", "-q", queue, "-d", "def", "--wait").exit_code == 0
    failing = run(
        scenario,
        "submit",
        "bad",
        "-q",
        queue,
        "-d",
        "def",
        "-a",
        "sim.kubatch.io/exit-code=3",
        "--wait",
    )
    assert failing.exit_code == 1
    assert "bad FAILED" in failing.output
    table = run(scenario, "list")
    assert "ok" in table.output
    assert "SUCCEEDED" in table.output
    only_failed = json.loads(run(scenario, "-o", "json", "list", "--status", "FAILED").output)
    assert only_failed["kind"] == "List"
    assert [j["metadata"]["name"] for j in only_failed["items"]] == ["bad"]
    after = json.loads(run(scenario, "list", "--status", "FAILED", "-o", "json").output)
    assert after == only_failed, "-o works after the subcommand too"
    assert "name: ok" in run(scenario, "-o", "yaml", "list", "--queue", queue).output
    queues = run(scenario, "queues")
    assert queue in queues.output
    assert "SUCCEEDED" in queues.output
    environments = run(scenario, "environments")
    assert ce in environments.output
    assert "VALID" in environments.output


def test_array_jobs_from_the_cli(scenario: Scenario) -> None:
    _, queue = setup(scenario)
    done = run(
        scenario,
        "submit",
        "many",
        "-q",
        queue,
        "-d",
        "def",
        "--array-size",
        "3",
        "--vcpus",
        "500m",
        "--follow",
    )
    assert done.exit_code == 0, done.output
    assert "SUCCEEDED" in done.output
    assert run(scenario, "logs", "many").exit_code == 2, "an array needs --index"
    child = run(scenario, "logs", "many", "--index", "2")
    assert "AWS_BATCH_JOB_ARRAY_INDEX=2" in child.output


def test_errors_say_what_is_wrong(scenario: Scenario, tmp_path: Path) -> None:
    _, queue = setup(scenario)
    unknown = run(scenario, "describe", "nope")
    assert unknown.exit_code == 1
    assert f"BatchJob nope in namespace {scenario.namespace} not found" in unknown.output
    invalid = run(scenario, "submit", "x", "-q", queue, "-d", "def", "--attempts", "11")
    assert invalid.exit_code == 2
    assert "spec.retryStrategy.attempts" in invalid.output
    malformed = run(scenario, "submit", "x", "-q", queue, "-d", "def", "--parameter", "novalue")
    assert malformed.exit_code == 2
    assert "is not KEY=VALUE" in malformed.output
    missing = CliRunner().invoke(cli, ["--kubeconfig", str(tmp_path / "none"), "list"])
    assert missing.exit_code == 1
    assert "no cluster configured" in missing.output
    dead = tmp_path / "dead"
    dead.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    unreachable = CliRunner().invoke(cli, ["--kubeconfig", str(dead), "list"])
    assert unreachable.exit_code == 1
    assert "cannot reach the cluster" in unreachable.output


def test_submit_takes_every_aws_option_and_says_how_it_ended(scenario: Scenario) -> None:
    _, queue = setup(scenario)
    done = run(
        scenario,
        "submit",
        "tagged",
        "-q",
        queue,
        "-d",
        "def",
        "--tag",
        "team=render",
        "--timeout",
        "120",
        "--scheduling-priority",
        "7",
        "--wait",
    )
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == "tagged SUCCEEDED after 1 attempt(s)"
    spec = scenario.get("tagged")["spec"]
    assert spec["tags"] == {"team": "render"}
    assert spec["timeout"] == {"attemptDurationSeconds": 120}
    assert spec["schedulingPriorityOverride"] == 7


def test_submit_warns_when_its_queue_or_definition_does_not_exist_yet(
    scenario: Scenario,
) -> None:
    done = run(scenario, "submit", "early", "-q", "later-q", "-d", "later-def")
    assert done.exit_code == 0, done.output
    assert "warning: JobQueue later-q does not exist yet: the job waits until it does" in (
        done.output
    )
    assert (
        f"warning: JobDefinition {scenario.namespace}/later-def does not exist yet: "
        "the job waits until it does" in done.output
    )
    waited = run(
        scenario,
        "submit",
        "stuck",
        "-q",
        "later-q",
        "-d",
        "later-def",
        "--wait",
        "--wait-timeout",
        "2",
    )
    assert waited.exit_code == 1
    assert waited.output.splitlines()[-1].startswith("Error: stuck is still ")
    assert waited.output.splitlines()[-1].endswith(" after 2s")


def test_logs_say_which_children_and_attempts_exist(scenario: Scenario) -> None:
    _, queue = setup(scenario)
    assert (
        run(
            scenario, "submit", "arr", "-q", queue, "-d", "def", "--array-size", "3", "--wait"
        ).exit_code
        == 0
    )
    assert run(scenario, "submit", "one", "-q", queue, "-d", "def", "--wait").exit_code == 0
    cases = [
        (("arr",), "Error: arr is an array job: say which child with --index (0-2)"),
        (("arr", "--index", "7"), "Error: arr has no child 7: its children are 0-2"),
        (("one", "--index", "1"), "Error: one is not an array job: it has no --index"),
        (("one", "--attempt", "3"), "Error: one has no attempt 3 (attempts so far in the job: 1)"),
    ]
    for args, says in cases:
        result = run(scenario, "logs", *args)
        assert result.exit_code != 0
        assert result.output.strip().splitlines()[-1] == says, result.output
