"""The identity of a request row: its key plus a fingerprint of everything that changes the answer.

``request_fingerprint`` is the hex SHA-256 of ``<model id>\\n<job parameters>\\n<request JSON>``:

- the model as written in ``meta.vertex_batch.model``, through ``catalog.model_name`` (no
  ``[projects/P/locations/L/]publishers/<publisher>/models/`` prefix),
- the job's ``modelParameters`` as JSON with sorted keys (``{}`` for Gemini generate jobs, which take none;
  the embedding options for embeddings jobs),
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

from vertex_batch.catalog import model_name

FINGERPRINT_COLUMN = "request_fingerprint"
REQUEST_COLUMN = "request"
#: A staged row's id (``custom_id`` of Claude and chat-completions rows, ``key`` of Gemini embedding lines).
ROW_ID_COLUMN = "custom_id"


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
        f"to_hex(sha256(concat({sql_string(model_name(model))}, '\\n', {sql_string(canonical_params(params))}, "
        f"'\\n', to_json_string({request_column}))))"
    )


def fingerprint(model: str, params: Mapping[str, Any] | None, request_json: str) -> str:
    """The fingerprint in Python, given ``TO_JSON_STRING(request)`` as BigQuery writes it."""
    text = f"{model_name(model)}\n{canonical_params(params)}\n{request_json}"
    return hashlib.sha256(text.encode()).hexdigest()


def row_id_sql(key: Sequence[str]) -> str:
    """A staged row's id: the hex SHA-256 of its key (as JSON) and its fingerprint, 64 characters of ``[0-9a-f]``
    (Anthropic's ``custom_id`` takes at most 64 of ``[a-zA-Z0-9_-]``). The same row always gets the same id,
    so landing can join a job's output back to the staged input without key columns passing through the job."""
    struct = ", ".join(key)
    return f"to_hex(sha256(concat(to_json_string(struct({struct})), '\\n', {FINGERPRINT_COLUMN})))"


def staged_columns_sql(
    key: Sequence[str], model: str, params: Mapping[str, Any] | None = None, parse_request: bool = False
) -> str:
    """The select list of a staged job input: the key columns, ``request`` and its fingerprint, nothing else.

    A request model's own ``request_fingerprint`` column, if it has one, is ignored: identity is always derived.
    ``parse_request``: ``request`` is a STRING holding JSON; it is staged as JSON (a JSONL input needs an object),
    while the fingerprint stays that of the column as the request model has it (as the dbt macros compute it).
    """
    columns = [*key, f"PARSE_JSON({REQUEST_COLUMN}) AS {REQUEST_COLUMN}" if parse_request else REQUEST_COLUMN]
    return ", ".join([*columns, f"{fingerprint_sql(model, params)} AS {FINGERPRINT_COLUMN}"])


# --- embeddings request models ------------------------------------------------------------------------------
# A request model whose model is an embedding model (the catalog's embedding families) sends `content`
# (plus the optional columns) to an embeddings job. Its fingerprint's payload is TO_JSON_STRING(content), then
# '\n<column>=' TO_JSON_STRING(value) for each optional column present and not NULL; its parameters are the job's
# modelParameters. The dbt macros in macros/requests/embedding_request.sql render the same rules.

CONTENT_COLUMN = "content"
#: Optional columns of an embeddings request model that take part in the identity (and go to the job), in order.
EMBEDDING_OPTIONAL_COLUMNS = ("task_type", "title")


def embedding_fingerprint_sql(model: str, params: Mapping[str, Any] | None = None, optional: Sequence[str] = ()) -> str:
    """The BigQuery expression of an embeddings row's fingerprint; ``optional`` names the optional columns the
    request model has."""
    parts = [f"to_json_string({CONTENT_COLUMN})"]
    parts += [
        f"coalesce(concat('\\n{column}=', to_json_string({column})), '')"
        for column in EMBEDDING_OPTIONAL_COLUMNS
        if column in optional
    ]
    return (
        f"to_hex(sha256(concat({sql_string(model_name(model))}, '\\n', {sql_string(canonical_params(params))}, "
        f"'\\n', {', '.join(parts)})))"
    )


def embedding_staged_columns_sql(
    key: Sequence[str], model: str, params: Mapping[str, Any] | None = None, optional: Sequence[str] = ()
) -> str:
    """The select list of a staged embeddings job input: key, ``content``, the optional columns present and
    the fingerprint."""
    present = [column for column in EMBEDDING_OPTIONAL_COLUMNS if column in optional]
    columns = [*key, CONTENT_COLUMN, *present]
    return ", ".join([*columns, f"{embedding_fingerprint_sql(model, params, present)} AS {FINGERPRINT_COLUMN}"])
