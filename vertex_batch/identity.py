"""The identity of a request row: its key plus a fingerprint of everything that changes the answer.

``request_fingerprint`` is the hex SHA-256 of ``<model id>\\n<job parameters>\\n<request JSON>``:

- the model id as written in ``meta.vertex_batch.model`` without a ``publishers/google/models/`` prefix,
- the job-level parameters (``meta.vertex_batch.model_parameters``) as JSON with sorted keys (``{}`` for
  Gemini generate jobs),
- ``TO_JSON_STRING(request)``.

Changing a prompt, a generation setting or the model therefore re-asks exactly the rows it changes. This
module owns the Python side (the runner stages rows with :func:`fingerprint_sql`); the dbt macro
``vertex_batch.request_fingerprint`` renders the same expression, and a test checks that both agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

FINGERPRINT_COLUMN = "request_fingerprint"
REQUEST_COLUMN = "request"
PUBLISHER_PREFIX = "publishers/google/models/"


def model_id(model: str) -> str:
    """The model id without its ``[projects/P/locations/L/]publishers/google/models/`` prefix."""
    return model.strip().rsplit(PUBLISHER_PREFIX, 1)[-1]


def canonical_params(params: Mapping[str, Any] | None) -> str:
    """Job-level parameters as JSON with sorted keys (as dbt's ``tojson(..., sort_keys=true)``), ``{}`` if none."""
    return json.dumps(dict(params or {}), sort_keys=True)


def sql_string(text: str) -> str:
    """A BigQuery string literal holding ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def fingerprint_sql(model: str, params: Mapping[str, Any] | None = None, request_column: str = REQUEST_COLUMN) -> str:
    """The BigQuery expression of a row's fingerprint (same text as the dbt macro renders)."""
    return (
        f"to_hex(sha256(concat({sql_string(model_id(model))}, '\\n', {sql_string(canonical_params(params))}, "
        f"'\\n', to_json_string({request_column}))))"
    )


def fingerprint(model: str, params: Mapping[str, Any] | None, request_json: str) -> str:
    """The fingerprint in Python, given ``TO_JSON_STRING(request)`` as BigQuery writes it."""
    text = f"{model_id(model)}\n{canonical_params(params)}\n{request_json}"
    return hashlib.sha256(text.encode()).hexdigest()


def staged_columns_sql(key: Sequence[str], model: str, params: Mapping[str, Any] | None = None) -> str:
    """The select list of a staged job input: the key columns, ``request`` and its fingerprint, nothing else.

    A request model's own ``request_fingerprint`` column, if it has one, is ignored: identity is always derived.
    """
    columns = [*key, REQUEST_COLUMN]
    return ", ".join([*columns, f"{fingerprint_sql(model, params)} AS {FINGERPRINT_COLUMN}"])
