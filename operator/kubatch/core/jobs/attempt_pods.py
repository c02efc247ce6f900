"""The pod of an attempt the scheduler placed: rendered from a container definition
(pods.py), or from an EKS-style definition's pod (its properties as given, here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...api.eks import EksContainer
from ...keys import ANNOTATION_DEFAULT_CONTAINER, LABEL_HOSTNAME, MAIN_NODE_GATE
from .attempts import CreatePod
from .definitions import ResolvedJob
from .pods import (
    AttemptSpec,
    Pool,
    batch_environment,
    owned_by,
    pod_annotations,
    pod_labels,
    render_pod,
)
from .record import JobRecord
from .retry import STOP_GRACE_SECONDS


def _eks_container(container: EksContainer, batch_env: list[dict[str, Any]]) -> dict[str, Any]:
    """An EKS-style container as given, with AWS Batch's variables."""
    found: dict[str, Any] = {"name": container.name, "image": container.image}
    if container.image_pull_policy is not None:
        found["imagePullPolicy"] = str(container.image_pull_policy)
    if container.command:
        found["command"] = list(container.command)
    if container.args:
        found["args"] = list(container.args)
    env = [{"name": e.name, "value": e.value or ""} for e in container.env]
    found["env"] = env + batch_env
    resources = container.resources
    pairs = (("limits", resources.limits), ("requests", resources.requests))
    asked = {k: v.amounts() for k, v in pairs if v.amounts()}
    if asked:
        found["resources"] = asked
    if container.volume_mounts:
        found["volumeMounts"] = [m.wire() for m in container.volume_mounts]
    if container.security_context is not None:
        found["securityContext"] = container.security_context.wire()
    return found


def render_eks_pod(
    spec: AttemptSpec,
    job: ResolvedJob,
    pool: Pool,
    job_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The pod of an EKS-style definition: its properties as given, with Kubatch's labels,
    AWS Batch's variables in every container, and its first container named the default
    (the essential one, whose end is the attempt's)."""
    pod = job.eks
    assert pod is not None
    labels = pod_labels(spec, pool)
    annotations = pod_annotations(job, job_annotations)
    batch_env = batch_environment(spec, pool)
    metadata = pod.metadata
    all_labels = {**(metadata.labels if metadata else {}), **labels}
    all_annotations = {
        **(metadata.annotations if metadata else {}),
        **annotations,
        ANNOTATION_DEFAULT_CONTAINER: str(pod.containers[0].name),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
        "containers": [_eks_container(c, batch_env) for c in pod.containers],
        "enableServiceLinks": False,
    }
    if pod.init_containers:
        pod_spec["initContainers"] = [_eks_container(c, batch_env) for c in pod.init_containers]
    if pod.volumes:
        pod_spec["volumes"] = [v.wire() for v in pod.volumes]
    if pod.service_account_name:
        pod_spec["serviceAccountName"] = pod.service_account_name
    if pod.host_network is not None:
        pod_spec["hostNetwork"] = pod.host_network
    if pod.dns_policy is not None:
        pod_spec["dnsPolicy"] = str(pod.dns_policy)
    if pod.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [s.wire() for s in pod.image_pull_secrets]
    if pod.share_process_namespace is not None:
        pod_spec["shareProcessNamespace"] = pod.share_process_namespace
    if pool.node_selector:
        pod_spec["nodeSelector"] = dict(pool.node_selector)
    if pool.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in pool.tolerations]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.pod_name,
            "namespace": spec.namespace,
            "labels": all_labels,
            "annotations": all_annotations,
            "ownerReferences": [owned_by(spec.job_name, spec.job_uid)],
        },
        "spec": pod_spec,
    }


def render_attempt(
    record: JobRecord,
    resolved: ResolvedJob,
    action: CreatePod,
    annotations: Mapping[str, str],
    pool: Pool | None,
    hostname: str | None,
) -> dict[str, Any]:
    """The pod of one attempt the scheduler placed, pinned to its node by the node's
    hostname label (which is not always its name on real clusters)."""
    spec = AttemptSpec(
        namespace=record.namespace,
        job_name=record.name,
        job_uid=record.uid,
        queue=record.spec.job_queue,
        index=action.index,
        size=record.size,
        attempt=action.attempt,
        pod_name=action.pod_name,
        num_nodes=len(record.children) if record.multinode else None,
        main_node=record.main_node,
    )
    node = resolved.for_node(action.index) if record.multinode else resolved
    render = render_eks_pod if node.eks is not None else render_pod
    body = render(spec, node, pool or Pool(action.compute_environment), annotations)
    if hostname:
        body["spec"].setdefault("nodeSelector", {})[LABEL_HOSTNAME] = hostname
    if record.multinode and action.index != record.main_node:
        # Placed with the others (its room held on its node) but scheduled only once the
        # main node runs, as AWS Batch starts a multi-node job's nodes.
        body["spec"]["schedulingGates"] = [{"name": MAIN_NODE_GATE}]
    return body
