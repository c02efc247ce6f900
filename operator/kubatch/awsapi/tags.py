"""The AWS Batch API's tag operations: a resource's tags in an annotation of its object."""

from __future__ import annotations

import json

from ..api import (
    API_VERSION,
    BATCHJOBS,
    JOBDEFINITIONS,
)
from ..api.common import Obj
from ..keys import ANNOTATION_AWS_TAGS
from . import shapes
from .auth import Signed
from .base import CLUSTER, Operations
from .errors import AccessDenied, ClientError
from .names import check_name, object_name


class TagOperations(Operations):
    """TagResource, UntagResource, ListTagsForResource."""

    def _tagged(self, arn: str, caller: Signed, writing: bool) -> tuple[str, Obj, str]:
        """(plural, object, namespace) of a resourceArn."""
        kind, name = self.arns.resource(arn)
        if kind == "job":
            obj, index = self._job(name, caller, "resourceArn")
            if index is not None:
                raise ClientError("tags belong to the array job, not to one child")
            return BATCHJOBS, obj, caller.key.namespace
        if kind == "job-definition":
            base = name.partition(":")[0]
            found = self.caches.definitions.get(
                caller.key.namespace, object_name(check_name("resourceArn", base))
            )
            if found is None:
                raise ClientError(f"Job definition {name} not found")
            return JOBDEFINITIONS, found, caller.key.namespace
        if writing and kind in CLUSTER and not caller.key.admin:
            raise AccessDenied(
                f"User: {caller.key.access_key_id} is not authorized to perform: batch:TagResource "
                f"on {arn} (the access key is not an admin key)"
            )
        return CLUSTER[kind].plural, self._cluster(kind, arn, "resourceArn")[1], ""

    async def _set_tags(self, plural: str, obj: Obj, namespace: str, tags: dict[str, str]) -> None:
        if len(tags) > 50:
            raise ClientError("a resource may have at most 50 tags")
        patch = {
            "metadata": {"annotations": {ANNOTATION_AWS_TAGS: json.dumps(tags, sort_keys=True)}}
        }
        await self._write(
            self.client.patch(
                API_VERSION, plural, obj["metadata"]["name"], patch, namespace or None
            ),
            self.caches.of(plural),
        )

    async def op_tag_resource(self, request: Obj, caller: Signed) -> Obj:
        plural, obj, namespace = self._tagged(request["resourceArn"], caller, writing=True)
        tags = {**shapes.tags_of(obj), **shapes.string_map(request["tags"], "tags")}
        await self._set_tags(plural, obj, namespace, tags)
        return {}

    async def op_untag_resource(self, request: Obj, caller: Signed) -> Obj:
        plural, obj, namespace = self._tagged(request["resourceArn"], caller, writing=True)
        tags = {k: v for k, v in shapes.tags_of(obj).items() if k not in set(request["tagKeys"])}
        await self._set_tags(plural, obj, namespace, tags)
        return {}

    async def op_list_tags_for_resource(self, request: Obj, caller: Signed) -> Obj:
        _, obj, _ = self._tagged(request["resourceArn"], caller, writing=False)
        return {"tags": shapes.tags_of(obj)}
