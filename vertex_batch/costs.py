"""Cost arithmetic over the model catalog's prices: one formula for a row, in Python and as SQL.

A row costs, at the price in force when it was processed and at the tier its prompt falls in::

    (uncached prompt + tool-use prompt) x input x share
    + cache writes x cache-write price (input price when the model has none) x share
    + cached prompt x cached-input price x (share when the catalog says the discounts stack, else 1)
    + (candidates + thoughts) x output x share

where ``share`` is what the row's lane pays of the standard price (batch and Flex 0.5, online 1: the catalog's
``discounts``). Gemini's implicit-cache price does not stack with the batch discount (the cache discount wins);
Claude's cache prices do. ``macros/_internal/catalog.sql`` carries the same formula per model, rendered by
``model_cost_sql``, so that the flattened results' ``cost_usd`` and the ledger's sums agree (a test checks both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from vertex_batch.catalog import Lane, ModelInfo, Price

CHARS_PER_TOKEN = 4.0
#: The placeholders of the SQL cost formula, one per billable count, plus the row's processing time and lane.
USAGE_PLACEHOLDERS = ("prompt", "candidates", "thoughts", "cached_content", "cache_write", "tool_use_prompt")
LANES: tuple[Lane, ...] = ("batch", "flex", "online")


@dataclass(frozen=True)
class Usage:
    """The billable counts of one row (or sums over many); ``prompt`` includes cached and cache-written input."""

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached_content: int = 0
    cache_write: int = 0
    tool_use_prompt: int = 0

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> Usage:
        """From a Gemini ``usageMetadata`` object (camelCase or snake_case; missing counts are 0)."""
        metadata = metadata or {}

        def count(camel: str) -> int:
            snake = re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), camel)
            return int(metadata.get(camel, metadata.get(snake)) or 0)

        return cls(
            prompt=count("promptTokenCount"),
            candidates=count("candidatesTokenCount"),
            thoughts=count("thoughtsTokenCount"),
            cached_content=count("cachedContentTokenCount"),
            tool_use_prompt=count("toolUsePromptTokenCount"),
        )


def row_cost(price: Price, share: float, cache_stacks: bool, usage: Usage) -> float:
    """USD of ``usage`` at ``price`` for a lane paying ``share`` (see the module docstring)."""
    uncached = max(usage.prompt - usage.cached_content - usage.cache_write, 0)
    cached_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    return (
        (uncached + usage.tool_use_prompt) * price.input * share
        + usage.cache_write * write_price * share
        + usage.cached_content * cached_price * (share if cache_stacks or price.cached_input is None else 1.0)
        + (usage.candidates + usage.thoughts) * price.output * share
    ) / 1_000_000


def model_cost(info: ModelInfo, usage: Usage, day: date, lane: Lane = "batch") -> float | None:
    """USD of one row of ``info`` processed on ``day`` in ``lane``; None when the model is unpriced then."""
    price = info.price_at(day, usage.prompt)
    if price is None:
        return None
    return row_cost(price, info.share(lane), info.discounts.cache_stacks, usage)


def _number(value: float) -> str:
    return repr(float(value))


def _row_cost_sql(price: Price, share: str, cache_stacks: bool) -> str:
    cached_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    cached_share = share if cache_stacks or price.cached_input is None else "1.0"
    return (
        f"(greatest({{prompt}} - {{cached_content}} - {{cache_write}}, 0) * {_number(price.input)} * {share}"
        f" + {{tool_use_prompt}} * {_number(price.input)} * {share}"
        f" + {{cache_write}} * {_number(write_price)} * {share}"
        f" + {{cached_content}} * {_number(cached_price)} * {cached_share}"
        f" + ({{candidates}} + {{thoughts}}) * {_number(price.output)} * {share}"
        ") / 1000000"
    )


def _tiers_sql(tiers: tuple[Price, ...], share: str, cache_stacks: bool) -> str:
    if len(tiers) == 1:
        return _row_cost_sql(tiers[0], share, cache_stacks)
    branches = " ".join(
        f"when {{prompt}} > {tier.prompt_tokens_above} then {_row_cost_sql(tier, share, cache_stacks)}"
        for tier in reversed(tiers[1:])
    )
    return f"case {branches} else {_row_cost_sql(tiers[0], share, cache_stacks)} end"


def share_sql(info: ModelInfo) -> str:
    """What a row pays of the standard price, by its lane (the ``{lane}`` placeholder: 'batch', 'flex', 'online')."""
    flex = f"when 'flex' then {_number(info.discounts.flex)} " if info.discounts.flex is not None else ""
    return f"(case {{lane}} {flex}when 'online' then 1.0 else {_number(info.discounts.batch)} end)"


def model_cost_sql(info: ModelInfo) -> str | None:
    """``model_cost`` as one SQL expression over the ``USAGE_PLACEHOLDERS``, ``{processed_time}`` (a TIMESTAMP)
    and ``{lane}``; None for a model without prices. Rows processed before the first price date cost NULL."""
    dates = info.price_dates
    if not dates:
        return None
    share = share_sql(info)
    branches = [
        f"when {{processed_time}} >= timestamp '{day.isoformat()}' then "
        f"{_tiers_sql(info.prices_on(day), share, info.discounts.cache_stacks)}"
        for day in reversed(dates)
    ]
    return f"(case {' '.join(branches)} else cast(null as float64) end)"


def estimate_input_tokens(request_bytes: int) -> int:
    """A rough token count from serialised request size (about 4 characters a token), when counting fails."""
    return int(request_bytes / CHARS_PER_TOKEN)
