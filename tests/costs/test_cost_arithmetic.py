"""The price table and the cost formula: Python and the SQL rendered for dbt agree with hand calculations."""

from __future__ import annotations

import duckdb
import pytest

from vertex_batch.costs import (
    PRICES_MACRO_FILE,
    USAGE_PLACEHOLDERS,
    Usage,
    load_prices,
    model_key,
    price_for,
    render_price_macro,
    unknown_price_warning,
)

pytestmark = pytest.mark.unit

# (model, usage, hand-calculated batch USD)
HAND_EXAMPLES = [
    # 2.5 Pro, thinking and implicit cache: 600 uncached x 1.25 x 0.5 + 50 tool-use x 1.25 x 0.5
    # + 400 cached x 0.125 (no batch discount on top) + (200 + 300) x 10 x 0.5 = 2956.25 per 1M
    (
        "gemini-2.5-pro",
        Usage(prompt=1000, candidates=200, thoughts=300, cached_content=400, tool_use_prompt=50),
        0.00295625,
    ),
    # 2.5 Pro above 200k prompt tokens: 200000 x 2.5 x 0.5 + 100000 x 0.25 + 2000 x 15 x 0.5 = 290000 per 1M
    ("gemini-2.5-pro", Usage(prompt=300_000, candidates=1000, thoughts=1000, cached_content=100_000), 0.29),
    # 2.5 Flash: 976 x 0.3 x 0.5 + 1024 x 0.03 + 600 x 2.5 x 0.5 = 927.12 per 1M
    (
        "publishers/google/models/gemini-2.5-flash@001",
        Usage(prompt=2000, candidates=100, thoughts=500, cached_content=1024),
        0.00092712,
    ),
    # 2.0 Flash, no thinking, no cache: 1000 x 0.15 x 0.5 + 100 x 0.6 x 0.5 = 105 per 1M
    ("gemini-2.0-flash-001", Usage(prompt=1000, candidates=100), 0.000105),
]


@pytest.mark.parametrize(("model", "usage", "expected"), HAND_EXAMPLES)
def test_python_cost_matches_the_hand_calculation(model: str, usage: Usage, expected: float) -> None:
    price = price_for(model)
    assert price is not None
    assert price.row_cost(usage) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("model", "usage", "expected"), HAND_EXAMPLES)
def test_sql_cost_formula_matches_python(model: str, usage: Usage, expected: float) -> None:
    price = price_for(model)
    assert price is not None
    sql = price.cost_sql()
    for name in USAGE_PLACEHOLDERS:
        sql = sql.replace("{" + name + "}", f"({getattr(usage, name)})")
    (value,) = duckdb.sql(f"select cast({sql} as double)").fetchone()
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(price.row_cost(usage), rel=1e-12)


def test_the_dbt_macro_is_generated_from_prices_csv() -> None:
    assert PRICES_MACRO_FILE.read_text() == render_price_macro(), (
        "macros/_internal/prices.sql is stale: python -m vertex_batch.costs > macros/_internal/prices.sql"
    )


def test_every_price_has_a_date_and_a_source() -> None:
    for price in load_prices().values():
        assert price.tiers[0].prompt_tokens_above == 0
        for tier in price.tiers:
            assert len(tier.effective_date) == 10 and tier.effective_date[4] == "-"
            assert tier.source.startswith("https://")
            assert tier.cached_input_per_million <= tier.input_per_million


def test_an_unknown_model_has_no_price_and_a_one_line_warning() -> None:
    assert price_for("gemini-9-ultra") is None
    warning = unknown_price_warning("gemini-9-ultra")
    assert "\n" not in warning and "gemini-9-ultra" in warning and "--max-cost" in warning


def test_model_names_are_matched_without_prefix_version_or_suffix() -> None:
    assert model_key("publishers/google/models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert model_key("gemini-2.0-flash-001@default") == "gemini-2.0-flash"
    assert model_key("gemini-2.5-flash-lite") == "gemini-2.5-flash-lite"


def test_usage_reads_camel_and_snake_case_metadata() -> None:
    metadata = {
        "promptTokenCount": 10,
        "candidates_token_count": 3,
        "thoughtsTokenCount": 4,
        "cachedContentTokenCount": 2,
    }
    assert Usage.from_metadata(metadata) == Usage(prompt=10, candidates=3, thoughts=4, cached_content=2)
    assert Usage.from_metadata(None) == Usage()
