"""The operator rides out what a real control plane does to its clients: the API server
going away and coming back (every watch ends, writes fail meanwhile)."""

from __future__ import annotations

import pytest

from kubatch.api import KINDS
from tests.support.cluster import wait_for
from tests.support.system import Scenario


def test_jobs_go_on_across_an_api_server_restart(scenario: Scenario) -> None:
    plane = scenario.kube.plane
    if plane is None:
        pytest.skip("the emulator keeps its objects in memory: a restart would lose them")
    ce = scenario.environment(maxvCpus=8)
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    scenario.job("before", queue, sim={"duration": "4"})
    scenario.wait("before", "RUNNING", timeout=90)
    plane.restart_apiserver()
    scenario.job("after", queue, sim={"duration": "1"})
    for name in ("before", "after"):
        assert scenario.wait(name, "SUCCEEDED", "FAILED", timeout=120)["status"] == "SUCCEEDED"
    status = scenario.status("before")
    assert status["attemptCount"] == 1, "the attempt in flight was not lost nor repeated"


def test_every_kubatch_crd_is_established(scenario: Scenario) -> None:
    crds = [
        c
        for c in scenario.kube.crds.list_custom_resource_definition().items
        if c.spec.group == "kubatch.io"
    ]
    assert len(crds) == len(KINDS)
    for crd in crds:
        wait_for(
            lambda crd=crd: any(  # type: ignore[misc]
                c.type == "Established" and c.status == "True"
                for c in (
                    scenario.kube.crds.read_custom_resource_definition(
                        crd.metadata.name
                    ).status.conditions
                    or []
                )
            ),
            what=f"{crd.metadata.name} Established",
        )
