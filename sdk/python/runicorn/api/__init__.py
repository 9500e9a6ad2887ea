"""Runicorn API client (`import runicorn.api as api; client = api.connect("http://127.0.0.1:23300")`)."""
from __future__ import annotations

from .client import RemoteAPI, RunicornClient, connect, flatten_run, metrics_to_dataframe, runs_to_dataframe, series_to_dataframe
from .exceptions import (AuthenticationError, BadRequestError, ConflictError, ConnectionError, FilterError, HostKeyConfirmationRequired,
                         NotFoundError, RateLimitError, RunicornAPIError, RunicornError, ServerError, ValidationError)

__all__ = ["RunicornClient", "RemoteAPI", "connect", "metrics_to_dataframe", "runs_to_dataframe", "series_to_dataframe", "flatten_run", "RunicornError", "RunicornAPIError",
           "ConnectionError", "NotFoundError", "BadRequestError", "FilterError", "ValidationError", "AuthenticationError", "ConflictError",
           "HostKeyConfirmationRequired", "RateLimitError", "ServerError"]
