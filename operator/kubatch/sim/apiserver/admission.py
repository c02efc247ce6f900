"""What a real API server does to an object on its way in, beside storing it: validation
against a CRD's schema, the defaults and rules of the built-in kinds' strategies (a pod's QoS
class and which of its fields an update may change, a Secret's stringData), and the
ServiceAccount admission of pods."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from ..containers import Obj
from . import schema as crd_schema
from .errors import ApiError
from .resources import ResourceType, now_text


def content(obj: Obj) -> Obj:
    """What counts for metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _validated(
    rtype: ResourceType, obj: Obj, schema: Obj, value: Obj, strict: bool, old: Obj | None = None
) -> Obj:
    """`value` as stored under `schema`; 422 Invalid naming every broken rule otherwise."""
    admitted, errors = crd_schema.admit(schema, value, strict, old)
    if errors:
        name = obj.get("metadata", {}).get("name", "")
        message = f'{rtype.kind}.{rtype.group} "{name}" is invalid: ' + "; ".join(errors)
        raise ApiError(422, "Invalid", message, errors)
    return admitted


MUTABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def qos_class(spec: Obj) -> str:
    """Guaranteed (every container limits CPU and memory, requests equal to limits),
    Burstable (some request or limit), or BestEffort."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    guaranteed, some = True, False
    for container in containers:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        for kind in ("cpu", "memory"):
            some = some or kind in requests or kind in limits
            if kind not in limits or str(requests.get(kind)) != str(limits[kind]):
                guaranteed = False
    if guaranteed and containers:
        return "Guaranteed"
    return "Burstable" if some else "BestEffort"


def _invalid_pod(old: Obj, field: str, detail: str) -> ApiError:
    name = old["metadata"]["name"]
    return ApiError(422, "Invalid", f'Pod "{name}" is invalid: {field}: {detail}', [field])


def pod_update(old: Obj, new: Obj) -> None:
    """What a pod's update may change, as a real API server checks it: its scheduling gates
    can be removed, never added; activeDeadlineSeconds can be set or lowered, never raised or
    unset; images can change, tolerations be added; nothing else of its spec."""
    before_spec, after_spec = old.get("spec") or {}, new.get("spec") or {}
    before = {g.get("name") for g in before_spec.get("schedulingGates") or []}
    after = after_spec.get("schedulingGates") or []
    for i, gate in enumerate(after):
        if gate.get("name") not in before:
            rule = f"only deletion is allowed, but found new scheduling gate '{gate.get('name')}'"
            raise _invalid_pod(old, f"spec.schedulingGates[{i}].name", f"Forbidden: {rule}")
    was, deadline = (
        before_spec.get("activeDeadlineSeconds"),
        after_spec.get("activeDeadlineSeconds"),
    )
    field = "spec.activeDeadlineSeconds"
    if deadline is None and was is not None:
        rule = 'Invalid value: "null": must not update from a positive integer to nil value'
        raise _invalid_pod(old, field, rule)
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        rule = f"Invalid value: {deadline}: must be between 1 and 2147483647, inclusive"
        raise _invalid_pod(old, field, rule)
    if deadline is not None and was is not None and deadline > was:
        raise _invalid_pod(
            old, field, f"Invalid value: {deadline}: must be less than or equal to previous value"
        )
    if _immutable_part(before_spec) != _immutable_part(after_spec):
        rule = f"Forbidden: pod updates may not change fields other than {MUTABLE_POD_FIELDS}"
        raise _invalid_pod(old, "spec", rule)


def _immutable_part(spec: Obj) -> Obj:
    """A pod's spec without what an update may change (images, the deadline, tolerations,
    scheduling gates; nodeName is the binding's)."""
    kept = {
        k: v
        for k, v in spec.items()
        if k not in ("activeDeadlineSeconds", "tolerations", "schedulingGates", "nodeName")
    }
    for key in ("containers", "initContainers"):
        if key in kept:
            kept[key] = [{k: v for k, v in c.items() if k != "image"} for c in kept[key] or []]
    return kept


def secret_string_data(secret: Obj) -> None:
    """As a real API server stores a Secret: stringData is write-only, merged into data
    (base64) over any equal key, and the type defaults to Opaque."""
    strings = secret.pop("stringData", None) or {}
    if strings:
        data = secret.setdefault("data", {})
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    secret.setdefault("type", "Opaque")


def admit(rtype: ResourceType, obj: Obj, strict: bool, old: Obj | None = None) -> Obj:
    """`obj` as the API server admits it: a CRD whose schema it supports; a pod whose
    containers' resources are valid; a custom resource as its schema admits it."""
    if rtype.kind == "CustomResourceDefinition":
        _check_crd(obj)
    elif rtype.kind == "Pod" and old is None:
        _check_pod_resources(obj)
    return _admit(rtype, obj, strict, old)


STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _check_pod_resources(pod: Obj) -> None:
    """A container's limits and requests as a real API server checks them: standard or
    fully qualified names, quantities, requests no more than limits."""
    problems = []
    spec = pod.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(kind) or []):
            where = f"spec.{kind}[{i}].resources"
            resources = container.get("resources") or {}
            for part in ("limits", "requests"):
                for name, value in (resources.get(part) or {}).items():
                    if (
                        name not in STANDARD_RESOURCES
                        and "/" not in name
                        and not name.startswith("hugepages-")
                    ):
                        problems.append(
                            f'{where}.{part}[{name}]: Invalid value: "{name}": must be a standard '
                            "resource type or fully qualified"
                        )
                    elif not isinstance(value, int | float) and not QUANTITY.match(str(value)):
                        problems.append(
                            f'{where}.{part}[{name}]: Invalid value: "{value}": must be a quantity'
                        )
            limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
            for name in ("cpu", "memory"):
                if name in limits and name in requests:
                    limit, request = _amount(limits[name]), _amount(requests[name])
                    if limit is not None and request is not None and request > limit:
                        problems.append(
                            f'{where}.requests: Invalid value: "{requests[name]}": must be less '
                            f"than or equal to {name} limit of {limits[name]}"
                        )
    if problems:
        name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
        raise ApiError(
            422, "Invalid", f'Pod "{name}" is invalid: [{", ".join(problems)}]', problems
        )


def _amount(value: object) -> float | None:
    """A quantity's amount, enough to compare two of the same resource."""
    text = str(value)
    found = QUANTITY.match(text)
    if found is None:
        return None
    unit = found.group(2) or ""
    number = float(text[: len(text) - len(unit)])
    scale = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    return number * scale.get(unit, binary.get(unit, 1))


def _check_crd(crd: Obj) -> None:
    """Refuse, as an API server does, a CRD whose schema uses what CRDs do not support."""
    problems = []
    for version in (crd.get("spec") or {}).get("versions") or []:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        problems += crd_schema.refused_keywords(schema)
    if problems:
        name = (crd.get("metadata") or {}).get("name", "")
        message = (
            f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: '
            f"[{', '.join(problems)}]"
        )
        raise ApiError(422, "Invalid", message, problems)


def _admit(rtype: ResourceType, obj: Obj, strict: bool, old: Obj | None = None) -> Obj:
    """`obj` as a custom resource's schema admits it (pruned, defaulted), or 422."""
    if rtype.schema is None:
        return obj
    if old is not None and content(old) == content(obj):
        # Ratcheting, as API servers do: what did not change is not validated again.
        return _admit_status(rtype, obj, strict)
    return _validated(rtype, obj, rtype.schema, obj, strict, old)


def _admit_status(rtype: ResourceType, obj: Obj, strict: bool) -> Obj:
    assert rtype.schema is not None
    status_schema = rtype.schema.get("properties", {}).get("status")
    if status_schema is None or "status" not in obj:
        return obj
    wrapper = {"type": "object", "properties": {"status": status_schema}}
    admitted = _validated(rtype, obj, wrapper, {"status": obj["status"]}, strict)
    return {**obj, "status": admitted["status"]}


def service_account(pod: Obj, exists: Callable[[str, str], bool]) -> None:
    """The ServiceAccount admission plugin: a pod runs as an account that exists (the
    namespace's `default` unless it names one), and says so in its spec."""
    spec = pod.setdefault("spec", {})
    meta = pod["metadata"]
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    namespace = meta["namespace"]
    if not exists(namespace, account):
        raise ApiError(
            403,
            "Forbidden",
            f'pods "{meta.get("name") or meta.get("generateName", "")}" is forbidden: error '
            f"looking up service account {namespace}/{account}: "
            f'serviceaccount "{account}" not found',
        )
    spec["serviceAccountName"] = spec["serviceAccount"] = account


def defaults(rtype: ResourceType, obj: Obj) -> None:
    """What the built-in kinds' strategies fill in on create."""
    if rtype.kind == "Secret":
        secret_string_data(obj)
    elif rtype.kind == "Pod":
        # As a real API server's pod strategy: Pending, with the pod's QoS class.
        obj.setdefault("status", {"phase": "Pending", "qosClass": qos_class(obj["spec"])})
        obj["spec"].setdefault("terminationGracePeriodSeconds", 30)
        if obj["spec"].get("schedulingGates"):
            # What a real API server's pod strategy does: a gated pod says why it waits.
            obj["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates",
                    "lastTransitionTime": now_text(),
                }
            ]
    elif rtype.kind == "Namespace":
        # The NamespaceDefaultLabelName admission of a real API server.
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("status", {"phase": "Active"})
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
