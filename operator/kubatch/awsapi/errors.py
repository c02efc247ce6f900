"""The errors of the AWS Batch API, in the shape botocore parses (pure)."""

from __future__ import annotations


class AwsError(Exception):
    """An error answer: HTTP status, the error code (x-amzn-ErrorType, __type) and message."""

    status = 400
    code = "ClientException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


class ClientError(AwsError):
    """The request is wrong (AWS: ClientException, 400): bad input, unknown resource."""


class NotFound(ClientError):
    """The request names a resource that does not exist (AWS: ClientException, 400); the
    operations that AWS answers with 200 for an unknown job (CancelJob, TerminateJob and their
    bulk forms) tell it apart."""


class ServerError(AwsError):
    """Kubatch failed (AWS: ServerException, 500)."""

    status = 500
    code = "ServerException"


class AccessDenied(AwsError):
    """The caller may not do this (AWS IAM: AccessDeniedException, 403)."""

    status = 403
    code = "AccessDeniedException"


class MissingToken(AwsError):
    status = 403
    code = "MissingAuthenticationTokenException"


class UnknownClient(AwsError):
    status = 403
    code = "UnrecognizedClientException"


class BadSignature(AwsError):
    status = 403
    code = "InvalidSignatureException"
