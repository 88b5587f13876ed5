"""The estimate's arithmetic without a warehouse: stratified counts, output from history, unknown prices."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from vertex_batch.catalog import catalog, utc_today
from vertex_batch.estimate import CostEstimate, CountedCosts, InputCount, OutputGuess, output_from_history
from vertex_batch.request_models import BatchSettings, Landed, Pending, RequestModel
from vertex_batch.sampling import stratified_total
from vertex_batch.token_counting import RowRefused

pytestmark = pytest.mark.unit
FLASH = catalog().get("gemini-3.5-flash")
PRICE = FLASH.price_at(utc_today())
assert PRICE is not None and PRICE.cached_input is not None


def test_a_stratified_sample_lands_within_its_stated_error() -> None:
    rng = random.Random(7)
    sizes = sorted(rng.choice([200, 800, 3000, 12000]) + rng.randrange(100) for _ in range(10_000))
    tokens = [round(size / 3.7 + rng.gauss(0, size / 40)) for size in sizes]
    step = 50
    strata = [range(start, min(start + step, len(sizes))) for start in range(0, len(sizes), step)]
    picked = [stratum[len(stratum) // 2] for stratum in strata]
    total, error = stratified_total(
        [sum(sizes[i] for i in stratum) for stratum in strata],
        [tokens[i] for i in picked],
        [sizes[i] for i in picked],
    )
    truth = sum(tokens)
    assert abs(total - truth) <= error
    assert error / truth < 0.05


def test_output_from_history_is_mean_with_median_to_p90_range() -> None:
    guess = output_from_history(100, [10, 10, 10, 10, 100], "5 past answers")
    assert guess.tokens == 100 * 28
    assert guess.low == 100 * 10
    assert guess.high == 100 * 64
    assert "median 10.0" in guess.basis and "p90 64.0" in guess.basis


def test_an_estimate_prints_a_range_and_its_assumptions() -> None:
    estimate = CostEstimate(
        "gemini-3.5-flash",
        InputCount(rows=1000, tokens=200_000, error_tokens=4_000, counted_rows=200, method="sampled"),
        OutputGuess(tokens=50_000, low=40_000, high=90_000, basis="history"),
        FLASH,
        ("no implicit-cache discount",),
    )
    assert estimate.low_usd < estimate.cost_usd < estimate.high_usd
    assert estimate.cost_usd == pytest.approx((200_000 * PRICE.input + 50_000 * PRICE.output) * 0.5 / 1e6)
    flex = CostEstimate("gemini-3.5-flash", estimate.input, estimate.output, FLASH, lane="flex")
    online = CostEstimate("gemini-3.5-flash", estimate.input, estimate.output, FLASH, lane="online")
    assert flex.cost_usd == pytest.approx(estimate.cost_usd) and online.cost_usd == pytest.approx(2 * estimate.cost_usd)
    text = "\n".join(estimate.describe())
    assert "± 4000" in text and "range $" in text and "assumption: no implicit-cache discount" in text


@dataclass
class CannedRunner:
    """Answers every query with the same rows."""

    rows: list[tuple[Any, ...]]
    queries: list[str] = field(default_factory=list)

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        self.queries.append(sql)
        return self.rows


def request_model(gemini: str) -> RequestModel:
    return RequestModel("reviews", "p.d.reviews", BatchSettings.from_meta("reviews", {"key": "id", "model": gemini}))


def test_a_model_without_a_price_is_one_warning_and_no_cost() -> None:
    warnings: list[str] = []
    costs = CountedCosts(runner_for=lambda _: CannedRunner([(1200,)]), counter_for=lambda _: None, warn=warnings.append)
    model = request_model("llama-4-scout-17b-16e-instruct-maas")
    assert FLASH.price_at(utc_today()) is not None and model.settings.info.price_at(utc_today()) is None
    costs.estimate(model, Pending(rows=0, fingerprint="f", query="SELECT 1"))
    costs.estimate(model, Pending(rows=0, fingerprint="f", query="SELECT 1"))
    assert len(warnings) == 1 and "llama-4-scout" in warnings[0]
    assert costs.actual(model, Landed(rows=1, prompt_tokens=10, candidate_tokens=2, total_tokens=12)) == 0.0


def test_status_sums_spent_and_in_flight_cost_per_request_model() -> None:
    from vertex_batch.ledger import LedgerEntry
    from vertex_batch.usage import summarize_costs

    def entry(model: str, landed: bool, actual: float, estimated: float) -> LedgerEntry:
        return LedgerEntry(
            job_name=f"j{actual}{estimated}",
            run_id="r",
            request_model=model,
            attempt=1,
            chunk=1,
            state="",
            input_table="",
            output_table="",
            rows_submitted=1,
            landed=landed,
            actual_cost_usd=actual,
            estimated_cost_usd=estimated,
        )

    summary = summarize_costs([entry("a", True, 0.25, 0.2), entry("a", False, 0.0, 0.5), entry("b", True, 1.0, 3.0)])
    assert summary.spent_usd == pytest.approx(1.25) and summary.in_flight_usd == pytest.approx(0.5)
    assert summary.by_model == {"a": (0.25, 0.5), "b": (1.0, 0.0)}
    lines = summary.describe()
    assert lines[0] == "cost: $1.2500 spent, ~$0.5000 estimated in flight"
    assert lines[1:] == ["  a: $0.2500 spent, ~$0.5000 estimated in flight", "  b: $1.0000 spent"]
    assert summary.to_json()["by_request_model"]["b"]["spent_usd"] == 1.0


def test_counting_stops_at_the_first_failure_that_is_not_a_refused_row() -> None:
    from vertex_batch.token_counting import count_input

    calls: list[int] = []

    class Denied:
        def count(self, model: str, request: dict[str, Any]) -> int:
            calls.append(1)
            raise PermissionError("aiplatform.endpoints.predict denied")

    rows = [('{"contents": []}', 400)] * 50
    counted = count_input(CannedRunner(rows), "SELECT 1", 50, "gemini-3.5-flash", Denied())
    assert counted.tokens == 50 * 100, "bytes / 4 for every row"
    assert len(calls) < 50 and "denied" in counted.method


def test_a_refused_row_falls_back_alone() -> None:
    from vertex_batch.token_counting import count_input

    class RefusesOne:
        def count(self, model: str, request: dict[str, Any]) -> int:
            if not request.get("contents"):
                raise RowRefused("contents is required")
            return 7

    rows = [('{"contents": [1]}', 400)] * 9 + [('{"contents": []}', 400)]
    counted = count_input(CannedRunner(rows), "SELECT 1", 10, "gemini-3.5-flash", RefusesOne())
    assert counted.tokens == 9 * 7 + 100 and "1 row(s) could not be counted" in counted.method


def test_the_cached_share_of_past_answers_prices_that_input_at_the_cache_price() -> None:
    estimate = CostEstimate(
        "gemini-3.5-flash",
        InputCount(rows=100, tokens=100_000, error_tokens=0, counted_rows=100, method="counted"),
        OutputGuess(tokens=1_000, low=1_000, high=1_000, basis="history"),
        FLASH,
        cached_share=0.75,
    )
    # 25,000 uncached x input x 0.5 + 75,000 cached x cached input (no batch share) + 1,000 x output x 0.5
    expected = 25_000 * PRICE.input * 0.5 + 75_000 * PRICE.cached_input + 1_000 * PRICE.output * 0.5
    assert estimate.cost_usd == pytest.approx(expected / 1e6)
    top = (100_000 * PRICE.input + 1_000 * PRICE.output) * 0.5 / 1e6
    assert estimate.high_usd == pytest.approx(top), "no cache at the top"
