"""From kubectl apply to a finished job: the operator, the simulated cluster and the API
server as separate processes over HTTP."""

from __future__ import annotations

from tests.support.system import Scenario


def test_single_job_succeeds_and_sees_aws_batch_variables(scenario: Scenario) -> None:
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    scenario.job("hello", queue)
    status = scenario.wait("hello", "SUCCEEDED", timeout=60)
    assert status["attemptCount"] == 1
    (pod,) = scenario.pods("hello")
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    uid = scenario.get("hello")["metadata"]["uid"]
    assert env["AWS_BATCH_JOB_ID"] == uid
    assert env["AWS_BATCH_JQ_NAME"] == queue
    assert env["AWS_BATCH_CE_NAME"] == ce
    assert env["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert pod.spec.containers[0].args == ["echo", "hello"]
