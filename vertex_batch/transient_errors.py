"""Which failures are worth retrying: one rule for row statuses, in Python and in the runner's SQL.

A failed row's status looks like ``Too Many Requests: {"error": {"code": 429, ..., "status": "RESOURCE_EXHAUSTED"}}``
(Gemini), ``Service Unavailable: {"type": "error", "error": {"type": "overloaded_error", "message": ...}}`` (Claude:
the Anthropic error body, whose ``error.type`` names the kind, see docs.claude.com/en/api/errors) or
``{"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}`` (chat completions: their ``error`` as landed).
It is retryable when its error code is one of ``RETRYABLE_ROW_CODES``, its status name one of
``RETRYABLE_ROW_STATUSES`` or its Anthropic error type one of ``RETRYABLE_ROW_TYPES``; a status text without a JSON
body (``Service Unavailable``) is searched for those words and codes. The dbt macro ``vertex_batch.is_retryable``
(``macros/responses/status.sql``) implements the same rule with the same lists; ``tests/unit/status_corpus.py``
holds the statuses all three are checked against.
"""

from __future__ import annotations

import json
import re

RETRYABLE_ROW_CODES = (429, 500, 503, 504)
RETRYABLE_ROW_STATUSES = ("RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED")
#: Anthropic error types (Claude rows) worth retrying: 429, 500 and 529 (overloaded).
RETRYABLE_ROW_TYPES = ("rate_limit_error", "api_error", "overloaded_error")

_BODY = re.compile(r"(?s)(\{.*\})")
_LEADING_CODE = re.compile(r"^\s*(\d{3})\b")
_WORDS = r"\b(?:" + "|".join([*RETRYABLE_ROW_STATUSES, *(str(code) for code in RETRYABLE_ROW_CODES)]) + r")\b"


def _body(status: str) -> dict | None:
    match = _BODY.search(status)
    if not match:
        return None
    try:
        body = json.loads(match.group(1))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _member(body: dict, name: str) -> object:
    error = body.get("error")
    if isinstance(error, dict) and error.get(name) is not None:
        return error[name]
    return body.get(name)


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def is_retryable_row_status(status: str | None) -> bool:
    """True for a failed row's status that a later attempt may turn into an answer ('' and None: False)."""
    if not status:
        return False
    body = _body(status)
    leading = _LEADING_CODE.match(status)
    code = _as_int(_member(body, "code")) if body else None
    if code is None and leading:
        code = int(leading.group(1))
    if code in RETRYABLE_ROW_CODES:
        return True
    if body is not None:
        return _member(body, "status") in RETRYABLE_ROW_STATUSES or _member(body, "type") in RETRYABLE_ROW_TYPES
    return re.search(_WORDS, status.upper()) is not None


def retryable_status_sql(column: str) -> str:
    """A BigQuery boolean expression of the same rule over the STRING ``column`` (NULL and '' give FALSE)."""
    body = f"SAFE.PARSE_JSON(REGEXP_EXTRACT({column}, r'(?s)(\\{{.*\\}})'))"
    code = (
        f"COALESCE(SAFE_CAST(JSON_VALUE({body}, '$.error.code') AS INT64), "
        f"SAFE_CAST(JSON_VALUE({body}, '$.code') AS INT64), "
        f"SAFE_CAST(REGEXP_EXTRACT({column}, r'^\\s*(\\d{{3}})\\b') AS INT64))"
    )
    name = f"COALESCE(JSON_VALUE({body}, '$.error.status'), JSON_VALUE({body}, '$.status'))"
    kind = f"COALESCE(JSON_VALUE({body}, '$.error.type'), JSON_VALUE({body}, '$.type'))"
    codes = ", ".join(str(code) for code in RETRYABLE_ROW_CODES)
    names = ", ".join(f"'{status}'" for status in RETRYABLE_ROW_STATUSES)
    types = ", ".join(f"'{name}'" for name in RETRYABLE_ROW_TYPES)
    return (
        f"(CASE WHEN COALESCE({column}, '') = '' THEN FALSE "
        f"WHEN {code} IN ({codes}) THEN TRUE "
        f"WHEN {name} IN ({names}) THEN TRUE "
        f"WHEN {kind} IN ({types}) THEN TRUE "
        f"WHEN {body} IS NULL THEN REGEXP_CONTAINS(UPPER({column}), r'{_WORDS}') "
        "ELSE FALSE END)"
    )


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
