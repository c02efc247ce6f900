"""Fair share across two shares on one environment, end to end."""

from __future__ import annotations

from typing import Any

from tests.support.cluster import wait_for
from tests.support.system import Scenario


def done(scenario: Scenario, name: str) -> int:
    summary = (scenario.status(name).get("arrayProperties") or {}).get("statusSummary") or {}
    return int(summary.get("SUCCEEDED", 0))


def test_two_shares_get_compute_by_their_weights(scenario: Scenario) -> None:
    policy = scenario.name("teams")
    scenario.apply(
        {
            "kind": "SchedulingPolicy",
            "metadata": {"name": policy},
            "spec": {
                "fairsharePolicy": {
                    "shareDistribution": [
                        {"shareIdentifier": "light", "weightFactor": 0.5},
                        {"shareIdentifier": "heavy", "weightFactor": 1.0},
                    ]
                }
            },
        }
    )
    scenario.created.append(("schedulingpolicies", policy))
    # 12 vCPUs, ready before the jobs: 12 one-vCPU slots, which the weights split 8:4.
    ce = scenario.environment(minvCpus=12, maxvCpus=12, spec={"state": "DISABLED"})
    queue = scenario.queue(environments=(ce,), schedulingPolicy=policy)
    scenario.definition()
    for share in ("light", "heavy"):
        scenario.job(
            share, queue, shareIdentifier=share, arrayProperties={"size": 40}, sim={"duration": "1"}
        )
        scenario.wait(share, "PENDING")
    scenario.kube.custom.patch_cluster_custom_object(
        "kubatch.io", "v1alpha1", "computeenvironments", ce, {"spec": {"state": "ENABLED"}}
    )

    def midway() -> tuple[int, int] | None:
        light, heavy = done(scenario, "light"), done(scenario, "heavy")
        return (light, heavy) if light + heavy >= 30 else None

    light, heavy = wait_for(midway, timeout=90, interval=0.1, what="30 children to finish")
    assert 1.5 <= light / max(heavy, 1) <= 3.0, f"light {light}, heavy {heavy}"
    status: dict[str, Any] = scenario.get_cluster("jobqueues", queue)["status"]
    shares = {s["shareIdentifier"]: s for s in status.get("shares", [])}
    assert set(shares) == {"light", "heavy"}
    assert shares["light"]["weightFactor"] == 0.5
    for share in ("light", "heavy"):
        scenario.wait(share, "SUCCEEDED", timeout=120)
