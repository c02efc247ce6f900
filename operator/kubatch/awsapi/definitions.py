"""The AWS Batch API's job definition operations, on JobDefinitions and their revisions."""

from __future__ import annotations

import asyncio
import time
import uuid

from ..api import (
    API_VERSION,
    JOBDEFINITIONS,
    JobDefinition,
    parse,
)
from ..api.common import Obj
from ..api.jobdefinition import JobDefinitionStatus
from ..core import revision_hash
from ..keys import ANNOTATION_AWS_NAME
from ..kube.errors import ApiError
from . import shapes
from .auth import Signed
from .base import REVISION_WAIT_SECONDS, Operations, page, refused
from .errors import ClientError, ServerError
from .names import check_name, object_name

STORE_ATTEMPTS = 5
"""How many times a registration re-reads its JobDefinition after a write conflict."""


class DefinitionOperations(Operations):
    """RegisterJobDefinition, DescribeJobDefinitions, DeregisterJobDefinition."""

    definition_locks: dict[tuple[str, str], asyncio.Lock]

    async def op_register_job_definition(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        name = check_name("jobDefinitionName", request.get("jobDefinitionName"))
        spec = shapes.definition_spec(request, uuid.uuid4().hex, self.arns)
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "JobDefinition",
            "metadata": {"name": object_name(name), "annotations": {ANNOTATION_AWS_NAME: name}},
            "spec": spec,
        }
        self._check(manifest)
        async with self._definition_lock(namespace, object_name(name)):
            written = await self._store_definition(manifest, namespace)
            number = await self._revision_of(written)
        return {
            "jobDefinitionName": name,
            "jobDefinitionArn": self.arns.arn("job-definition", f"{name}:{number}"),
            "revision": number,
        }

    def _definition_lock(self, namespace: str, name: str) -> asyncio.Lock:
        """One registration or deregistration of a name at a time: the operator numbers each
        spec it sees, so a spec replaced before it was numbered would be no revision at all."""
        return self.definition_locks.setdefault((namespace, name), asyncio.Lock())

    async def _store_definition(self, manifest: Obj, namespace: str) -> Obj:
        """Create the JobDefinition, or replace its spec with the new revision's (keeping the
        revisions deregistered so far). The operator writes the object's status meanwhile, so a
        replace that meets a newer version, or a create that meets another caller's, reads the
        object again and retries: every registration is a revision, as in AWS."""
        attempt = 1
        while True:
            try:
                return await self._put_definition(manifest, namespace)
            except ApiError as e:
                if not e.conflict or attempt == STORE_ATTEMPTS:
                    refused(e)  # in AWS's terms, sent once
            attempt += 1

    async def _put_definition(self, manifest: Obj, namespace: str) -> Obj:
        name = manifest["metadata"]["name"]
        try:
            current = await self.client.get(API_VERSION, JOBDEFINITIONS, name, namespace)
        except ApiError as e:
            if not e.not_found:
                raise
            written = await self.client.create(API_VERSION, JOBDEFINITIONS, manifest, namespace)
        else:
            spec = dict(manifest["spec"])
            spec["deregisteredRevisions"] = (current.get("spec") or {}).get(
                "deregisteredRevisions"
            ) or []
            current["spec"] = spec
            written = await self.client.request(
                "PUT",
                f"/apis/{API_VERSION}/namespaces/{namespace}/jobdefinitions/{name}",
                current,
                write=True,
            )
        self.caches.definitions.put(written)
        return written

    async def _revision_of(self, written: Obj) -> int:
        """The revision the operator records for the spec just written (it numbers them)."""
        model = parse(written)
        assert isinstance(model, JobDefinition)
        digest = revision_hash(model.spec)
        meta = written["metadata"]
        deadline = time.monotonic() + REVISION_WAIT_SECONDS
        while time.monotonic() < deadline:
            current = await self.client.get(
                API_VERSION, JOBDEFINITIONS, meta["name"], meta["namespace"]
            )
            status = JobDefinitionStatus.of(current)
            for revision in status.revisions:
                if revision.hash == digest:
                    self.caches.definitions.put(current)
                    return revision.revision
            if status.status == "INVALID" and (status.observed_generation or 0) >= (
                current["metadata"].get("generation") or 0
            ):
                raise ClientError(status.status_reason or "the job definition is invalid")
            await asyncio.sleep(0.1)
        raise ServerError(
            "the job definition was stored but the operator did not number its revision within "
            f"{REVISION_WAIT_SECONDS:.0f} s: is the Kubatch operator running?"
        )

    async def op_describe_job_definitions(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        wanted: dict[str, set[int] | None] | None = None
        if request.get("jobDefinitions"):
            if len(request["jobDefinitions"]) > 100:
                raise ClientError("jobDefinitions may hold at most 100 entries")
            wanted = {}
            for value in request["jobDefinitions"]:
                ref = self.arns.parse("job-definition", value, "jobDefinitions")
                name, _, number = ref.partition(":")
                key = object_name(check_name("jobDefinitions", name))
                if number:
                    numbers = wanted.get(key)
                    if key not in wanted or numbers is not None:
                        wanted[key] = (numbers or set()) | {int(number) if number.isdigit() else -1}
                else:
                    wanted[key] = None
        only_name = request.get("jobDefinitionName")
        consumables = self._consumable_names()
        status_wanted = request.get("status")
        found = []
        definitions = sorted(
            (
                d
                for d in self.caches.definitions.values()
                if d["metadata"]["namespace"] == namespace
            ),
            key=lambda d: shapes.aws_name(d),
        )
        for definition in definitions:
            key = definition["metadata"]["name"]
            aws = shapes.aws_name(definition)
            if wanted is not None and key not in wanted:
                continue
            if only_name and aws != only_name:
                continue
            inactive = set((definition.get("spec") or {}).get("deregisteredRevisions") or [])
            for revision_number, revision in sorted(self._revisions(namespace, key).items()):
                numbers = wanted.get(key) if wanted is not None else None
                if numbers is not None and revision_number not in numbers:
                    continue
                active = revision_number not in inactive
                if status_wanted and status_wanted != ("ACTIVE" if active else "INACTIVE"):
                    continue
                data = revision.get("data") or {}
                tags = shapes.tags_of({"metadata": definition["metadata"], "spec": data})
                found.append(
                    shapes.definition_detail(
                        aws, revision_number, data, active, tags, self.arns, consumables
                    )
                )
        shown, token = page(found, request)
        return shapes.drop_none({"jobDefinitions": shown, "nextToken": token})

    async def op_deregister_job_definition(self, request: Obj, caller: Signed) -> Obj:
        namespace = caller.key.namespace
        ref = self.arns.parse("job-definition", request["jobDefinition"], "jobDefinition")
        name, _, number = ref.partition(":")
        check_name("jobDefinition", name)
        if not number.isdigit():
            raise ClientError("jobDefinition must name a revision: name:revision or its ARN")
        key = object_name(name)
        if self.caches.definitions.get(namespace, key) is None or int(
            number
        ) not in self._revisions(namespace, key):
            raise ClientError(f"Job definition {name}:{number} not found")
        async with self._definition_lock(namespace, key):
            definition = await self.client.get(API_VERSION, JOBDEFINITIONS, key, namespace)
            held = list((definition.get("spec") or {}).get("deregisteredRevisions") or [])
            if int(number) in held:
                return {}
            await self._write(
                self.client.patch(
                    API_VERSION,
                    JOBDEFINITIONS,
                    key,
                    {"spec": {"deregisteredRevisions": [*held, int(number)]}},
                    namespace,
                ),
                self.caches.definitions,
            )
        return {}
