"""Every label, annotation and taint key Kubatch reads or writes, in one place.

Pods, nodes, ControllerRevisions and BatchJobs carry these; the operator, the simulated
kubelet, the autoscaling providers and the CLI all read them from here.
"""

from __future__ import annotations

# -- on an attempt's pod ----------------------------------------------------------------------
LABEL_JOB_NAME = "kubatch.io/job-name"
LABEL_JOB_UID = "kubatch.io/job-uid"
LABEL_QUEUE = "kubatch.io/job-queue"
LABEL_ARRAY_INDEX = "kubatch.io/array-index"
LABEL_NODE_INDEX = "kubatch.io/node-index"
"""A multi-node job's node index, on its pods."""
LABEL_ATTEMPT = "kubatch.io/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubatch"
"""The value of LABEL_MANAGED_BY on everything Kubatch creates."""
TAG_ANNOTATION_PREFIX = "tags.kubatch.io/"
"""A job's tags, on its pods when propagateTags is set."""
ANNOTATION_DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
"""Kubernetes' own: which of a pod's containers `kubectl logs` reads. Kubatch sets it on the
pods of EKS-style definitions, whose first container is the essential one."""
LABEL_ORIGIN = "kubatch.io/origin-cluster"
"""On a pod in a worker cluster: the identity of the cluster whose operator made it (the UID
of its kube-system namespace). There is no owner to collect it with its job: that operator
deletes a pod of its own whose job no longer exists, and leaves other clusters' alone."""
MAIN_NODE_GATE = "kubatch.io/main-node"
"""The scheduling gate on a multi-node job's other nodes' pods until the main node runs."""

# -- on nodes (and pods, for their pool) -------------------------------------------------------
LABEL_COMPUTE_ENVIRONMENT = "kubatch.io/compute-environment"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_SIMULATED = "kubatch.io/simulated"
"""A fake node of the simulated provider, run by kubatch.sim.kubelet."""
KWOK_KEY = "kwok.x-k8s.io/node"
"""kwok's annotation and taint: kwok could run simulated nodes on a real cluster."""

# -- on the ConfigMaps that keep ended attempts' logs (core/outbox/logs.py) -------------------
LABEL_KEPT_LOG = "kubatch.io/log-of"
"""The pod whose log a ConfigMap keeps (the ConfigMap has its name, and its labels)."""
KEPT_LOG_DATA = "log.gz"
"""The kept log (binaryData): gzipped, with the runtime's timestamps."""
KEPT_LOG_CONTAINER = "container"
KEPT_LOG_ENDED = "ended"
"""How the attempt's container ended (its state.terminated, JSON), as its pod said."""
KEPT_LOG_NODE = "node"
"""The node the attempt ran on."""
KEPT_LOG_DROPPED = "dropped-bytes"
"""How many bytes before the kept log were left out (past the limit, only its tail is kept)."""

# -- on ControllerRevisions (job definition revisions) -----------------------------------------
LABEL_DEFINITION = "kubatch.io/job-definition"
ANNOTATION_REVISION_HASH = "kubatch.io/revision-hash"

# -- on JobQueues and ComputeEnvironments ----------------------------------------------------
FINALIZER = "kubatch.io/in-use"
"""Holds a deleted queue or environment until its work is done."""

# -- on every kind the AWS Batch API serves ---------------------------------------------------
ANNOTATION_AWS_NAME = "kubatch.io/aws-name"
"""The name a resource has in the AWS Batch API, when its object name differs."""
ANNOTATION_AWS_FIELDS = "kubatch.io/aws-fields"
"""What the AWS request gave that Kubatch keeps as given but has no field for (JSON), so that
Describe answers what was created (an environment's serviceRole, subnets, instanceRole...)."""
ANNOTATION_AWS_TAGS = "kubatch.io/aws-tags"
"""Tags set through TagResource/UntagResource (JSON): the resource's tags once present."""

# -- on BatchJobs ------------------------------------------------------------------------------
LABEL_SCHEDULED = "kubatch.io/scheduled-job"
"""The ScheduledJob that made this BatchJob."""
ANNOTATION_SCHEDULED_AT = "kubatch.io/scheduled-at"
ANNOTATION_EXPECTED_STATUS = "kubatch.io/expected-status"
"""For the examples: the status `kubatch dev` expects a job to end with."""

# -- simulation instructions (copied from a BatchJob to its pods) ------------------------------
SIM_PREFIX = "sim.kubatch.io/"
SIM_READY_DELAY = SIM_PREFIX + "ready-delay"
"""On a simulated node: seconds before the simulated kubelet makes it Ready."""

# -- worker clusters ----------------------------------------------------------------------------
CLUSTER_SEPARATOR = ":"
"""Inside the operator, a worker cluster's nodes and namespaces are named `<cluster>:<name>`
(neither a node name nor a namespace can hold a colon), so that one store holds every
cluster's objects; the operator's own cluster's keep their names. Statuses show an attempt's
node so: where it ran."""


def in_cluster(cluster: str, name: str) -> str:
    """`name` of cluster `cluster` as the operator names it ("" is its own cluster)."""
    return f"{cluster}{CLUSTER_SEPARATOR}{name}" if cluster else name


def split_cluster(name: str) -> tuple[str, str]:
    """(cluster, name in that cluster) of a node name, a namespace or a pod key."""
    cluster, separator, rest = name.partition(CLUSTER_SEPARATOR)
    return (cluster, rest) if separator and "/" not in cluster else ("", name)
