"""Fabricated batch output rows, landed the way the runner lands a job's output.

``land_sql`` appends rows to ``<request model>__batch_output`` in the shape the runner stages and lands them:
the key and ``request`` (taken from the request table), ``request_fingerprint`` rendered by
``vertex_batch.identity`` (the runner's side of the identity contract), plus ``response`` JSON, ``status``,
``processed_time``, ``batch_job_name``, ``batch_attempt`` and ``landed_at``, without any batch service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vertex_batch.identity import fingerprint_sql

JOB = "projects/100000000001/locations/us-central1/batchPredictionJobs/{}"

BAD_ROLE_STATUS = (
    'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
    '"status": "INVALID_ARGUMENT"}}'
)
RESOURCE_EXHAUSTED_STATUS = (
    'Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted. Please try again later.", '
    '"status": "RESOURCE_EXHAUSTED"}}'
)
INTERNAL_STATUS = (
    'Internal Server Error: {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}'
)


def success(
    text: str | list[str],
    finish: str = "STOP",
    prompt: int = 29,
    candidates: int = 1,
    thoughts: int | None = None,
    avg_logprobs: float = -0.5782725546095107,
    model_version: str = "gemini-3.5-flash-001",
    thought_text: str | None = None,
    cached: int | None = None,
) -> dict:
    """A GenerateContentResponse like the service's (zero counts omitted)."""
    parts = [{"text": t} for t in ([text] if isinstance(text, str) else text)]
    if thought_text is not None:
        parts.insert(0, {"text": thought_text, "thought": True})
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + (thoughts or 0),
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    return {
        "candidates": [
            {
                "avgLogprobs": avg_logprobs,
                "content": {"parts": parts, "role": "model"},
                "finishReason": finish,
            }
        ],
        "modelVersion": model_version,
        "usageMetadata": usage,
    }


@dataclass(frozen=True)
class Landed:
    """One fabricated output row for the request row with ``key``."""

    key: int
    response: dict
    status: str
    processed_time: str
    attempt: int = 1
    job: str = "1"
    landed_at: str | None = None
    fingerprint: str | None = None  # another fingerprint than the request's (an out-of-date answer)


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def land_sql(
    project: str,
    dataset: str,
    request_model: str,
    key: str,
    rows: list[Landed],
    create: bool,
    model: str = "gemini-3.5-flash",
) -> str:
    """SQL that creates (``create``) or appends to the landing table of ``request_model``."""
    answers = " union all ".join(
        f"select {row.key} as _key, parse_json({_sql_string(json.dumps(row.response))}) as response, "
        f"{_sql_string(row.status)} as status, "
        f"timestamp {_sql_string(row.processed_time)} as processed_time, "
        f"{_sql_string(JOB.format(row.job))} as batch_job_name, {row.attempt} as batch_attempt, "
        + (f"timestamp {_sql_string(row.landed_at)}" if row.landed_at else "current_timestamp()")
        + " as landed_at, "
        + (_sql_string(row.fingerprint) if row.fingerprint else "cast(null as string)")
        + " as _fingerprint"
        for row in rows
    )
    request_table = f"`{project}.{dataset}.{request_model}`"
    landing_table = f"`{project}.{dataset}.{request_model}__batch_output`"
    select = (
        f"select r.{key}, r.request, coalesce(a._fingerprint, {fingerprint_sql(model, None, 'r.request')}) "
        f"as request_fingerprint, a.response, a.status, a.processed_time, a.batch_job_name, "
        f"a.batch_attempt, a.landed_at "
        f"from {request_table} as r join ({answers}) as a on r.{key} = a._key"
    )
    if create:
        return f"create table {landing_table} as {select}"
    return f"insert into {landing_table} {select}"
