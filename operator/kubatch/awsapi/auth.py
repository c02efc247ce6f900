"""Who calls: AWS Signature Version 4 checked with botocore's own signer, and access keys
mapped to Kubernetes namespaces by a configuration read from a Secret.

The signature is recomputed with botocore's SigV4Auth over exactly the headers the caller
signed (its SignedHeaders), so the canonical request is the one botocore and the AWS CLI
build, not a second hand-written implementation of it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .errors import BadSignature, MissingToken, UnknownClient

SERVICE = "batch"
# AWS refuses a signature whose time is more than 15 minutes from its own clock.
SKEW = timedelta(minutes=15)
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/"
    r"(?P<service>[^/\s]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


class AccessKey(BaseModel):
    """One caller: an access key pair, the namespace its jobs and definitions live in, and
    whether it may manage compute environments, queues and scheduling policies."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )

    access_key_id: str = Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")
    secret_access_key: str = Field(min_length=16, max_length=128)
    namespace: str = Field(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    admin: bool = False


def read_keys(text: str, where: str) -> dict[str, AccessKey]:
    """The access keys of a configuration (a YAML list of AccessKey); ValueError names the
    entry and the field that is wrong."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not valid YAML: {e}") from None
    if loaded is None:
        loaded = []
    if not isinstance(loaded, list):
        raise ValueError(f"{where}: expected a list of access keys")
    keys: dict[str, AccessKey] = {}
    for i, entry in enumerate(loaded):
        try:
            key = AccessKey.model_validate(entry)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ValueError(f"{where}[{i}]: {problems}") from None
        if key.access_key_id in keys:
            raise ValueError(f"{where}[{i}]: accessKeyId {key.access_key_id} appears twice")
        keys[key.access_key_id] = key
    return keys


class _Exactly(SigV4Auth):  # type: ignore[misc]
    """SigV4Auth that signs exactly the headers the caller listed in SignedHeaders."""

    def __init__(
        self, credentials: Credentials, region: str, signed: list[str], service: str = SERVICE
    ) -> None:
        super().__init__(credentials, service, region)
        self.signed = signed

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        for name in list(headers.keys()):
            if name not in self.signed:
                del headers[name]
        return headers


@dataclass(frozen=True)
class Signed:
    key: AccessKey
    region: str


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, AccessKey],
    regions: Collection[str],
    now: datetime,
    service: str = SERVICE,
) -> Signed:
    """The caller of a request signed with SigV4 for `service` in one of `regions` (the
    endpoint's), or the AWS error that refuses it. `url` is the request's URL as the caller
    built it (scheme, Host header, raw path)."""
    header = headers.get("Authorization") or headers.get("authorization")
    if not header:
        raise MissingToken("Missing Authentication Token")
    found = AUTHORIZATION.match(header.strip())
    if not found:
        raise BadSignature(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            "parameters (AWS4-HMAC-SHA256)"
        )
    key = keys.get(found["key"])
    if key is None:
        raise UnknownClient("The security token included in the request is invalid.")
    region = found["region"]
    if found["service"] != service or region not in regions:
        served = ", ".join(f"'{r}'" for r in regions)
        raise BadSignature(
            f"Credential should be scoped to a valid region and to service '{service}': "
            f"this endpoint serves region {served}"
        )
    stamp = headers.get("X-Amz-Date") or headers.get("x-amz-date") or ""
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise BadSignature("X-Amz-Date must be given as YYYYMMDDTHHMMSSZ") from None
    if abs(now - when) > SKEW:
        raise BadSignature(
            f"Signature expired: {stamp} is now earlier or later than "
            f"{now.strftime('%Y%m%dT%H%M%SZ')} by more than 15 minutes"
        )
    signed = found["headers"].split(";")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    request.context["timestamp"] = stamp
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    signer = _Exactly(credentials, region, signed, service)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise BadSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return Signed(key, region)
