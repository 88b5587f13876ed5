"""Which failures are worth retrying: one place for the patterns, used by Python and by SQL."""

from __future__ import annotations

import re

# Row statuses of a Vertex batch output look like `Too Many Requests: {"error": {"code": 429, ...}}`.
RETRYABLE_ROW_CODES = (429, 500, 503, 504)
RETRYABLE_ROW_STATUSES = ("RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED")

_ROW_PATTERN = (
    r'"code": ?(' + "|".join(str(code) for code in RETRYABLE_ROW_CODES) + r")\b"
    r'|"status": ?"(' + "|".join(RETRYABLE_ROW_STATUSES) + r')"'
)
ROW_STATUS_RETRYABLE = re.compile(_ROW_PATTERN)


def is_retryable_row_status(status: str | None) -> bool:
    """True for a row status that a later attempt may turn into an answer."""
    return bool(status) and bool(ROW_STATUS_RETRYABLE.search(status or ""))


def retryable_status_sql(column: str) -> str:
    """A BigQuery boolean expression: is the row status in ``column`` retryable?"""
    return f"REGEXP_CONTAINS(COALESCE({column}, ''), r'{_ROW_PATTERN}')"


def is_transient_api_error(error: BaseException) -> bool:
    """True for an API error worth retrying with backoff (429, 5xx, connection reset, timeout)."""
    from google.api_core import exceptions as core

    transient = (
        core.TooManyRequests,
        core.InternalServerError,
        core.BadGateway,
        core.ServiceUnavailable,
        core.GatewayTimeout,
        core.DeadlineExceeded,
        core.ResourceExhausted,
    )
    if isinstance(error, transient):
        return True
    return isinstance(error, ConnectionError | TimeoutError) or type(error).__name__ in {
        "ConnectionError",
        "ReadTimeout",
        "ConnectTimeout",
        "ChunkedEncodingError",
    }
