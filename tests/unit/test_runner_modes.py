"""``build``, ``submit`` and ``resume`` over fakes: waves, what dbt builds when, idempotent submits, and a run
that a scheduler advances one ``resume`` at a time until the downstream models are built."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.unit.fakes import FakeBackends, World, fail_first
from vertex_batch.errors import BudgetExceeded, RequestTableError
from vertex_batch.manifest import Manifest, ModelNode
from vertex_batch.report import EXIT_BUDGET, EXIT_OK, EXIT_PARTIAL, EXIT_RUNNING
from vertex_batch.runner import BuildOptions, Runner

pytestmark = pytest.mark.unit
REQUESTS = {"requests_a": 5, "requests_b": 3}


def node(name: str, deps: tuple[str, ...] = (), request: bool = False) -> ModelNode:
    meta = {"vertex_batch": {"key": ["id"], "max_rows_per_job": 2, "model": "gemini-3.5-flash"}} if request else {}
    return ModelNode(f"model.p.{name}", name, "p", "ds", name, deps, meta)


# requests_a → answers_a → requests_b → report: two waves.
MANIFEST = Manifest(
    models={
        n.unique_id: n
        for n in (
            node("requests_a", request=True),
            node("answers_a", ("model.p.requests_a",)),
            node("requests_b", ("model.p.answers_a",), request=True),
            node("report", ("model.p.requests_b",)),
        )
    }
)


@dataclass
class FakeDbt:
    """dbt as the runner drives it: building ``+requests_x`` creates that request table."""

    world: World
    builds: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)

    def parse(self) -> Manifest:
        return MANIFEST

    def project_vars(self) -> dict:
        return {}

    def select(self, selectors, excludes=()) -> set[str]:
        return set(MANIFEST.models)

    def build(self, selectors, excludes=()) -> None:
        self.builds.append((tuple(selectors), tuple(excludes)))
        for selector in selectors:
            name = selector.lstrip("+")
            if name in REQUESTS:
                self.world.warehouse.requests[name] = [f"{name}-{i}" for i in range(REQUESTS[name])]


def FakeRunner(world: World, dbt: FakeDbt, run_id: str = "r1", **options: object) -> Runner:
    """The real runner, its adapters from a factory of fakes."""
    settings: dict = {"max_concurrent_jobs": 4, "poll_seconds": 5.0, "retry_backoff_seconds": 30.0, **options}
    built = BuildOptions(run_id=run_id, **settings)
    return Runner(dbt, built, FakeBackends(world), clock=world.clock)


def downstream_built(dbt: FakeDbt) -> bool:
    return any(selectors == ("*",) for selectors, _ in dbt.builds)


def test_build_runs_both_waves_then_downstream() -> None:
    world = World()
    dbt = FakeDbt(world)
    report = FakeRunner(world, dbt).build()
    assert [selectors for selectors, _ in dbt.builds] == [("+requests_a",), ("+requests_b",), ("*",)]
    assert dbt.builds[-1][1] == ("+requests_a", "+requests_b"), "downstream only: request models excluded"
    for name, rows in REQUESTS.items():
        assert len(world.warehouse.answered(name)) == rows
    assert report.exit_code == EXIT_OK
    assert {model.request_model: model.successful_rows for model in report.models} == REQUESTS


def test_submit_returns_at_once_and_twice_creates_no_job() -> None:
    world = World(duration=100.0)
    dbt = FakeDbt(world)
    first = FakeRunner(world, dbt, run_id="r1").submit()
    assert first.still_running and first.exit_code == EXIT_RUNNING
    assert len(world.jobs.creates) == 3, "requests_a: 5 rows, 2 a job"
    assert [selectors for selectors, _ in dbt.builds] == [("+requests_a",)], "submit builds the first wave only"
    world.clock.t = 1.0
    second = FakeRunner(world, dbt, run_id="r2").submit()
    assert len(world.jobs.creates) == 3, "a repeated submit creates no job"
    assert second.run_id == "r1", "and names the run it found in flight"


def test_resume_one_pass_at_a_time_until_downstream_is_built() -> None:
    world = World(duration=10.0, responder=fail_first(1, keys={"requests_a-0"}))
    dbt = FakeDbt(world)
    FakeRunner(world, dbt, run_id="r1").submit()
    codes = []
    for _ in range(20):
        world.clock.t += 11.0
        report = FakeRunner(world, dbt, run_id="r1").resume(wait=False)
        codes.append(report.exit_code)
        if report.exit_code != EXIT_RUNNING:
            break
    assert codes[-1] in (EXIT_OK, EXIT_PARTIAL) and set(codes[:-1]) == {EXIT_RUNNING}
    assert [selectors for selectors, _ in dbt.builds] == [("+requests_a",), ("+requests_b",), ("*",)]
    assert world.warehouse.answered("requests_a") == set(world.warehouse.requests["requests_a"])
    assert world.warehouse.answered("requests_b") == set(world.warehouse.requests["requests_b"])
    assert Counter(world.warehouse.landed_keys("requests_a"))["requests_a-0"] == 2, "retried once, landed once each"
    assert max(Counter(world.warehouse.landed_keys("requests_b")).values()) == 1

    again = FakeRunner(world, dbt, run_id="r1").resume(wait=False)
    assert again.exit_code == EXIT_OK and not again.jobs, "any number of resumes land each row once"
    assert sum(1 for selectors, _ in dbt.builds if selectors == ("*",)) == 2


def test_resume_with_wait_is_the_rest_of_build() -> None:
    world = World(duration=10.0)
    dbt = FakeDbt(world)
    FakeRunner(world, dbt, run_id="r1").submit()
    report = FakeRunner(world, dbt, run_id="r1").resume(wait=True)
    assert report.exit_code == EXIT_OK and downstream_built(dbt)
    assert len(world.jobs.creates) == 3 + 2


def test_resume_before_any_submit_says_what_to_build() -> None:
    world = World()
    with pytest.raises(RequestTableError, match="build it with dbt first"):
        FakeRunner(world, FakeDbt(world)).resume()


def test_a_budget_refuses_an_unpriced_model_before_any_job() -> None:
    """The real wiring: the runner asks the cost model, then its budget, before anything is staged."""
    world = World()
    world.costs.unpriced = frozenset({"gemini-3.5-flash"})
    dbt = FakeDbt(world)
    with pytest.raises(BudgetExceeded, match="no price"):
        FakeRunner(world, dbt, max_cost=5.0).build()
    assert world.jobs.creates == [] and world.warehouse.staged == []


def test_a_budget_below_the_estimate_submits_nothing() -> None:
    world = World()
    dbt = FakeDbt(world)
    with pytest.raises(BudgetExceeded, match="nothing more was submitted"):
        FakeRunner(world, dbt, max_cost=0.01).build()
    assert world.jobs.creates == []


def test_a_budget_stops_a_retry_round_and_the_exit_code_says_so() -> None:
    world = World(responder=fail_first(1, keys={"requests_a-0"}))
    dbt = FakeDbt(world)
    report = FakeRunner(world, dbt, max_cost=0.055).build()
    assert report.exit_code == EXIT_BUDGET and "above --max-cost" in report.budget_stop
    assert len(world.jobs.creates) == 3, "requests_a: 5 rows in jobs of 2 at 1 cent a row; the retry would cross"
    assert not downstream_built(dbt), "a stopped run builds nothing downstream"
