"""AWS names and ARNs, and the Kubernetes names they map to (pure: no I/O).

AWS allows up to 128 characters of [A-Za-z0-9_-] for names; a Kubernetes object name is a
lower-case DNS label. A name that already is one is kept; any other maps, always to the same
object name, to a cleaned prefix and a digest of the AWS name, and the AWS name is kept in the
object's annotation ANNOTATION_AWS_NAME.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import ClientError

AWS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Room left in a 63-character name for a digest (9) and for generateName's suffix (5).
PREFIX_MAX = 40

KINDS = frozenset(
    (
        "job",
        "job-definition",
        "job-queue",
        "compute-environment",
        "scheduling-policy",
        "consumable-resource",
    )
)
"""The kinds of ARN this API knows (and can tag)."""


def check_name(field: str, name: object) -> str:
    if not isinstance(name, str) or not AWS_NAME.match(name):
        raise ClientError(
            f"{field} must be 1 to 128 letters (uppercase and lowercase), numbers, hyphens and "
            f"underscores, starting with a letter or number; got {name!r}"
        )
    return name


def _cleaned(name: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")


def object_name(aws_name: str) -> str:
    """The object name of a definition, queue, environment or policy named `aws_name`."""
    if DNS_LABEL.match(aws_name) and len(aws_name) <= 63:
        return aws_name
    digest = hashlib.sha256(aws_name.encode()).hexdigest()[:8]
    prefix = _cleaned(aws_name)[:PREFIX_MAX].strip("-")
    return f"{prefix}-{digest}" if prefix else f"x-{digest}"


def generate_name(aws_name: str) -> str:
    """The generateName prefix of a job named `aws_name` (AWS job names are not unique)."""
    prefix = _cleaned(aws_name)[:PREFIX_MAX].strip("-")
    return (prefix or "job") + "-"


@dataclass(frozen=True)
class Arns:
    """ARNs in AWS's form for one region and account."""

    region: str = "us-east-1"
    account: str = "000000000000"

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:batch:{self.region}:{self.account}:{kind}/{name}"

    def parse(self, kind: str, value: object, field: str) -> str:
        """The name (or id) a name or an ARN of `kind` gives. An ARN of another kind, region or
        account is refused with a message naming the field."""
        if not isinstance(value, str) or not value:
            raise ClientError(f"{field} must be a name or an ARN")
        if not value.startswith("arn:"):
            return value
        parts = value.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        found_kind, _, name = resource.partition("/")
        if (
            len(parts) != 6
            or parts[1] != "aws"
            or parts[2] != "batch"
            or found_kind != kind
            or not name
        ):
            raise ClientError(f"{field}: {value!r} is not the ARN of a {kind}")
        if parts[3] != self.region or parts[4] != self.account:
            raise ClientError(
                f"{field}: {value!r} belongs to region {parts[3]!r} and account {parts[4]!r}; "
                f"this endpoint serves region {self.region!r}, account {self.account!r}"
            )
        return name

    def resource(self, value: str) -> tuple[str, str]:
        """(kind, name) of any Kubatch ARN (tagging names resources of every kind)."""
        if not value.startswith("arn:"):
            raise ClientError(f"resourceArn must be an ARN; got {value!r}")
        kind = value.split(":", 5)[-1].partition("/")[0]
        if kind not in KINDS:
            raise ClientError(f"resourceArn: {value!r} is not the ARN of a taggable Batch resource")
        return kind, self.parse(kind, value, "resourceArn")
