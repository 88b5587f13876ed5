"""What differs between model families in their output rows: where the billable counts are and when a row was
processed. One owner for Python and SQL: the runner's cost sums (``usage.py``) and the dbt macros (through the
generated ``macros/_internal/catalog.sql``) read these expressions.

Each expression is BigQuery SQL over ``{r}``, the row's output JSON (``response``, or ``predictions`` for the
legacy text-embedding output), and the row's own columns.
"""

from __future__ import annotations

from dataclasses import dataclass


def _count(path: str) -> str:
    return f"coalesce(safe_cast(json_value({{r}}, '{path}') as int64), 0)"


@dataclass(frozen=True)
class FamilyOutput:
    """Where a family's output row keeps its answer and its billable counts."""

    output_column: str
    usage: dict[str, str]  # cost placeholder -> SQL expression over {r} and the row's columns
    usage_path: str  # JSON path of the billable counts: a row without it (a failed row) has no cost
    processed_time: str = "processed_time"

    def usage_sql(self, output: str) -> dict[str, str]:
        """The placeholders' SQL for an output column expression ``output``."""
        return {name: sql.replace("{r}", output) for name, sql in self.usage.items()}


_NONE = "0"
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
        "$.usageMetadata",
    ),
    # Anthropic Messages usage: input_tokens excludes cache reads and writes, which are counted apart.
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
        "$.usage",
    ),
    # OpenAI chat.completion usage: completion_tokens already includes reasoning tokens.
    "chat-completions": FamilyOutput(
        "response",
        {
            "prompt": _count("$.usage.prompt_tokens"),
            "candidates": _count("$.usage.completion_tokens"),
            "thoughts": _NONE,
            "cached_content": _count("$.usage.prompt_tokens_details.cached_tokens"),
            "cache_write": _NONE,
            "tool_use_prompt": _NONE,
        },
        "$.usage",
    ),
    # Gemini embeddings: billed per input token.
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
        "$.usageMetadata",
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
        "$[0].embeddings",
        processed_time="current_timestamp()",
    ),
}


def family_output(family: str) -> FamilyOutput:
    return FAMILY_OUTPUTS[family]


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
    "claude": RequestLimits(("$.max_tokens",), "$.thinking.budget_tokens"),
    "chat-completions": RequestLimits(("$.max_completion_tokens", "$.max_tokens")),
}


def max_output_sql(family: str, request: str = "request") -> str:
    """The request's output cap as INT64 SQL (NULL when it sets none)."""
    paths = REQUEST_LIMITS[family].max_output
    casts = [f"SAFE_CAST(JSON_VALUE({request}, '{path}') AS INT64)" for path in paths]
    return casts[0] if len(casts) == 1 else f"COALESCE({', '.join(casts)})"
