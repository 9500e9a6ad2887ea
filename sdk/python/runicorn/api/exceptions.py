"""Typed errors of the API client: one per HTTP failure class, all subclasses of RunicornError."""
from __future__ import annotations

from typing import Any, Dict, Optional


class RunicornError(Exception):
    """Base error: `status` is the HTTP status (None for transport errors), `detail` the server's `detail`."""

    def __init__(self, message: str, status: Optional[int] = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


RunicornAPIError = RunicornError  # name used by Runicorn 0.6


class ConnectionError(RunicornError):  # noqa: A001 - same name as the original's
    """The viewer could not be reached or is not a healthy Runicorn viewer."""


class BadRequestError(RunicornError):
    """400: the request was rejected (bad run id, missing field, …)."""


class FilterError(BadRequestError, ValueError):
    """400 for a malformed filter expression: `detail` is the server's "Invalid filter at column N: …"."""


class ValidationError(BadRequestError):
    """422: parameters failed schema validation; `detail` lists the problems."""


class AuthenticationError(RunicornError):
    """401/403: a token is required or was refused."""


class NotFoundError(RunicornError):
    """404: run, path, session or endpoint not found."""


class ConflictError(RunicornError):
    """409: e.g. an SSH host key needs confirmation."""


class HostKeyConfirmationRequired(ConflictError):
    """409 HOST_KEY_CONFIRMATION_REQUIRED: `host_key` holds what to show the user and pass to accept_host_key()."""

    @property
    def host_key(self) -> Dict[str, Any]:
        """The host_key object of the 409 payload."""
        d = self.detail if isinstance(self.detail, dict) else {}
        hk = d.get("host_key")
        return hk if isinstance(hk, dict) else {}


class RateLimitError(RunicornError):
    """429: too many requests; `retry_after` in seconds when the server said."""

    def __init__(self, message: str, status: Optional[int] = None, detail: Any = None, retry_after: Optional[float] = None) -> None:
        super().__init__(message, status, detail)
        self.retry_after = retry_after


class ServerError(RunicornError):
    """5xx: the server failed."""
