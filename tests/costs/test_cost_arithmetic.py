"""The cost formula over catalog prices: Python and the SQL rendered for dbt agree with hand calculations, on
price dates, prompt tiers, cache rules and lanes; the generated dbt macro and README table are fresh."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from vertex_batch.catalog import ModelInfo, catalog
from vertex_batch.catalog_render import stale
from vertex_batch.costs import USAGE_PLACEHOLDERS, Usage, model_cost, model_cost_sql

pytestmark = pytest.mark.unit

COMMON = {
    "publisher": "google",
    "kind": "generate",
    "lifecycle_source": "s",
    "locations_source": "s",
    "batch_io": ["bigquery"],
    "io_source": "s",
    "limits_source": "s",
}
#: A Gemini-like model: two prices over time, a long-context tier from 2026-07-01, cache not stacking.
GEMINI = ModelInfo.model_validate(
    {
        **COMMON,
        "id": "g",
        "name": "G",
        "family": "gemini",
        "discounts": {"batch": 0.5, "flex": 0.5, "cache_stacks": False, "source": "s"},
        "prices": [
            {"effective": date(2026, 1, 1), "input": 1.0, "output": 10.0, "cached_input": 0.1, "source": "s"},
            {"effective": date(2026, 7, 1), "input": 2.0, "output": 20.0, "cached_input": 0.2, "source": "s"},
            {
                "effective": date(2026, 7, 1),
                "prompt_tokens_above": 200_000,
                "input": 4.0,
                "output": 30.0,
                "cached_input": 0.4,
                "source": "s",
            },
        ],
    }
)
#: A Claude-like model: cache reads and writes priced apart, both discounted in batch.
CLAUDE = ModelInfo.model_validate(
    {
        **COMMON,
        "id": "c",
        "name": "C",
        "family": "claude",
        "discounts": {"batch": 0.5, "cache_stacks": True, "source": "s"},
        "prices": [
            {
                "effective": date(2026, 1, 1),
                "input": 3.0,
                "output": 15.0,
                "cached_input": 0.3,
                "cache_write": 3.75,
                "source": "s",
            }
        ],
    }
)

# (model, usage, day, lane, hand-calculated USD)
HAND_EXAMPLES = [
    # before July: 600 uncached x 1 x 0.5 + 50 tool-use x 1 x 0.5 + 400 cached x 0.1 (cache wins, no batch share)
    # + (200 + 300) x 10 x 0.5 = 2865 per 1M
    (
        GEMINI,
        Usage(prompt=1000, candidates=200, thoughts=300, cached_content=400, tool_use_prompt=50),
        date(2026, 3, 1),
        "batch",
        0.002865,
    ),
    # the same on the July price: doubled
    (
        GEMINI,
        Usage(prompt=1000, candidates=200, thoughts=300, cached_content=400, tool_use_prompt=50),
        date(2026, 8, 1),
        "batch",
        0.00573,
    ),
    # July, above 200k prompt tokens: 200000 x 4 x 0.5 + 100000 x 0.4 + 2000 x 30 x 0.5 = 470000 per 1M
    (
        GEMINI,
        Usage(prompt=300_000, candidates=1000, thoughts=1000, cached_content=100_000),
        date(2026, 8, 1),
        "batch",
        0.47,
    ),
    # online pays the whole price: 1000 x 2 + 100 x 20 = 4000 per 1M
    (GEMINI, Usage(prompt=1000, candidates=100), date(2026, 8, 1), "online", 0.004),
    # Flex pays the Flex share
    (GEMINI, Usage(prompt=1000, candidates=100), date(2026, 8, 1), "flex", 0.002),
    # Claude: 500 uncached x 3 x 0.5 + 200 written x 3.75 x 0.5 + 300 read x 0.3 x 0.5 + 100 x 15 x 0.5 = 1845 per 1M
    (
        CLAUDE,
        Usage(prompt=1000, candidates=100, cached_content=300, cache_write=200),
        date(2026, 3, 1),
        "batch",
        0.00192,
    ),
]


def duck(sql: str) -> object:
    """Evaluate a BigQuery cost expression in DuckDB (only the NULL type's name differs)."""
    (value,) = duckdb.sql(f"select cast({sql.replace('float64', 'double')} as double)").fetchone()
    return value


@pytest.mark.parametrize(("info", "usage", "day", "lane", "expected"), HAND_EXAMPLES)
def test_python_cost_matches_the_hand_calculation(
    info: ModelInfo, usage: Usage, day: date, lane: str, expected: float
) -> None:
    assert model_cost(info, usage, day, lane) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


@pytest.mark.parametrize(("info", "usage", "day", "lane", "expected"), HAND_EXAMPLES)
def test_sql_cost_formula_matches_python(info: ModelInfo, usage: Usage, day: date, lane: str, expected: float) -> None:
    sql = model_cost_sql(info)
    assert sql is not None
    for name in USAGE_PLACEHOLDERS:
        sql = sql.replace("{" + name + "}", f"({getattr(usage, name)})")
    sql = sql.replace("{processed_time}", f"timestamp '{day.isoformat()} 12:00:00'").replace("{lane}", f"'{lane}'")
    assert duck(sql) == pytest.approx(expected, rel=1e-12)


def test_a_row_processed_before_any_price_costs_nothing_known() -> None:
    assert model_cost(GEMINI, Usage(prompt=10), date(2025, 1, 1)) is None
    sql = model_cost_sql(GEMINI)
    assert sql is not None
    for name in USAGE_PLACEHOLDERS:
        sql = sql.replace("{" + name + "}", "1")
    sql = sql.replace("{processed_time}", "timestamp '2025-01-01'").replace("{lane}", "'batch'")
    assert duck(sql) is None


def test_every_current_model_of_the_catalog_is_priced_in_sql_like_python() -> None:
    today = catalog().checked
    usage = Usage(prompt=5000, candidates=700, thoughts=300, cached_content=1000)
    for info in catalog().models:
        if info.status(today) == "retired" or info.price_at(today) is None:
            continue
        sql = model_cost_sql(info)
        assert sql is not None
        for name in USAGE_PLACEHOLDERS:
            sql = sql.replace("{" + name + "}", f"({getattr(usage, name)})")
        sql = sql.replace("{processed_time}", f"timestamp '{today.isoformat()}'").replace("{lane}", "'batch'")
        assert duck(sql) == pytest.approx(model_cost(info, usage, today), rel=1e-12), info.id


def test_the_generated_dbt_macro_and_readme_table_are_fresh() -> None:
    assert stale() == [], "run: python -m vertex_batch.catalog_render --write"


def test_usage_reads_camel_and_snake_case_metadata() -> None:
    metadata = {
        "promptTokenCount": 10,
        "candidates_token_count": 3,
        "thoughtsTokenCount": 4,
        "cachedContentTokenCount": 2,
    }
    assert Usage.from_metadata(metadata) == Usage(prompt=10, candidates=3, thoughts=4, cached_content=2)
    assert Usage.from_metadata(None) == Usage()
