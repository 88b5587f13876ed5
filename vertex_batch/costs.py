"""Prices and cost arithmetic: one editable price table (``prices.csv``) for Python and SQL alike.

A batch row costs, at the tier its ``promptTokenCount`` falls in (e.g. Gemini 2.5 Pro above 200k tokens)::

    (uncached prompt + tool-use prompt) x input x batch discount
    + cached prompt x cached input              (implicit-cache price; the batch discount does not stack)
    + (candidates + thoughts) x output x batch discount

``python -m vertex_batch.costs`` prints ``macros/_internal/prices.sql``, the same table and formula as a
dbt macro, so that the flattened results' ``cost_usd`` and the ledger's sums agree (a test checks both).
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

BATCH_DISCOUNT = 0.5
PRICES_FILE = Path(__file__).with_name("prices.csv")
PRICES_MACRO_FILE = Path(__file__).resolve().parent.parent / "macros" / "_internal" / "prices.sql"
CHARS_PER_TOKEN = 4.0
#: The placeholders of the SQL cost formula (``cost_sql``), one per ``usageMetadata`` count.
USAGE_PLACEHOLDERS = ("prompt", "candidates", "thoughts", "cached_content", "tool_use_prompt")
_VERSION_SUFFIX = re.compile(r"-[0-9]{3}$")


def model_key(model: str) -> str:
    """The price-table name of a model: no ``publishers/google/models/``, ``@version`` or ``-00N`` suffix."""
    name = model.rsplit("/", 1)[-1].split("@", 1)[0].strip().lower()
    return _VERSION_SUFFIX.sub("", name)


@dataclass(frozen=True)
class Usage:
    """The billable counts of one response's ``usageMetadata`` (or sums over many)."""

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached_content: int = 0
    tool_use_prompt: int = 0

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> Usage:
        """From a ``usageMetadata`` object (camelCase or snake_case; missing counts are 0)."""
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


@dataclass(frozen=True)
class PriceTier:
    """Online USD per 1M tokens for requests whose prompt is above ``prompt_tokens_above`` tokens."""

    prompt_tokens_above: int
    input_per_million: float
    cached_input_per_million: float
    output_per_million: float
    effective_date: str
    source: str

    def batch_cost(self, usage: Usage) -> float:
        """USD of ``usage`` in a batch job at this tier (see the module docstring)."""
        uncached = max(usage.prompt - usage.cached_content, 0)
        return (
            uncached * self.input_per_million * BATCH_DISCOUNT
            + usage.tool_use_prompt * self.input_per_million * BATCH_DISCOUNT
            + usage.cached_content * self.cached_input_per_million
            + (usage.candidates + usage.thoughts) * self.output_per_million * BATCH_DISCOUNT
        ) / 1_000_000

    def sql(self) -> str:
        """``batch_cost`` as a SQL expression over ``{prompt}``, ``{candidates}``, ... placeholders."""
        return (
            f"(greatest({{prompt}} - {{cached_content}}, 0) * {self.input_per_million!r} * {BATCH_DISCOUNT!r}"
            f" + {{tool_use_prompt}} * {self.input_per_million!r} * {BATCH_DISCOUNT!r}"
            f" + {{cached_content}} * {self.cached_input_per_million!r}"
            f" + ({{candidates}} + {{thoughts}}) * {self.output_per_million!r} * {BATCH_DISCOUNT!r}"
            ") / 1000000"
        )


@dataclass(frozen=True)
class ModelPrice:
    """A model's price tiers, lowest threshold first."""

    model: str
    tiers: tuple[PriceTier, ...]

    def tier(self, prompt_tokens: int) -> PriceTier:
        """The tier of a request with ``prompt_tokens`` prompt tokens."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if prompt_tokens > tier.prompt_tokens_above:
                chosen = tier
        return chosen

    def row_cost(self, usage: Usage) -> float:
        """USD of one batch row."""
        return self.tier(usage.prompt).batch_cost(usage)

    def batch_cost(self, input_tokens: int, output_tokens: int, rows: int = 1) -> float:
        """USD of ``rows`` batch rows with these token totals (tier of the mean prompt, no cache)."""
        tier = self.tier(input_tokens // max(rows, 1))
        return tier.batch_cost(Usage(prompt=input_tokens, candidates=output_tokens))

    def cost_sql(self) -> str:
        """``row_cost`` as one SQL expression over the ``USAGE_PLACEHOLDERS`` (``{prompt}``, ...)."""
        if len(self.tiers) == 1:
            return self.tiers[0].sql()
        branches = " ".join(
            f"when {{prompt}} > {tier.prompt_tokens_above} then {tier.sql()}" for tier in reversed(self.tiers[1:])
        )
        return f"case {branches} else {self.tiers[0].sql()} end"


class PriceTable(dict[str, ModelPrice]):
    """Prices by ``model_key``."""

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or None when the table does not know it."""
        return self.get(model_key(model))


def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    """Read ``prices.csv`` (``#`` lines are comments)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    tiers: dict[str, list[PriceTier]] = {}
    for row in csv.DictReader(lines):
        tiers.setdefault(model_key(row["model"]), []).append(
            PriceTier(
                prompt_tokens_above=int(row["prompt_tokens_above"]),
                input_per_million=float(row["input_per_million_usd"]),
                cached_input_per_million=float(row["cached_input_per_million_usd"]),
                output_per_million=float(row["output_per_million_usd"]),
                effective_date=row["effective_date"],
                source=row["source"],
            )
        )
    return PriceTable(
        {
            model: ModelPrice(model, tuple(sorted(rows, key=lambda tier: tier.prompt_tokens_above)))
            for model, rows in tiers.items()
        }
    )


@cache
def _default_prices() -> PriceTable:
    return load_prices()


def price_for(model: str, prices: PriceTable | None = None) -> ModelPrice | None:
    """The price of ``model`` from ``prices`` (default: ``prices.csv``), or None when it has none."""
    return (prices if prices is not None else _default_prices()).lookup(model)


def unknown_price_warning(model: str) -> str:
    """The one-line warning for a model the price table does not know."""
    return (
        f"warning: no price for model {model!r} in vertex_batch/prices.csv; its cost is unknown "
        "(add a row to price it; --max-cost refuses to guess)"
    )


def estimate_input_tokens(request_bytes: int) -> int:
    """A rough token count from serialised request size (about 4 characters a token), when counting fails."""
    return int(request_bytes / CHARS_PER_TOKEN)


def render_price_macro(prices: PriceTable | None = None) -> str:
    """The dbt macro file holding the price table's cost formulas (``macros/_internal/prices.sql``)."""
    prices = prices if prices is not None else load_prices()
    entries = ",\n".join(f"        {model!r}: {price.cost_sql()!r}" for model, price in sorted(prices.items()))
    return (
        "{#- GENERATED from vertex_batch/prices.csv by `python -m vertex_batch.costs`: do not edit by hand.\n"
        "    The batch cost of one row per price-table model, as SQL over the placeholders\n"
        "    " + ", ".join("{" + name + "}" for name in USAGE_PLACEHOLDERS) + " (token counts). -#}\n"
        "{% macro _cost_formulas() %}\n"
        "    {{- return({\n" + entries + "\n    }) -}}\n"
        "{% endmacro %}\n"
    )


def main() -> int:
    sys.stdout.write(render_price_macro())
    return 0


if __name__ == "__main__":
    sys.exit(main())
