"""The API server itself refuses every invalid manifest of the validation table, naming the
field the rule is about: the generated CRDs carry the rules, on both tiers. Each is sent as
a server-side dry run, so nothing is created."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.support.cluster import Cluster
from tests.support.system import NAMESPACED, PLURALS
from tests.unit.test_api_validation import CASES, Case, names_the_field

G, V = "kubatch.io", "v1alpha1"


def _create(kube: Cluster, namespace: str, manifest: dict[str, Any]) -> None:
    body = copy.deepcopy(manifest)
    kind = body["kind"]
    if kind in NAMESPACED:
        body["metadata"]["namespace"] = namespace
        kube.custom.create_namespaced_custom_object(
            G, V, namespace, PLURALS[kind], body, dry_run="All"
        )
    else:
        kube.custom.create_cluster_custom_object(G, V, PLURALS[kind], body, dry_run="All")


@pytest.mark.parametrize("c", [c for c in CASES if c.schema_enforced], ids=lambda c: c.rule)
def test_the_api_server_refuses_naming_the_field(kube: Cluster, namespace: str, c: Case) -> None:
    with pytest.raises(ApiException) as refused:
        _create(kube, namespace, c.manifest)
    assert refused.value.status == 422, refused.value.body
    causes = json.loads(refused.value.body).get("details", {}).get("causes", [])
    fields = [cause.get("field", "") for cause in causes]
    assert any(names_the_field(c.path, f) for f in fields), (c.path, causes)


def test_a_list_too_long_is_refused_in_one_short_line(kube: Cluster, namespace: str) -> None:
    """The refusal names the field and the limit; it does not echo the list."""
    from tests.support.manifests import job_definition

    manifest = job_definition("long", deregisteredRevisions=list(range(1, 10_002)))
    with pytest.raises(ApiException) as refused:
        _create(kube, namespace, manifest)
    body = json.loads(refused.value.body)
    assert (
        "spec.deregisteredRevisions: Too many: 10001: must have at most 10000 items"
        in (body["message"])
    )
    assert len(body["message"]) < 1000
