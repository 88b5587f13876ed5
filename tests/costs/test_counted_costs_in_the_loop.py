"""The counted cost model inside the job loop, over the loop's in-memory fakes: estimates per job, the exact
spend of landed jobs, and the budget that stops before a crossing job or retry round (rows kept)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tests.unit.fakes import FakeWarehouse, World, fail_first, request_model
from vertex_batch.budget import Budget
from vertex_batch.catalog import catalog, utc_today
from vertex_batch.errors import BudgetExceeded
from vertex_batch.estimate import CountedCosts
from vertex_batch.job_loop import JobLoop, LoopOptions
from vertex_batch.jobs import JobSnapshot
from vertex_batch.report import BuildReport
from vertex_batch.request_models import BatchSettings, Landed, Pending, RequestModel, StagedInput

pytestmark = pytest.mark.unit

TOKENS_PER_ROW = 1000


@dataclass
class CannedWarehouse:
    """Answers the estimate's queries: rows to count, past answers (output + thoughts per row), settings."""

    past_output: list[int]
    queries: list[str] = field(default_factory=list)

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        self.queries.append(sql)
        if "usageMetadata" in sql:
            return [(tokens, "gemini-3.5-flash-001@default", TOKENS_PER_ROW, 0) for tokens in self.past_output]
        if "maxOutputTokens" in sql:
            return [(0, 0, 0, 0, 0, 0)]
        return [(json.dumps({"contents": [{"parts": [{"text": "x"}]}]}), 40)] * 10


class FixedCounter:
    def count(self, model: str, request: dict[str, Any]) -> int:
        return TOKENS_PER_ROW


def loop_with(world: World, costs: CountedCosts, budget: Budget | None) -> JobLoop:
    return JobLoop(
        jobs=world.jobs,
        warehouse=world.warehouse,
        ledger=world.ledger,
        costs=costs,
        options=LoopOptions(run_id="r1", max_concurrent_jobs=1, poll_seconds=5.0, retry_backoff_seconds=1.0),
        report=BuildReport(run_id="r1", dry_run=False),
        clock=world.clock,
        **({"budget": budget} if budget else {}),
    )


FLASH = catalog().get("gemini-3.5-flash")


def flash_per_row(output_tokens: int) -> float:
    price = FLASH.price_at(utc_today())
    assert price is not None
    return (TOKENS_PER_ROW * price.input + output_tokens * price.output) * FLASH.discounts.batch / 1e6


def test_each_job_carries_its_counted_estimate() -> None:
    world = World()
    model = world.add(request_model(per_job=5), 10)
    costs = CountedCosts(lambda _: CannedWarehouse([400]), lambda _: FixedCounter())
    loop = loop_with(world, costs, None)
    world.settle(loop, model, wait=True)
    estimates = [entry.estimated_cost_usd for entry in world.ledger.rows.values()]
    assert estimates == pytest.approx([5 * flash_per_row(400)] * 2)
    assert "past answers of gemini-3.5-flash" in costs.estimates[model.name].output.basis


class ThinkingWarehouse(FakeWarehouse):
    """Landed answers thought more than the history suggested: 800 output + thought tokens a row."""

    def land(self, model: RequestModel, staged: StagedInput, snapshot: JobSnapshot, attempt: int) -> Landed:
        landed = super().land(model, staged, snapshot, attempt)
        answered = snapshot.successful
        return replace(landed, cost_usd=answered * flash_per_row(800))


def test_a_retry_round_that_would_cross_the_budget_is_not_submitted() -> None:
    world = World(responder=fail_first(1, keys={"reviews-00000"}))
    world.warehouse = ThinkingWarehouse(world.tables)
    model = world.add(request_model(per_job=10), 10)
    first_estimate, first_actual = 10 * flash_per_row(400), 9 * flash_per_row(800)
    retry_estimate = flash_per_row(400)
    limit = (first_actual + retry_estimate) * 0.99
    assert first_estimate < limit
    costs = CountedCosts(lambda _: CannedWarehouse([400]), lambda _: FixedCounter())
    loop = loop_with(world, costs, Budget(limit))
    world.settle(loop, model, wait=True)
    assert len(world.jobs.creates) == 1, "spent (exact) + the retry round's estimate is above the budget"
    assert "above --max-cost" in loop.report.budget_stop
    assert loop.report.models[0].actual_cost_usd == pytest.approx(first_actual)
    assert len(world.warehouse.answered(model.name)) == 9, "completed rows are kept"


def test_a_model_without_a_price_is_estimated_unpriced_and_warned_once() -> None:
    warnings: list[str] = []
    tuned = BatchSettings.from_meta(
        "tuned", {"key": "id", "model": "projects/p/locations/l/models/7", "family": "gemini"}
    )
    model = RequestModel("tuned", "p.ds.tuned", tuned)
    costs = CountedCosts(lambda _: CannedWarehouse([400]), lambda _: FixedCounter(), warn=warnings.append)
    for rows in (10, 11):
        estimate = costs.estimate(model, Pending(rows, f"f{rows}", 400, "select 1"))
        assert not estimate.priced and estimate.cost_usd == 0.0 and estimate.low_usd is None
    assert len(warnings) == 1 and "no price" in warnings[0]
    with pytest.raises(BudgetExceeded, match="no price"):
        Budget(100.0).check_priced(model.name, tuned.model, estimate.priced)
