"""The one error type of Kubatch's Kubernetes client, with what callers ask of it."""

from __future__ import annotations

RETRYABLE = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """A request the API server refused (status >= 400), or one that got no answer
    (status 0: connection refused or reset, timeout)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: AlreadyExists on create, a stale resourceVersion on update."""
        return self.status == 409

    @property
    def gone(self) -> bool:
        """410: a watch's resourceVersion is too old; list again."""
        return self.status == 410

    @property
    def transient(self) -> bool:
        """Worth sending again later: no answer, throttled, a server error."""
        return self.status == 0 or self.status in RETRYABLE
