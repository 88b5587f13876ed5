"""The lane of a request model's pending rows (``lanes.choose_lane``) and the Flex lane run by the real ``Runner``
over fakes: rows land once under ``flex/<run id>/...`` job names with landed ledger rows, retryable failures get
later rounds, standard-served calls land at the online price, the budget stops waves, Ctrl-C lands what finished
and a rerun asks only what is missing."""

from __future__ import annotations

import _thread
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.unit.fakes import BAD_ROLE, FakeBackends, FakeCosts, FakeLanes, FakeOnlineCaller, World, fail_first
from vertex_batch.errors import ConfigurationError
from vertex_batch.lanes import choose_lane, lane_of_job
from vertex_batch.manifest import Manifest, ModelNode
from vertex_batch.ports import Silent
from vertex_batch.regions import CONFIGURED_SOURCE, Region
from vertex_batch.report import EXIT_BUDGET, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from vertex_batch.request_models import BatchSettings
from vertex_batch.runner import BuildOptions, Runner

pytestmark = pytest.mark.unit
FLEX_MODEL, NO_FLEX_MODEL = "gemini-3.5-flash", "gemini-4-argon"


def settings(model: str = FLEX_MODEL, **meta: object) -> BatchSettings:
    return BatchSettings.from_meta("m", {"key": "id", "model": model, **meta})


# --- the choice ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chosen", "rows", "region", "lane", "why"),
    [
        (settings(), 3, None, "flex", ["3 pending rows", "flex_max_rows 500", FLEX_MODEL]),
        (settings(), 500, Region("us-central1", "derived from dataset location US", True), "flex", ["500"]),
        (settings(), 501, None, "batch", ["501 pending rows", "flex_max_rows 500"]),
        (settings(flex_max_rows=10), 11, None, "batch", ["flex_max_rows 10"]),
        (settings(NO_FLEX_MODEL), 3, None, "batch", [NO_FLEX_MODEL, "no Flex"]),
        (settings("claude-sonnet-5"), 3, None, "batch", ["claude"]),
        (settings("gemini-embedding-001"), 3, None, "batch", ["gemini-embedding"]),
        (settings(), 3, Region("europe-west4", "--location"), "batch", ["europe-west4", "global endpoint"]),
        (settings(), 3, Region("us-central1", CONFIGURED_SOURCE), "batch", ["us-central1"]),
        (settings(), 3, Region("global", "--location"), "flex", ["3 pending rows"]),
        (settings(), 3, Region("us-central1", "$VERTEX_BATCH_LOCATION"), "flex", ["3 pending rows"]),
        (settings(lane="batch"), 3, None, "batch", ["lane batch"]),
        (settings(lane="flex"), 5000, Region("europe-west4", "--location"), "flex", ["lane flex"]),
        (settings(lane="online"), 3, None, "online", ["standard price"]),
    ],
)
def test_the_lane_and_why(chosen: BatchSettings, rows: int, region: Region | None, lane: str, why: list) -> None:
    choice = choose_lane(chosen, rows, region)
    assert choice.lane == lane
    assert all(part in choice.reason for part in why), choice.reason
    assert choice.describe().startswith(f"{lane}: ")


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (settings(NO_FLEX_MODEL, lane="flex"), "has no Flex"),
        (settings("claude-sonnet-5", lane="online"), "claude"),
        (settings("text-embedding-005", lane="flex"), "text-embedding"),
    ],
)
def test_a_lane_the_model_cannot_take_is_refused_in_one_line(chosen: BatchSettings, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        choose_lane(chosen, 3)


def test_a_bad_lane_setting_names_the_key() -> None:
    with pytest.raises(Exception, match="lane"):
        settings(lane="fast")


def test_job_names_tell_the_lane() -> None:
    assert lane_of_job("flex/2026/reviews/a1/0001") == "flex"
    assert lane_of_job("online/2026/reviews/a1/0001") == "online"
    assert lane_of_job("projects/p/locations/global/batchPredictionJobs/7") == "batch"


# --- the Flex lane through the runner --------------------------------------------------------------------------
@dataclass
class OneModelDbt:
    """A project with one request model ``reviews`` of ``rows`` rows and one downstream model."""

    world: World
    rows: int
    meta: dict = field(default_factory=dict)
    builds: list[tuple[str, ...]] = field(default_factory=list)

    def parse(self) -> Manifest:
        meta = {"vertex_batch": {"key": ["id"], "model": FLEX_MODEL, **self.meta}}
        nodes = [
            ModelNode("model.p.reviews", "reviews", "p", "ds", "reviews", (), meta),
            ModelNode("model.p.answers", "answers", "p", "ds", "answers", ("model.p.reviews",), {}),
        ]
        return Manifest(models={node.unique_id: node for node in nodes})

    def project_vars(self) -> dict:
        return {}

    def select(self, selectors, excludes=()) -> set[str]:
        return set(self.parse().models)

    def build(self, selectors, excludes=()) -> None:
        self.builds.append(tuple(selectors))
        if "+reviews" in selectors:
            self.world.warehouse.requests.setdefault("reviews", [f"r-{i:03d}" for i in range(self.rows)])


class Lines(Silent):
    """A progress sink that keeps its messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def flex_run(world: World, dbt: OneModelDbt, caller: FakeOnlineCaller, run_id: str = "r1", **options) -> Runner:
    settings_ = {"max_concurrent_jobs": 4, "poll_seconds": 5.0, "retry_backoff_seconds": 30.0, **options}
    backends = FakeBackends(world, lanes=FakeLanes(world.warehouse, caller))
    return Runner(dbt, BuildOptions(run_id=run_id, **settings_), backends, Lines(), clock=world.clock)


def test_auto_answers_a_small_delta_through_flex_and_lands_it_like_a_job() -> None:
    world, caller = World(), FakeOnlineCaller()
    dbt = OneModelDbt(world, rows=40)
    report = flex_run(world, dbt, caller).build()
    assert report.exit_code == EXIT_OK and dbt.builds[-1] == ("*",), "downstream built"
    assert world.jobs.creates == [], "no batch job"
    assert Counter(world.warehouse.landed_keys("reviews")) == Counter(set(caller.calls)), "each row landed once"
    assert len(caller.calls) == 40
    (model,) = report.models
    assert (model.lane, model.submitted_rows, model.successful_rows) == ("flex", 40, 40)
    assert "40 pending rows" in model.lane_reason
    entries = list(world.ledger.rows.values())
    assert entries and all(entry.landed and entry.job_name.startswith("flex/r1/reviews/a1/") for entry in entries)
    assert sum(entry.rows_submitted for entry in entries) == 40
    assert sum(entry.actual_cost_usd for entry in entries) == pytest.approx(0.40)
    status = flex_run(world, dbt, caller).status("r1")
    assert {row["lane"] for row in status.jobs} == {"flex"} and world.jobs.gets == [], "no job service asked"
    assert status.cost.spent_usd == pytest.approx(0.40)

    again = flex_run(world, dbt, caller, run_id="r2").build()
    assert len(caller.calls) == 40 and again.exit_code == EXIT_OK, "a rerun asks nothing already answered"


def test_more_rows_than_flex_max_rows_go_to_a_batch_job() -> None:
    world, caller = World(), FakeOnlineCaller()
    report = flex_run(world, OneModelDbt(world, rows=12, meta={"flex_max_rows": 10}), caller).build()
    assert caller.calls == [] and len(world.jobs.creates) == 1
    assert report.models[0].lane == "batch" and "12 pending rows" in report.models[0].lane_reason


def test_retryable_failures_get_later_rounds_and_permanent_ones_none() -> None:
    responder = fail_first(1, keys={"r-000", "r-001"})
    world = World()
    caller = FakeOnlineCaller(responder=lambda key, n: BAD_ROLE if key == "r-002" else responder(key, n))
    report = flex_run(world, OneModelDbt(world, rows=5), caller).build()
    calls = Counter(caller.calls)
    assert (calls["r-000"], calls["r-001"], calls["r-002"], calls["r-003"]) == (2, 2, 1, 1)
    assert world.warehouse.answered("reviews") == {"r-000", "r-001", "r-003", "r-004"}
    assert report.exit_code == EXIT_PARTIAL and report.models[0].failed_rows == 1
    assert world.clock.sleeps == [30.0], "the retry round waited the backoff"
    assert {entry.attempt for entry in world.ledger.rows.values()} == {1, 2}


def test_retryable_failures_stop_after_max_attempts() -> None:
    world = World()
    caller = FakeOnlineCaller(responder=fail_first(10, keys={"r-000"}))
    flex_run(world, OneModelDbt(world, rows=2, meta={"max_attempts": 2}), caller).build()
    assert Counter(caller.calls)["r-000"] == 2


def test_a_flex_call_served_at_the_standard_price_lands_as_online_with_one_warning() -> None:
    world = World()
    caller = FakeOnlineCaller(traffic=lambda key: "ON_DEMAND" if key in {"r-001", "r-003"} else "ON_DEMAND_FLEX")
    runner = flex_run(world, OneModelDbt(world, rows=6), caller)
    runner.build()
    lines = runner.progress.lines
    landed = {row["key"]: row["job"] for row in world.warehouse.landing["reviews"]}
    assert {key for key, job in landed.items() if job.startswith("online/r1/")} == {"r-001", "r-003"}
    assert all(landed[key].startswith("flex/r1/") for key in ("r-000", "r-002", "r-004", "r-005"))
    assert sum("served as standard" in line for line in lines) == 1
    assert any(line.startswith("reviews: flex: 6 pending rows") for line in lines), "progress says the lane"


class DearCosts(FakeCosts):
    """Answers cost three times their estimate."""

    def actual(self, model, landed) -> float:
        return 3 * super().actual(model, landed)


def test_the_budget_is_asked_before_each_wave() -> None:
    world = World(costs=DearCosts())
    caller = FakeOnlineCaller()
    dbt = OneModelDbt(world, rows=10)
    report = flex_run(world, dbt, caller, max_cost=0.15, online_concurrency=1).build()
    assert report.exit_code == EXIT_BUDGET and "flex wave" in report.budget_stop
    assert len(caller.calls) == 4, "one wave of 4 calls (1 slot) cost $0.12; the next would cross $0.15"
    assert len(world.warehouse.answered("reviews")) == 4, "landed rows are kept"
    assert world.jobs.creates == [] and ("*",) not in dbt.builds, "a stopped run builds nothing downstream"


def test_ctrl_c_lands_what_finished_and_a_rerun_asks_only_the_rest() -> None:
    world = World()
    caller = FakeOnlineCaller(during=lambda number: number == 5 and _thread.interrupt_main())
    dbt = OneModelDbt(world, rows=20)
    first = flex_run(world, dbt, caller, online_concurrency=2).build()
    assert first.interrupted and first.exit_code == EXIT_INTERRUPTED
    landed_first = Counter(world.warehouse.landed_keys("reviews"))
    assert landed_first and max(landed_first.values()) == 1 and len(landed_first) < 20
    assert len(caller.calls) <= len(landed_first) + 2, "nothing issued after Ctrl-C beyond the calls in flight"

    caller.during = None
    again = flex_run(world, dbt, caller, run_id="r2").build()
    assert again.exit_code == EXIT_OK
    assert Counter(world.warehouse.landed_keys("reviews")) == Counter(set(world.warehouse.requests["reviews"]))
    calls = Counter(caller.calls)
    assert all(calls[key] == 1 for key in landed_first), "no row landed in the first run was asked again"


def test_rows_of_a_batch_job_still_in_flight_never_go_to_flex() -> None:
    world, caller = World(duration=10.0), FakeOnlineCaller()
    dbt = OneModelDbt(world, rows=8)
    flex_run(world, dbt, caller, lane="batch").submit()
    assert len(world.jobs.creates) == 1 and caller.calls == []
    report = flex_run(world, dbt, caller, run_id="r2").build()
    assert caller.calls == [], "the earlier job landed first; nothing was left pending"
    assert report.exit_code == EXIT_OK and len(world.warehouse.answered("reviews")) == 8


def test_dry_run_says_the_lane_and_calls_nothing() -> None:
    world, caller = World(), FakeOnlineCaller()
    runner = flex_run(world, OneModelDbt(world, rows=7), caller, dry_run=True)
    report = runner.build()
    assert caller.calls == [] and world.jobs.creates == []
    assert report.models[0].lane == "flex" and any("flex: 7 pending rows" in line for line in runner.progress.lines)


def test_the_run_lane_overrides_every_model() -> None:
    world, caller = World(), FakeOnlineCaller()
    report = flex_run(world, OneModelDbt(world, rows=3), caller, lane="batch").build()
    assert caller.calls == [] and len(world.jobs.creates) == 1 and report.models[0].lane == "batch"


def test_an_append_landed_without_its_ledger_row_gets_one_from_the_next_run() -> None:
    world, caller = World(), FakeOnlineCaller()
    dbt = OneModelDbt(world, rows=4)
    flex_run(world, dbt, caller).build()
    world.ledger.rows.clear()  # as if the run was killed between the landing append and its ledger row
    flex_run(world, dbt, caller, run_id="r2").build()
    entries = list(world.ledger.rows.values())
    assert sum(entry.rows_submitted for entry in entries) == 4 and len(caller.calls) == 4
    assert all(entry.landed and entry.run_id == "r1" for entry in entries), "recorded under the run that landed it"


NOT_FOUND = 'Not Found: {"error": {"code": 404, "message": "Publisher Model was not found.", "status": "NOT_FOUND"}}'


def test_calls_refused_as_such_hand_the_rows_of_auto_to_a_batch_job() -> None:
    world, caller = World(), FakeOnlineCaller(responder=lambda key, n: NOT_FOUND)
    report = flex_run(world, OneModelDbt(world, rows=6), caller, online_concurrency=2).build()
    assert report.exit_code == EXIT_OK and len(world.jobs.creates) == 1
    assert len(caller.calls) <= 2 + 1, "no call issued after the first refusal beyond those in flight"
    assert len(world.warehouse.answered("reviews")) == 6 and all(
        not row["job"].startswith("flex/") for row in world.warehouse.landing["reviews"]
    ), "a refused call never lands as a failed row"


def test_calls_refused_in_an_explicit_flex_lane_stop_the_run_in_one_line() -> None:
    world, caller = World(), FakeOnlineCaller(responder=lambda key, n: NOT_FOUND)
    with pytest.raises(ConfigurationError, match="flex calls are refused: Not Found"):
        flex_run(world, OneModelDbt(world, rows=6, meta={"lane": "flex"}), caller).build()
    assert world.warehouse.landing == {} and world.jobs.creates == []
