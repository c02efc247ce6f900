"""Discovery as clients read it before anything else: the API versions, groups and resource
lists (kubectl, the kubernetes client, kopf), the server's version, and the OpenAPI v3
documents kubectl asks for before it applies."""

from __future__ import annotations

from ..containers import Obj
from .errors import ApiError
from .resources import ResourceType
from .store import Store

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-kubatch-sim",
    "platform": "linux/amd64",
}
_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _operations(rtype: ResourceType) -> Obj:
    """OpenAPI v3 paths of a resource: kubectl looks for PATCH with fieldValidation there to
    know that the server validates fields itself."""
    gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    parameter = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}

    def operation(action: str) -> Obj:
        return {
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [parameter],
            "responses": {"200": {"description": "OK"}},
        }

    base = f"/api/{rtype.version}" if not rtype.group else f"/apis/{rtype.group}/{rtype.version}"
    scope = "/namespaces/{namespace}" if rtype.namespaced else ""
    return {
        f"{base}{scope}/{rtype.plural}": {"get": operation("list"), "post": operation("post")},
        f"{base}{scope}/{rtype.plural}/{{name}}": {
            "get": operation("get"),
            "put": operation("put"),
            "patch": operation("patch"),
            "delete": operation("delete"),
        },
    }


class Discovery:
    """The discovery documents of what `store` serves now."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _resources(self, group: str, version: str) -> list[Obj]:
        found = []
        for rtype in self.store.types.values():
            if (rtype.group, rtype.version) != (group, version):
                continue
            entry: Obj = {
                "name": rtype.plural,
                "singularName": rtype.singular,
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(_ALL_VERBS),
            }
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            found.append(entry)
            for sub in sorted(rtype.subresources):
                verbs = (
                    ["create"]
                    if sub == "binding"
                    else ["get"]
                    if sub == "log"
                    else ["get", "patch", "update"]
                )
                found.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": verbs,
                    }
                )
        return found

    def _groups(self) -> list[Obj]:
        versions: dict[str, list[str]] = {}
        for rtype in self.store.types.values():
            if rtype.group and rtype.version not in versions.setdefault(rtype.group, []):
                versions[rtype.group].append(rtype.version)
        return [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]},
            }
            for group, vs in sorted(versions.items())
        ]

    def document(self, parts: list[str]) -> Obj | None:
        """The document at `parts` of the path, None when the path is not discovery's."""
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            }
        if parts == ["api", "v1"]:
            return {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": self._resources("", "v1"),
            }
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": self._groups()}
        if len(parts) == 2 and parts[0] == "apis":
            for group in self._groups():
                if group["name"] == parts[1]:
                    return {"kind": "APIGroup", "apiVersion": "v1", **group}
            raise ApiError(404, "NotFound", f"group {parts[1]} not found")
        if len(parts) == 3 and parts[0] == "apis":
            resources = self._resources(parts[1], parts[2])
            if not resources:
                raise ApiError(404, "NotFound", f"{parts[1]}/{parts[2]} not found")
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{parts[1]}/{parts[2]}",
                "resources": resources,
            }
        if parts == ["version"]:
            return VERSION_INFO
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        return None

    def _openapi(self, rest: list[str]) -> Obj:
        """OpenAPI v3 documents, as kubectl reads them (it refuses to apply without)."""
        versions = sorted({(t.group, t.version) for t in self.store.types.values()})
        if not rest:
            paths = {}
            for group, version in versions:
                key = f"api/{version}" if not group else f"apis/{group}/{version}"
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={self.store.rv}"}
            return {"paths": paths}
        group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2])
        schemas: Obj = {}
        operations: Obj = {}
        for rtype in self.store.types.values():
            if (rtype.group, rtype.version) != (group, version):
                continue
            operations.update(_operations(rtype))
            schema = (
                dict(rtype.schema)
                if rtype.schema
                else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            schema["x-kubernetes-group-version-kind"] = [
                {"group": group, "version": version, "kind": rtype.kind}
            ]
            prefix = f"{group}.{version}" if group else f"io.k8s.api.core.{version}"
            schemas[f"{prefix}.{rtype.kind}"] = schema
        if not schemas:
            raise ApiError(404, "NotFound", "no such group version")
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": operations,
            "components": {"schemas": schemas},
        }

    # -- requests ------------------------------------------------------------------------
