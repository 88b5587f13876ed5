"""``vertex-batch build | submit | resume | status | cancel``: build request models with dbt, run their batch jobs,
land answers, build downstream; report on and cancel a run.

The run goes in waves: a wave holds the request models whose inputs need no answer of a later wave. For each
wave: ``dbt build +R`` (validation tests included), then per request model: attach to jobs an earlier run left
unlanded, answer the rows not yet settled in the model's lane (``flex_lane.Lanes``: Flex PayGo calls for small
deltas, else batch jobs), submit batch jobs for the rest (chunked by ``max_rows_per_job``), and let the job loop
(``job_loop.JobLoop``) watch, land and retry. After the last wave the rest of the selection is built.

- ``build`` does all of it and waits (``submit`` then ``resume --wait``);
- ``submit`` builds the first wave, submits its jobs and returns;
- ``resume`` lands what finished, resubmits retryable rows, moves on to later waves and builds downstream once
  every job has landed; without ``wait`` it makes one pass and reports whether jobs still run.

The runner reaches BigQuery, Vertex AI and the ledger only through the adapters ``ports.Backends`` builds
(``wiring.CloudBackends`` at the edge, fakes in the unit tests).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from vertex_batch.budget import Budget
from vertex_batch.catalog import Lane
from vertex_batch.errors import ConfigurationError
from vertex_batch.flex_lane import Lanes
from vertex_batch.job_create import is_intent
from vertex_batch.job_loop import JobLoop, LoopOptions
from vertex_batch.landing import ledger_table
from vertex_batch.lanes import lane_of_job
from vertex_batch.ledger import LedgerEntry
from vertex_batch.lifecycle import check_models, served_in
from vertex_batch.manifest import Manifest, ModelNode
from vertex_batch.ports import Backends, Clock, JobService, ProgressSink, SystemClock
from vertex_batch.regions import ENV_LOCATION, Region, fit_location, run_region
from vertex_batch.report import BuildReport, ModelReport
from vertex_batch.request_models import Pending, RequestModel
from vertex_batch.run_guard import RunGuard
from vertex_batch.settings import MAX_COST_VAR, RequestModelDefaults, RunSettings
from vertex_batch.usage import CostSummary, summarize_costs
from vertex_batch.work import Phase


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


class Mode(StrEnum):
    BUILD = "build"
    SUBMIT = "submit"
    RESUME = "resume"


class DbtGraph(Protocol):
    """What the runner asks of dbt (``dbt_graph.DbtProject``)."""

    def parse(self) -> Manifest: ...

    def project_vars(self) -> dict[str, Any]: ...

    def select(self, selectors: Sequence[str], excludes: Sequence[str] = ()) -> set[str]: ...

    def build(self, selectors: Sequence[str], excludes: Sequence[str] = ()) -> None: ...


@dataclass(frozen=True)
class BuildOptions:
    """How a run behaves: the CLI's flags over ``settings.RunSettings`` (see ``resolve``)."""

    max_concurrent_jobs: int
    poll_seconds: float
    retry_backoff_seconds: float
    selectors: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    dry_run: bool = False
    max_cost: float | None = None
    full_refresh_predictions: bool = False
    detach: bool = False
    keep_tables: bool = False
    location: str | None = None
    run_id: str = field(default_factory=new_run_id)
    online_concurrency: int = RunSettings.model_fields["online_concurrency"].default
    lane: str | None = None  # every request model's lane in this run (None: each its own)
    lease_seconds: float = RunSettings.model_fields["lease_seconds"].default

    @classmethod
    def resolve(cls, settings: RunSettings | None = None, *, local: bool, **flags: Any) -> BuildOptions:
        """The options of a run: ``settings`` (flags > ``VERTEX_BATCH_*`` > defaults) for a local or cloud run."""
        settings = settings or RunSettings()
        chosen = {
            "max_concurrent_jobs": settings.max_concurrent_jobs,
            "poll_seconds": settings.poll(local),
            "retry_backoff_seconds": settings.backoff(local),
            "online_concurrency": settings.online_concurrency,
            "lane": settings.lane,
            "lease_seconds": settings.lease_seconds,
        }
        return cls(**{**chosen, **flags})


@dataclass(frozen=True)
class RunStatus:
    """``vertex-batch status``: a run's jobs as the service reports them, and its cost."""

    run_id: str | None
    jobs: list[dict[str, Any]]
    cost: CostSummary


class Runner:
    """Runs the commands of one dbt project over the adapters ``backends`` builds."""

    def __init__(
        self,
        dbt: DbtGraph,
        options: BuildOptions,
        backends: Backends,
        progress: ProgressSink | None = None,
        clock: Clock | None = None,
    ) -> None:
        from vertex_batch.ports import Silent

        self.dbt = dbt
        self.options = options
        self.backends = backends
        self.progress = progress or Silent()
        self.clock = clock or SystemClock()
        self.report = BuildReport(run_id=options.run_id, dry_run=options.dry_run)
        self.budget = Budget(self._max_cost())
        self.loop: JobLoop | None = None
        self.lanes: Lanes | None = None

    # --- the commands --------------------------------------------------------------------------------
    def build(self) -> BuildReport:
        """Everything, waiting for every job: ``submit`` followed by ``resume --wait``."""
        return self.run(Mode.BUILD, wait=True)

    def submit(self) -> BuildReport:
        """Build the first wave's request models, submit their jobs, return without waiting."""
        return self.run(Mode.SUBMIT, wait=False)

    def resume(self, wait: bool = False) -> BuildReport:
        """Land, retry, advance waves and build downstream; one pass unless ``wait``."""
        return self.run(Mode.RESUME, wait=wait)

    def latest_run(self) -> str | None:
        """The newest run id in the ledgers of the project's request models."""
        return max((entry.run_id for _, entry in self._ledger_entries()), default=None)

    def status(self, run_id: str | None = None) -> RunStatus:
        """The jobs of ``run_id`` (default: the latest run) as the service reports them, and the run's cost."""
        run_id = run_id or self.latest_run()
        found = [(table, entry) for table, entry in self._ledger_entries() if entry.run_id == run_id]
        jobs = []
        for table, entry in found:
            lane = lane_of_job(entry.job_name)  # calls of the Flex and online lanes: their ledger row says it all
            snapshot = self._job_service(table, entry).get(entry.job_name) if lane == "batch" else None
            jobs.append(
                {
                    "job": entry.job_name,
                    "request_model": entry.request_model,
                    "attempt": entry.attempt,
                    "chunk": entry.chunk,
                    "state": snapshot.state_name if snapshot else entry.state,
                    "rows": entry.rows_submitted,
                    "successful": snapshot.successful if snapshot else entry.successful_count,
                    "failed": snapshot.failed if snapshot else entry.failed_count,
                    "landed": entry.landed,
                    "lane": lane,
                }
            )
        return RunStatus(run_id, jobs, summarize_costs(entry for _, entry in found))

    def cancel(self, run_id: str | None = None) -> tuple[str | None, list[str]]:
        """Ask the service to cancel the unlanded jobs of ``run_id`` (default: the latest run)."""
        run_id = run_id or self.latest_run()
        live = [
            (table, entry) for table, entry in self._ledger_entries() if entry.run_id == run_id and not entry.landed
        ]
        for table, entry in live:
            self._job_service(table, entry).cancel(entry.job_name)
        return run_id, [entry.job_name for _, entry in live]

    def run(self, mode: Mode, wait: bool) -> BuildReport:
        manifest = self.dbt.parse()
        defaults = RequestModelDefaults.from_vars(self.dbt.project_vars())
        selected = (
            self.dbt.select(self.options.selectors, self.options.excludes)
            if (self.options.selectors or self.options.excludes)
            else None
        )
        nodes = manifest.request_models(selected)
        if not nodes:
            self.progress.message("no request models (meta.vertex_batch) selected; running dbt build only")
            if not self.options.dry_run and mode != Mode.SUBMIT:
                self.dbt.build(list(self.options.selectors) or ["*"], self.options.excludes)
            return self.report
        projects = sorted({node.database for node in nodes})
        if len(projects) > 1:
            raise ConfigurationError(
                f"the selected request models live in several projects ({', '.join(projects)}); "
                "select one project's request models per run (--select)"
            )
        project = projects[0]
        every = [self._request_model(node, defaults) for node in nodes]
        region = self._region(project, every)
        adapters = self.backends.adapters(project, region, dry_run=self.options.dry_run, warn=self.progress.message)
        self.loop = loop = JobLoop(
            jobs=adapters.jobs,
            warehouse=adapters.warehouse,
            ledger=adapters.ledger,
            costs=adapters.costs,
            options=LoopOptions(
                run_id=self.options.run_id,
                max_concurrent_jobs=self.options.max_concurrent_jobs,
                poll_seconds=self.options.poll_seconds,
                # Without waiting, the scheduler's interval between `resume` calls is the backoff.
                retry_backoff_seconds=self.options.retry_backoff_seconds if wait else 0.0,
                keep_tables=self.options.keep_tables,
            ),
            report=self.report,
            progress=self.progress,
            clock=self.clock,
            budget=self.budget,
        )
        self.lanes = Lanes(
            adapters.lanes,
            loop,
            self.budget,
            region,
            self.options.online_concurrency,
            loop.options.retry_backoff_seconds,
            override=self.options.lane,
            estimate=lambda model, pending, lane: self._estimate(loop, model, pending, lane),
        )
        lease_wait = mode != Mode.RESUME or wait  # `resume` alone exits 75 when another process holds the run
        options = self.options
        guard = RunGuard(loop, self.report, adapters.leases, options.lease_seconds, lease_wait, options.dry_run)
        try:
            guard.start(every)
            for index, wave in enumerate(manifest.waves(nodes)):
                wave = guard.waiting_on_refused(manifest, wave)
                models = [self._request_model(node, defaults) for node in wave]
                if models and self._needs_dbt_build(mode, index, models, loop):
                    names = ", ".join(node.name for node in wave)
                    self.progress.message(f"building request models and what they need: {names}")
                    self.dbt.build([f"+{node.name}" for node in wave])
                for model in models:
                    loop.warehouse.check(model)
                    plan = loop.warehouse.plan(model)
                    if plan is not None:
                        self.progress.message(f"{model.name}: {plan.describe()}")
                models = guard.admit(models)
                if self.options.dry_run:
                    for model in models:
                        self._dry_run(loop, model)
                    continue
                settled = self._run_wave(loop, models, wait)
                if self.budget.stopped:  # landed rows are kept; later waves and downstream models wait
                    self.report.budget_stop = self.budget.stopped
                    return self.report
                if mode == Mode.SUBMIT:
                    self._name_the_run(loop)
                if not settled:
                    self.report.still_running = True
                    return self.report
                if mode == Mode.SUBMIT:
                    return self.report
            if not self.options.dry_run and mode != Mode.SUBMIT:
                upstream = [f"+{node.name}" for node in nodes]
                self.progress.message("building the models downstream of the batch answers")
                excludes = [*self.options.excludes, *upstream, *guard.downstream_excludes()]
                self.dbt.build(list(self.options.selectors) or ["*"], excludes)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._interrupt(loop)
        finally:
            guard.finish()
        return self.report

    # --- before any job -------------------------------------------------------------------------------
    def _max_cost(self) -> float | None:
        """``--max-cost``, else the dbt var ``vertex_batch_max_cost`` (USD), else no budget."""
        if self.options.max_cost is not None:
            return self.options.max_cost
        value = self.dbt.project_vars().get(MAX_COST_VAR)
        try:
            return None if value in (None, "") else float(value)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"var {MAX_COST_VAR} must be a number of USD, not {value!r}") from error

    def _region(self, project: str, models: list[RequestModel]) -> Region:
        """The run's job location (``regions.run_region``), the catalog's verdict on the models there, then the
        fast checks: credentials and the API there."""
        configured = [model.settings.location for model in models]
        locations = [self.backends.dataset_location(model.table_id.rsplit(".", 1)[0]) for model in models]
        region = run_region(self.options.location, configured, locations, os.environ.get(ENV_LOCATION))
        region = region or Region(self.backends.default_region(project), "default region: no dataset exists yet", True)
        region = fit_location(region, lambda name: all(served_in(model, name) for model in models))
        verdict = check_models(models, region.name)
        for line in verdict.warnings:
            self.progress.message(line)
        if verdict.problems:
            raise ConfigurationError("; ".join(verdict.problems) + "; nothing was submitted")
        self.progress.message(region.why())
        for check in self.backends.preflight(project, region.name):
            if check.blocking:
                raise ConfigurationError(check.line())
            self.progress.message(check.line())
        return region

    def _request_model(self, node: ModelNode, defaults: RequestModelDefaults) -> RequestModel:
        return RequestModel(node.name, node.table_id, node.batch_settings(defaults), alias=node.alias)

    def _needs_dbt_build(self, mode: Mode, index: int, models: list[RequestModel], loop: JobLoop) -> bool:
        """``build`` builds every wave; ``submit`` the first; ``resume`` a later wave not yet submitted."""
        if mode == Mode.BUILD:
            return True
        if mode == Mode.SUBMIT:
            return index == 0
        if index == 0:
            return False
        return not any(loop.ledger.entries(model, self.options.run_id) for model in models)

    # --- one wave -------------------------------------------------------------------------------------
    def _run_wave(self, loop: JobLoop, models: list[RequestModel], wait: bool) -> bool:
        """Attach, submit what is pending, and (with ``wait``) watch until all landed. True when settled."""

        def before_queue(fresh: list[tuple[RequestModel, Pending]]) -> None:
            fresh = [(model, pending) for model, pending in fresh if model.name not in lanes.answered]
            for model, pending in fresh:
                report = self._estimate(loop, model, pending)
                if pending.rows == 0:
                    report.note = "nothing new to submit: every row is answered or failed permanently"
                    self.progress.message(f"{model.name}: {report.note}; submitting nothing")
            estimated = sum(loop.state(model).report.estimated_cost_usd for model, pending in fresh if pending.rows)
            if estimated:
                self.budget.check_plan(estimated, loop.committed_usd())

        lanes = self.lanes
        assert lanes is not None
        lanes.recover(models)

        def pending_for(model: RequestModel) -> Pending:
            """Rows left for batch jobs once the Flex or online lane (if it is the model's) answered its rows."""
            return lanes.answer(model, self._pending(loop, model))

        if not loop.settle(models, pending_for, wait=wait, before_queue=before_queue):
            return False
        for model in models:
            self._finish_model(loop, model)
        return True

    def _dry_run(self, loop: JobLoop, model: RequestModel) -> None:
        pending = self._pending(loop, model)
        assert self.lanes is not None
        choice = self.lanes.choose(model, pending.rows)
        if pending.rows:
            self.progress.message(f"{model.name}: {choice.describe()}")
        report = self._estimate(loop, model, pending, choice.lane)
        first, *rest = report.estimate_details or [f"{report.pending_rows} rows to submit"]
        self.progress.message(f"{model.name}: {first}")
        for line in rest:
            self.progress.message(line)

    def _pending(self, loop: JobLoop, model: RequestModel) -> Pending:
        """Rows to submit: those not settled yet, or every row with ``--full-refresh-predictions``."""
        if self.options.full_refresh_predictions:
            return loop.warehouse.all_rows(model)
        return loop.warehouse.pending(model, retry=False)

    def _estimate(self, loop: JobLoop, model: RequestModel, pending: Pending, lane: Lane = "batch") -> ModelReport:
        """Record the pending rows and their estimate (at ``lane``'s price) in the model's report; refuse an
        unpriced model under a budget."""
        estimate = loop.costs.estimate(model, pending, lane)
        if pending.rows:
            self.budget.check_priced(model.name, model.settings.model, estimate.priced)
        report = loop.state(model).report
        report.pending_rows = pending.rows
        report.estimated_input_tokens = estimate.input_tokens
        report.estimated_output_tokens = estimate.output_tokens
        report.estimated_cost_usd = estimate.cost_usd
        report.estimated_cost_low_usd, report.estimated_cost_high_usd = estimate.low_usd, estimate.high_usd
        report.estimate_details = list(estimate.details)
        return report

    def _finish_model(self, loop: JobLoop, model: RequestModel) -> None:
        """Count this run's rows that ended answered and those that ended failed."""
        report = loop.state(model).report
        if not report.jobs:
            return
        report.successful_rows, report.failed_rows = loop.warehouse.outcome(model, list(report.jobs))
        self.progress.message(
            f"{model.name}: {report.successful_rows} rows answered, {report.failed_rows} failed "
            f"(landed in {model.landing_table})"
        )

    def _name_the_run(self, loop: JobLoop) -> None:
        """A ``submit`` that only found an earlier run's jobs still in flight reports that run's id."""
        mine = any(item.entry.run_id == self.options.run_id for item in loop.items)
        earlier = {item.entry.run_id for item in loop.items if item.entry.run_id != self.options.run_id}
        if earlier and not mine:
            self.report.run_id = max(earlier)

    def _interrupt(self, loop: JobLoop) -> None:
        """Ctrl-C: cancel this run's jobs (completed rows are kept and landed) unless ``--detach``; then say which
        jobs are left unlanded and how to land them (a second Ctrl-C stops the wait for the cancelled jobs)."""
        in_flight = loop.in_flight
        if in_flight and not self.options.detach:
            self.progress.message(f"cancelling {len(in_flight)} job(s); completed rows are kept")
            try:
                loop.cancel()
                loop.run(wait=True)
            except KeyboardInterrupt:
                pass
        left = [item.entry.job_name for item in loop.items if item.in_flight or item.phase == Phase.FINISHED]
        if left:
            verb = "left running" if self.options.detach else "not landed yet"
            self.progress.message(
                f"{verb}: {', '.join(left)}; run `vertex-batch resume --run {self.options.run_id}` to land them"
            )

    # --- the ledger of the project ----------------------------------------------------------------------
    def _ledger_entries(self) -> list[tuple[str, LedgerEntry]]:
        manifest = self.dbt.parse()
        tables = sorted({ledger_table(node.table_id) for node in manifest.request_models()})
        found = self.backends.ledger_entries(tables)
        return [(table, entry) for table, entry in found if not is_intent(entry.job_name)]  # intents: no job yet

    def _job_service(self, table: str, entry: LedgerEntry) -> JobService:
        """The job service of the ledger table's project, at the location in the job's own name."""
        location = entry.job_name.split("/")[3]
        return self.backends.job_service(table.split(".", 1)[0], location)
