"""Row statuses as batch jobs write them, with whether a later attempt may answer the row.

The one corpus for the retryable rule: checked against the runner's Python and SQL and the dbt macro
``vertex_batch.is_retryable`` (``tests/unit/test_contracts.py``, ``tests/e2e/test_runner_errors.py``).
"""

from __future__ import annotations

STATUSES: list[tuple[str, bool]] = [
    ("", False),
    (
        'Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}',
        True,
    ),
    (
        'Bad Request: {"error": {"code": 400, "message": "Please use a valid role.", "status": "INVALID_ARGUMENT"}}',
        False,
    ),
    (
        'Service Unavailable: {"error": {"code": 503, "message": "Unavailable.", "status": "UNAVAILABLE"}}',
        True,
    ),
    ("Service Unavailable", True),
    (
        'Internal Server Error: {"error": {"code": 500, "message": "Internal error.", "status": "INTERNAL"}}',
        True,
    ),
    ('Gateway Timeout: {"error": {"code": 504, "message": "Deadline exceeded.", "status": "DEADLINE_EXCEEDED"}}', True),
    ('Forbidden: {"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}}', False),
    ('Not Found: {"error": {"code": 404, "message": "Model not found.", "status": "NOT_FOUND"}}', False),
    ('{"code": 429, "message": "Quota exceeded."}', True),
    ('{"status": "UNAVAILABLE", "message": "try again"}', True),
    ("503 Service temporarily unavailable", True),
    ("400 Request contains an invalid argument.", False),
    ("DEADLINE_EXCEEDED", True),
    ("internal error", True),
    ("The prompt is too long.", False),
    ('Bad Request: {"error": {"code": 400, "message": "at most 500 tokens", "status": "INVALID_ARGUMENT"}}', False),
    ('Internal: {"error": {"code": 13, "message": "Internal error", "status": "INTERNAL"}}', True),
    ('Too Many Requests: {"error": {"code": 429', True),
    ('Bad Request: {"error": {"code": "429", "message": "as text"}}', True),
    # Claude rows: the Anthropic error body after the HTTP reason; error.type names the kind.
    ('Bad Request: {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens"}}', False),
    ('Too Many Requests: {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited."}}', True),
    ('Internal Server Error: {"type": "error", "error": {"type": "api_error", "message": "Internal error."}}', True),
    ('Error: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}', True),
    ('Forbidden: {"type": "error", "error": {"type": "permission_error", "message": "No access."}}', False),
    # Chat-completions rows: their `error` object, landed as the status.
    ('{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}', True),
    ('{"code":400,"message":"Missing required parameter: \'messages\'.","status":"INVALID_ARGUMENT"}', False),
]
