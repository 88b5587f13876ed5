"""What differs between model families, in one place for Python and SQL: how a family's job input rows look, where
its output rows keep the answer and the billable counts, where a request sets its output cap and thinking, and
how many of its jobs may run at once. The runner's staging and landing (``warehouse.py``, ``landing.py``), cost
sums (``usage.py``), estimates (``estimate.py``) and the dbt macros (through the generated
``macros/_internal/catalog.sql``) read these.

Production's row formats (newest pages under docs.cloud.google.com/gemini-enterprise-agent-platform/, read
2026-12-03; the local service implements the same in ``vertex_batch/local/service/family_*.py``):

- gemini: ``request`` (a ``GenerateContentRequest``) in, the input columns + ``response``, ``status``,
  ``processed_time`` out (models/capabilities/batch-inference).
- claude: ``custom_id`` + ``request`` (an Anthropic Messages body with ``anthropic_version``) in, BigQuery or
  JSONL; other BigQuery columns are ignored; ``response`` (JSON) and ``status`` out (partner-models/claude/batch).
- chat-completions (open models): ``custom_id``, ``method``, ``url``, ``body`` (an OpenAI chat-completions
  body) in; ``method`` and ``url`` dropped; ``response`` (JSON) and ``id`` out (maas/capabilities/batch-prediction).
  A failed row's ``error`` column is the local service's (inferred from third-party readers of these outputs).
- gemini-embedding: JSONL only, ``{"key": …, "request": {"content": {"parts": [{"text": …}]},
  "embed_content_config": {…}}}`` in; the Gemini batch line (``key``, ``request``, ``response`` an
  ``EmbedContentResponse``, ``status``, ``processed_time``) out (models/embeddings/batch-prediction-genai-embeddings).
- text-embedding (legacy): ``content`` (+ ``task_type``, ``title``) in, ``predictions`` + ``status`` out.

For claude, chat-completions and gemini-embedding the runner does not rely on key columns passing through the
job: each staged row carries a deterministic ``custom_id`` (``identity.row_id_sql``) and landing joins the output
back to the staged input on it (``landing.joined_landing_sql``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vertex_batch.identity import FINGERPRINT_COLUMN, ROW_ID_COLUMN, row_id_sql, sql_string


def _count(path: str) -> str:
    return f"coalesce(safe_cast(json_value({{r}}, '{path}') as int64), 0)"


@dataclass(frozen=True)
class FamilyOutput:
    """Where a family's output row keeps its answer, its billable counts and its model version."""

    output_column: str
    usage: dict[str, str]  # cost placeholder -> SQL expression over {r} and the row's columns
    processed_time: str = "processed_time"
    usage_root: str = "$.usageMetadata"  # present when the answer reports usage (NULL token counts otherwise)
    model_version: str = "cast(null as string)"  # SQL over {r}

    def usage_sql(self, output: str) -> dict[str, str]:
        """The placeholders' SQL for an output column expression ``output``."""
        return {name: sql.replace("{r}", output) for name, sql in self.usage.items()}


_NONE = "0"
_CHAT_REASONING = _count("$.usage.completion_tokens_details.reasoning_tokens")
FAMILY_OUTPUTS: dict[str, FamilyOutput] = {
    # GenerateContentResponse.usageMetadata (promptTokenCount includes cached tokens).
    "gemini": FamilyOutput(
        "response",
        {
            "prompt": _count("$.usageMetadata.promptTokenCount"),
            "candidates": _count("$.usageMetadata.candidatesTokenCount"),
            "thoughts": _count("$.usageMetadata.thoughtsTokenCount"),
            "cached_content": _count("$.usageMetadata.cachedContentTokenCount"),
            "cache_write": _NONE,
            "tool_use_prompt": _count("$.usageMetadata.toolUsePromptTokenCount"),
        },
        model_version="json_value({r}, '$.modelVersion')",
    ),
    # Anthropic Messages usage: input_tokens excludes cache reads and writes, which are counted apart;
    # output_tokens includes thinking, which Anthropic does not report apart (thoughts: 0).
    "claude": FamilyOutput(
        "response",
        {
            "prompt": f"({_count('$.usage.input_tokens')} + {_count('$.usage.cache_read_input_tokens')} "
            f"+ {_count('$.usage.cache_creation_input_tokens')})",
            "candidates": _count("$.usage.output_tokens"),
            "thoughts": _NONE,
            "cached_content": _count("$.usage.cache_read_input_tokens"),
            "cache_write": _count("$.usage.cache_creation_input_tokens"),
            "tool_use_prompt": _NONE,
        },
        usage_root="$.usage",
        model_version="json_value({r}, '$.model')",
    ),
    # OpenAI chat.completion usage: completion_tokens includes the reasoning tokens, reported apart in
    # completion_tokens_details.reasoning_tokens (both bill as output). The output has no processing time:
    # landing takes the completion's `created` (landing.joined_landing_sql).
    "chat-completions": FamilyOutput(
        "response",
        {
            "prompt": _count("$.usage.prompt_tokens"),
            "candidates": f"greatest({_count('$.usage.completion_tokens')} - {_CHAT_REASONING}, 0)",
            "thoughts": _CHAT_REASONING,
            "cached_content": _count("$.usage.prompt_tokens_details.cached_tokens"),
            "cache_write": _NONE,
            "tool_use_prompt": _NONE,
        },
        usage_root="$.usage",
        model_version="json_value({r}, '$.model')",
    ),
    # Gemini embeddings (EmbedContentResponse): billed per input token.
    "gemini-embedding": FamilyOutput(
        "response",
        {
            "prompt": _count("$.usageMetadata.promptTokenCount"),
            "candidates": _NONE,
            "thoughts": _NONE,
            "cached_content": _NONE,
            "cache_write": _NONE,
            "tool_use_prompt": _NONE,
        },
    ),
    # Legacy text embeddings: billed per character of input; the output has no processing time.
    "text-embedding": FamilyOutput(
        "predictions",
        {
            "prompt": "coalesce(char_length(content), 0)",
            "candidates": _NONE,
            "thoughts": _NONE,
            "cached_content": _NONE,
            "cache_write": _NONE,
            "tool_use_prompt": _NONE,
        },
        processed_time="current_timestamp()",
        usage_root="$[0].embeddings",
    ),
}


def family_output(family: str) -> FamilyOutput:
    return FAMILY_OUTPUTS[family]


# --- job input and output rows --------------------------------------------------------------------------------

#: Placeholder of a gemini-embedding row's request in ``FamilyRows.payload`` (built by ``embed_content_request_sql``).
EMBED_REQUEST = "{embed_content_request}"


@dataclass(frozen=True)
class FamilyRows:
    """How production reads a family's job input and writes its output, for families whose rows are named by an
    id field rather than by key columns passing through the job."""

    row_id_field: str  # the input and output field naming a row (``custom_id``, or ``key`` for Gemini embeddings)
    payload: tuple[tuple[str, str], ...]  # job input fields besides the row id: (field, SQL over a pending row)
    output: tuple[tuple[str, str], ...]  # output fields the landing reads (BigQuery types), as JSONL loads them

    @property
    def request_field(self) -> str:
        """The payload field holding the request body (``request``, or ``body`` for chat completions)."""
        return self.payload[-1][0]


FAMILY_ROWS: dict[str, FamilyRows] = {
    "claude": FamilyRows(
        "custom_id",
        (("request", "request"),),
        (("custom_id", "STRING"), ("response", "JSON"), ("status", "STRING"), ("processed_time", "TIMESTAMP")),
    ),
    "chat-completions": FamilyRows(
        "custom_id",
        (("method", "'POST'"), ("url", "'/v1/chat/completions'"), ("body", "request")),
        (
            ("custom_id", "STRING"),
            ("id", "STRING"),
            ("response", "JSON"),
            ("error", "JSON"),
            ("status", "STRING"),
            ("processed_time", "TIMESTAMP"),
        ),
    ),
    "gemini-embedding": FamilyRows(
        "key",
        (("request", EMBED_REQUEST),),
        (("key", "STRING"), ("response", "JSON"), ("status", "STRING"), ("processed_time", "TIMESTAMP")),
    ),
}


def family_rows(family: str) -> FamilyRows | None:
    """How ``family``'s rows are named and shaped; None for the families whose key columns pass through."""
    return FAMILY_ROWS.get(family)


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def embed_content_request_sql(params: Mapping[str, Any] | None = None, optional: Sequence[str] = ()) -> str:
    """A Gemini embedding row's ``request`` as BigQuery JSON: ``content`` as one text part, and
    ``embed_content_config`` from the optional columns present (``task_type``, ``title``) and the request
    model's parameters (``outputDimensionality`` -> ``output_dimensionality``, ``autoTruncate`` ->
    ``auto_truncate``); NULL members are left out."""
    config = [f"'{column}', {column}" for column in ("task_type", "title") if column in optional]
    for name, value in sorted((params or {}).items()):
        config.append(f"'{_snake(name)}', parse_json({sql_string(json.dumps(value))})")
    content = "json_object('parts', json_array(json_object('text', content)))"
    if not config:
        return f"json_object('content', {content})"
    config_sql = f"json_object({', '.join(config)})"
    return f"json_strip_nulls(json_object('content', {content}, 'embed_content_config', {config_sql}))"


def job_input_columns(
    family: str, key: Sequence[str], params: Mapping[str, Any] | None = None, optional: Sequence[str] = ()
) -> str | None:
    """The select list of a staged job input over a pending row: the key columns, ``request_fingerprint``, the
    row id and the family's job fields; None for the families that stage the pending row as it is."""
    rows = family_rows(family)
    if rows is None:
        return None
    payload = [
        (name, embed_content_request_sql(params, optional) if sql == EMBED_REQUEST else sql)
        for name, sql in rows.payload
    ]
    row_id = f"{row_id_sql(key)} AS {ROW_ID_COLUMN}"
    return ", ".join([*key, FINGERPRINT_COLUMN, row_id, *(f"{sql} AS {name}" for name, sql in payload)])


def job_lines_columns(family: str) -> str | None:
    """The select list of a family's JSONL input lines over its staged input (exactly the fields production
    reads); None for the families whose staged rows are exported whole."""
    rows = family_rows(family)
    if rows is None:
        return None
    return ", ".join([f"{ROW_ID_COLUMN} AS {rows.row_id_field}", *(name for name, _ in rows.payload)])


def job_model_parameters(family: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The job-level ``modelParameters`` to send: the legacy text-embedding options; None for every other family
    (Gemini embeddings carry their options in each line's ``embed_content_config``)."""
    return dict(params) if family == "text-embedding" and params else None


# --- requests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLimits:
    """Where a family's request sets its output cap and its thinking (JSON paths for ``json_value``)."""

    max_output: tuple[str, ...]
    thinking_budget: str | None = None
    thinking_level: str | None = None


REQUEST_LIMITS: dict[str, RequestLimits] = {
    "gemini": RequestLimits(
        ("$.generationConfig.maxOutputTokens",),
        "$.generationConfig.thinkingConfig.thinkingBudget",
        "$.generationConfig.thinkingConfig.thinkingLevel",
    ),
    # Claude 5.x: thinking {"type": "adaptive"} with output_config.effort; budget_tokens for older models.
    "claude": RequestLimits(("$.max_tokens",), "$.thinking.budget_tokens", "$.output_config.effort"),
    "chat-completions": RequestLimits(("$.max_completion_tokens", "$.max_tokens"), None, "$.reasoning_effort"),
}


def max_output_sql(family: str, request: str = "request") -> str:
    """The request's output cap as INT64 SQL (NULL when it sets none)."""
    paths = REQUEST_LIMITS[family].max_output
    casts = [f"SAFE_CAST(JSON_VALUE({request}, '{path}') AS INT64)" for path in paths]
    return casts[0] if len(casts) == 1 else f"COALESCE({', '.join(casts)})"


# --- jobs -------------------------------------------------------------------------------------------------------


def fits_publisher_quota(model: Any, in_flight: Iterable[Any]) -> bool:
    """Whether one more job of ``model`` (a ``RequestModel``) fits its publisher's quota of concurrent batch jobs
    in its project (the catalog's ``concurrent_jobs_quota``: 4 for Claude, "default 4 concurrent batch requests
    per project", partner-models/claude/batch) beside the ``in_flight`` jobs' request models. A model without a
    quota shares Vertex AI's dynamic pool and always fits."""
    info = model.settings.info
    if info is None or info.concurrent_jobs_quota is None:
        return True
    owner = (model.project, info.publisher)
    running = sum(
        1
        for other in in_flight
        if other.settings.info is not None and (other.project, other.settings.info.publisher) == owner
    )
    return running < info.concurrent_jobs_quota
