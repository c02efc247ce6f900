"""The kinds of resource the server serves: the built-in ones and what a CRD adds, with the
time format the API writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..containers import Obj


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(kw_only=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: Obj | None = None
    columns: tuple[Obj, ...] = ()
    scale: Obj | None = None
    """The CRD's scale subresource: specReplicasPath, statusReplicasPath, labelSelectorPath."""
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )  # fmt: skip

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()


def builtin_types() -> list[ResourceType]:
    def t(
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool,
        *subs: str,
        short: tuple[str, ...] = (),
    ) -> ResourceType:
        return ResourceType(
            group=group,
            version=version,
            plural=plural,
            kind=kind,
            namespaced=namespaced,
            subresources=frozenset(subs),
            short_names=short,
        )

    return [
        t("", "v1", "namespaces", "Namespace", False, "status", "finalize", short=("ns",)),
        t("", "v1", "pods", "Pod", True, "status", "binding", "log", short=("po",)),
        t("", "v1", "nodes", "Node", False, "status", short=("no",)),
        t("", "v1", "events", "Event", True, short=("ev",)),
        t("", "v1", "configmaps", "ConfigMap", True, short=("cm",)),
        t("", "v1", "secrets", "Secret", True),
        t("", "v1", "serviceaccounts", "ServiceAccount", True, short=("sa",)),
        t("", "v1", "services", "Service", True, "status", short=("svc",)),
        t("apps", "v1", "controllerrevisions", "ControllerRevision", True),
        t("coordination.k8s.io", "v1", "leases", "Lease", True),
        t("events.k8s.io", "v1", "events", "Event", True, short=("ev",)),
        t(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            "status",
            short=("crd", "crds"),
        ),
    ]


def from_crd(crd: Obj) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version."""
    spec = crd["spec"]
    names = spec["names"]
    return [
        ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            subresources=frozenset(version.get("subresources") or {}),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            columns=tuple(version.get("additionalPrinterColumns") or ()),
            scale=(version.get("subresources") or {}).get("scale"),
        )
        for version in spec["versions"]
        if version.get("served", True)
    ]


def established(crd: Obj) -> Obj:
    """The status a real API server gives a CRD whose names it accepted."""
    spec = crd["spec"]
    return {
        "acceptedNames": spec["names"],
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
        "conditions": [
            {
                "type": t,
                "status": "True",
                "reason": r,
                "message": m,
                "lastTransitionTime": now_text(),
            }
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ],
    }


def served_by(crd: Obj) -> list[tuple[str, str, str]]:
    """The keys of the resource types a CRD served (to forget them once it is deleted)."""
    spec = crd["spec"]
    return [(spec["group"], v["name"], spec["names"]["plural"]) for v in spec["versions"]]
