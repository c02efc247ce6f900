"""Failures as the API server answers them: a Kubernetes Status with a code, a reason and,
for invalid objects, the fields at fault."""

from __future__ import annotations

from ..containers import Obj


class ApiError(Exception):
    """A Kubernetes Status failure."""

    def __init__(self, code: int, reason: str, message: str, causes: list[str] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes or []

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.causes:
            causes = []
            for cause in self.causes:
                field, _, message = cause.partition(": ")
                causes.append(
                    {"reason": "FieldValueInvalid", "field": field, "message": message}
                    if message
                    else {"message": cause}
                )
            body["details"] = {"causes": causes}
        return body


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind} "{name}" not found')
