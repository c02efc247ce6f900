"""Attempts as Pods: render the manifest of one attempt (observe.py reads back what a pod
reports).

Pods are plain dicts in the shape of the Kubernetes API (core/v1 Pod), so that core stays
free of the kubernetes client.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...api.common import API_VERSION
from ...api.jobdefinition import ContainerProperties
from ...api.resources import format_cpu, format_memory
from ...keys import (
    LABEL_ARRAY_INDEX,
    LABEL_ATTEMPT,
    LABEL_COMPUTE_ENVIRONMENT,
    LABEL_JOB_NAME,
    LABEL_JOB_UID,
    LABEL_MANAGED_BY,
    LABEL_NODE_INDEX,
    LABEL_QUEUE,
    MANAGED_BY,
    SIM_PREFIX,
    TAG_ANNOTATION_PREFIX,
)
from .attempts import (
    CONTAINER_NAME,
    main_node_address,
    node_hostname,
    service_name,
)
from .definitions import ResolvedJob
from .retry import STOP_GRACE_SECONDS

# Annotations of a BatchJob with this prefix are copied to its pods (the simulated kubelet
# reads its instructions there: duration, exit code, reason).
COPIED_ANNOTATION_PREFIX = SIM_PREFIX
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class Pool:
    """Where a compute environment's pods go: its nodes' labels and taints."""

    compute_environment: str
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True, kw_only=True)
class AttemptSpec:
    """Everything that names one attempt of one work item."""

    namespace: str
    job_name: str
    job_uid: str
    queue: str
    index: int | None
    size: int | None
    attempt: int
    pod_name: str
    num_nodes: int | None = None
    """A multi-node job's node count (`index` is then the node index)."""
    main_node: int = 0


def job_id(uid: str, index: int | None, node: bool = False) -> str:
    """AWS_BATCH_JOB_ID: the job's uid; an array child's is "<parent>:<index>", a node's
    "<parent>#<index>", as in AWS Batch."""
    return uid if index is None else f"{uid}{'#' if node else ':'}{index}"


def batch_environment(spec: AttemptSpec, pool: Pool) -> list[dict[str, str]]:
    """The variables AWS Batch sets in every container, so its scripts run unchanged."""
    nodes = spec.num_nodes is not None
    env = {
        "AWS_BATCH_JOB_ID": job_id(spec.job_uid, spec.index, nodes),
        "AWS_BATCH_JQ_NAME": spec.queue,
        "AWS_BATCH_CE_NAME": pool.compute_environment,
        "AWS_BATCH_JOB_ATTEMPT": str(spec.attempt),
    }
    if nodes and spec.index is not None:
        env["AWS_BATCH_JOB_NODE_INDEX"] = str(spec.index)
        env["AWS_BATCH_JOB_NUM_NODES"] = str(spec.num_nodes)
        env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] = str(spec.main_node)
        if spec.index != spec.main_node:
            env["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] = main_node_address(
                spec.namespace, spec.job_uid, spec.main_node
            )
    elif spec.index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(spec.index)
    if spec.size is not None:
        env["AWS_BATCH_JOB_ARRAY_SIZE"] = str(spec.size)
    return [{"name": k, "value": v} for k, v in env.items()]


def _resources(job: ResolvedJob) -> dict[str, dict[str, str]]:
    """CPU is requested (shares, as in AWS Batch); memory is requested and limited (a hard
    limit, as AWS's MEMORY); GPUs are limited, as Kubernetes requires."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if job.resources.millicpu:
        requests["cpu"] = format_cpu(job.resources.millicpu)
    if job.resources.memory:
        requests["memory"] = limits["memory"] = format_memory(job.resources.memory)
    if job.resources.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(job.resources.gpus)
    result = {"requests": requests}
    if limits:
        result["limits"] = limits
    return result


def _volumes(container: ContainerProperties) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = []
    for v in container.volumes:
        if v.host is not None:
            source: dict[str, Any] = {"hostPath": {"path": v.host.source_path}}
        elif v.persistent_volume_claim is not None:
            source = {"persistentVolumeClaim": v.persistent_volume_claim.wire()}
        elif v.secret is not None:
            source = {"secret": v.secret.wire()}
        elif v.config_map is not None:
            source = {"configMap": v.config_map.wire()}
        else:
            source = {"emptyDir": v.empty_dir.wire() if v.empty_dir else {}}
        volumes.append({"name": v.name, **source})
    return volumes


def _security_context(container: ContainerProperties) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if container.privileged:
        context["privileged"] = True
    else:
        context["allowPrivilegeEscalation"] = False
    if container.readonly_root_filesystem:
        context["readOnlyRootFilesystem"] = True
    if container.user is not None:
        uid, _, gid = container.user.partition(":")
        context["runAsUser"] = int(uid)
        if gid:
            context["runAsGroup"] = int(gid)
    return context


def merge_manifest(base: Any, override: Any) -> Any:
    """Deep merge for the pod template: objects merge key by key, lists of named objects
    (containers, volumes, env) merge by name, other values are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_manifest(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(override, list)
        and all(isinstance(x, dict) and "name" in x for x in [*base, *override])
    ):
        by_name = {x["name"]: x for x in base}
        for item in override:
            by_name[item["name"]] = (
                merge_manifest(by_name[item["name"]], item)
                if item["name"] in by_name
                else copy.deepcopy(item)
            )
        return list(by_name.values())
    return copy.deepcopy(override)


def owned_by(job_name: str, job_uid: str) -> dict[str, Any]:
    """The owner reference to a BatchJob: what it owns is deleted with it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchJob",
        "name": job_name,
        "uid": job_uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_service(namespace: str, job_name: str, job_uid: str) -> dict[str, Any]:
    """The headless Service of a multi-node job: it gives each node's pod the DNS name
    node-<index>.<service>.<namespace>.svc (the pods set hostname and subdomain), published
    before the pods are ready, so that the other nodes can reach the main node as soon as it
    has an address."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(job_uid),
            "namespace": namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_JOB_NAME: job_name,
                LABEL_JOB_UID: job_uid,
            },
            "ownerReferences": [owned_by(job_name, job_uid)],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {LABEL_JOB_UID: job_uid},
            "publishNotReadyAddresses": True,
        },
    }


def pod_labels(spec: AttemptSpec, pool: Pool) -> dict[str, str]:
    """The labels Kubatch tracks an attempt's pod by."""
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_JOB_NAME: spec.job_name,
        LABEL_JOB_UID: spec.job_uid,
        LABEL_QUEUE: spec.queue,
        LABEL_COMPUTE_ENVIRONMENT: pool.compute_environment,
        LABEL_ATTEMPT: str(spec.attempt),
    }
    if spec.index is not None:
        labels[LABEL_NODE_INDEX if spec.num_nodes is not None else LABEL_ARRAY_INDEX] = str(
            spec.index
        )
    return labels


def pod_annotations(job: ResolvedJob, job_annotations: Mapping[str, str] | None) -> dict[str, str]:
    """The job's annotations its pods carry (simulation instructions), and its tags when it
    propagates them."""
    annotations = {
        k: v for k, v in (job_annotations or {}).items() if k.startswith(COPIED_ANNOTATION_PREFIX)
    }
    if job.propagate_tags:
        annotations.update({f"{TAG_ANNOTATION_PREFIX}{k}": v for k, v in job.tags.items()})
    return annotations


def render_pod(
    spec: AttemptSpec,
    job: ResolvedJob,
    pool: Pool,
    job_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Pod that runs one attempt of one work item."""
    container = job.container
    labels = pod_labels(spec, pool)
    annotations = pod_annotations(job, job_annotations)
    env: list[dict[str, Any]] = [{"name": e.name, "value": e.value} for e in container.environment]
    for secret in container.secrets:
        name, _, key = secret.value_from.partition(":")
        env.append({"name": secret.name, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
    env += batch_environment(spec, pool)
    main: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": container.image,
        "env": env,
        "resources": _resources(job),
        "securityContext": _security_context(container),
    }
    if container.command is not None:
        # AWS Batch's command replaces the image's CMD and keeps its ENTRYPOINT: that is
        # Kubernetes' args.
        main["args"] = list(container.command)
    mounts = [
        {"name": m.source_volume, "mountPath": m.container_path, "readOnly": m.read_only}
        for m in container.mount_points
    ]
    volumes = _volumes(container)
    linux = container.linux_parameters
    if linux is not None and linux.shared_memory_size:
        volumes.append(
            {
                "name": "dshm",
                "emptyDir": {"medium": "Memory", "sizeLimit": f"{linux.shared_memory_size}Mi"},
            }
        )
        mounts.append({"name": "dshm", "mountPath": "/dev/shm", "readOnly": False})
    if mounts:
        main["volumeMounts"] = mounts
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
        "containers": [main],
        "enableServiceLinks": False,
    }
    if volumes:
        pod_spec["volumes"] = volumes
    if container.service_account_name:
        pod_spec["serviceAccountName"] = container.service_account_name
    if pool.node_selector:
        pod_spec["nodeSelector"] = dict(pool.node_selector)
    if pool.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in pool.tolerations]
    if linux is not None and linux.init_process_enabled:
        pod_spec["shareProcessNamespace"] = True
    if spec.num_nodes is not None and spec.index is not None:
        # node-<i>.<service>.<namespace>.svc: the job's headless Service names every node.
        pod_spec["hostname"] = node_hostname(spec.index)
        pod_spec["subdomain"] = service_name(spec.job_uid)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.pod_name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owned_by(spec.job_name, spec.job_uid)],
        },
        "spec": pod_spec,
    }
    template = job.pod_template
    if template is not None:
        if template.metadata is not None:
            pod["metadata"] = merge_manifest(pod["metadata"], template.metadata.wire())
        if template.spec:
            pod["spec"] = merge_manifest(pod["spec"], template.spec)
    # The labels Kubatch tracks its pods by are not the template's to change.
    pod["metadata"]["labels"].update(labels)
    return pod
