"""``vertex-batch build | submit | resume``: build request models with dbt, run their batch jobs, land answers,
build downstream.

The run goes in waves: a wave holds the request models whose inputs need no answer of a later wave. For each
wave: ``dbt build +R`` (validation tests included), then per request model: attach to jobs an earlier run left
unlanded, submit the rows not yet settled (chunked by ``max_rows_per_job``), and let the job loop
(``job_loop.JobLoop``) watch, land and retry. After the last wave the rest of the selection is built.

- ``build`` does all of it and waits (``submit`` then ``resume --wait``);
- ``submit`` builds the first wave, submits its jobs and returns;
- ``resume`` lands what finished, resubmits retryable rows, moves on to later waves and builds downstream once
  every job has landed; without ``wait`` it makes one pass and reports whether jobs still run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from vertex_batch.batch_io import BigQueryIO, BigQueryLedger
from vertex_batch.connections import ENV_LOCATION, Connections
from vertex_batch.dbt_graph import DbtProject, ModelNode
from vertex_batch.doctor import Doctor
from vertex_batch.errors import BudgetExceeded, ConfigurationError
from vertex_batch.estimate import CountedCosts, VertexTokenCounter
from vertex_batch.job_client import JobClient
from vertex_batch.job_loop import LABEL_MODEL, LABEL_RUN, LABEL_TABLE, JobLoop, LoopOptions, label_value, table_label
from vertex_batch.plan import Region, planner_for, run_region, storage_client
from vertex_batch.ports import Budget, Clock, MaxCost, NoBudget, Pending, RequestModel, SystemClock
from vertex_batch.progress import Progress
from vertex_batch.report import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_RUNNING,
    BuildReport,
    ModelReport,
)
from vertex_batch.settings import MAX_COST_VAR, RequestModelDefaults
from vertex_batch.warehouse import Warehouse

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_RUNNING",
    "LABEL_MODEL",
    "LABEL_RUN",
    "LABEL_TABLE",
    "BuildOptions",
    "BuildReport",
    "Mode",
    "ModelReport",
    "Runner",
    "label_value",
    "new_run_id",
    "table_label",
]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


class Mode(StrEnum):
    BUILD = "build"
    SUBMIT = "submit"
    RESUME = "resume"


@dataclass(frozen=True)
class BuildOptions:
    """How a run behaves (CLI flags; defaults in ``settings.RunSettings``)."""

    selectors: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    dry_run: bool = False
    max_cost: float | None = None
    full_refresh_predictions: bool = False
    detach: bool = False
    max_concurrent_jobs: int = 4
    poll_seconds: float = 10.0
    retry_backoff_seconds: float = 30.0
    keep_tables: bool = False
    location: str | None = None
    run_id: str = field(default_factory=new_run_id)


class Runner:
    """Wires dbt, the job loop and the Google Cloud ports for one run."""

    def __init__(
        self,
        dbt: DbtProject,
        options: BuildOptions,
        progress: Progress | None = None,
        connections: Callable[[str], Connections] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.dbt = dbt
        self.options = options
        self.progress = progress or Progress()
        self.clock = clock or SystemClock()
        self._connections_for = connections or (lambda project: Connections.from_env(project, options.location))
        self._warehouses: dict[str, Warehouse] = {}
        self.report = BuildReport(run_id=options.run_id, dry_run=options.dry_run)
        self.loop: JobLoop | None = None

    # --- clients ---------------------------------------------------------------------------------
    def warehouse(self, project: str) -> Warehouse:
        if project not in self._warehouses:
            self._warehouses[project] = Warehouse(self._connections_for(project).bigquery_client())
        return self._warehouses[project]

    def _region(self, project: str, nodes: list[ModelNode], defaults: RequestModelDefaults) -> Region:
        """The run's job region (plan.run_region), then the fast doctor checks: credentials and the API there."""
        connections = self._connections_for(project)
        configured = [node.batch_settings(defaults).location for node in nodes]
        warehouse = self.warehouse(project)
        locations = [warehouse.dataset_location(f"{node.database}.{node.schema}") for node in nodes]
        region = run_region(self.options.location, configured, locations, os.environ.get(ENV_LOCATION))
        region = region or Region(connections.location, "default region: no request model dataset exists yet")
        doctor = Doctor(
            replace(connections, location=region.name),
            planner_for(connections),
            lambda: warehouse.client,
            lambda: storage_client(connections),
        )
        self.progress.message(f"job region {region.name} ({region.source})")
        for check in (doctor.credentials(), doctor.vertex_api(region.name)):
            if check.blocking:
                raise ConfigurationError(check.line())
            self.progress.message(check.line())
        return region

    def _io(self, project: str, region: Region | None = None) -> BigQueryIO:
        connections = self._connections_for(project)
        return BigQueryIO(self.warehouse, planner=planner_for(connections, region, dry_run=self.options.dry_run))

    def _max_cost(self) -> float | None:
        """``--max-cost``, else the dbt var ``vertex_batch_max_cost`` (USD), else no budget."""
        if self.options.max_cost is not None:
            return self.options.max_cost
        value = self.dbt.project_vars().get(MAX_COST_VAR)
        try:
            return None if value in (None, "") else float(value)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"var {MAX_COST_VAR} must be a number of USD, not {value!r}") from error

    def _budget(self) -> Budget:
        limit = self._max_cost()
        return MaxCost(limit) if limit is not None else NoBudget()

    def _make_loop(self, project: str, io: BigQueryIO, wait: bool, region: Region | None = None) -> JobLoop:
        options = LoopOptions(
            run_id=self.options.run_id,
            max_concurrent_jobs=self.options.max_concurrent_jobs,
            poll_seconds=self.options.poll_seconds,
            # Without waiting, the scheduler's interval between `resume` calls is the backoff.
            retry_backoff_seconds=self.options.retry_backoff_seconds if wait else 0.0,
            keep_tables=self.options.keep_tables,
        )
        connections = self._connections_for(project)
        if region is not None:
            connections = replace(connections, location=region.name)
        return JobLoop(
            jobs=JobClient(connections),
            warehouse=io,
            ledger=BigQueryLedger(self.warehouse),
            costs=CountedCosts(
                runner_for=self.warehouse,
                counter_for=lambda _project: VertexTokenCounter(connections),
                refuse_unpriced=self._max_cost() is not None,
                warn=self.progress.message,
            ),
            options=options,
            report=self.report,
            progress=self.progress,
            clock=self.clock,
            budget=self._budget(),
        )

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
        region = self._region(projects[0], nodes, defaults)
        io = self._io(projects[0], region)
        self.loop = loop = self._make_loop(projects[0], io, wait, region)
        try:
            for index, wave in enumerate(manifest.waves(nodes)):
                models = [self._request_model(node, defaults) for node in wave]
                if self._needs_dbt_build(mode, index, models, loop):
                    names = ", ".join(node.name for node in wave)
                    self.progress.message(f"building request models and what they need: {names}")
                    self.dbt.build([f"+{node.name}" for node in wave])
                for model in models:
                    io.check(model)
                    plan = io.plan(model)
                    if plan is not None:
                        self.progress.message(f"{model.name}: {plan.describe()}")
                if self.options.dry_run:
                    for model in models:
                        self._dry_run(io, loop, model)
                    continue
                settled = self._run_wave(io, loop, models, wait)
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
                self.dbt.build(list(self.options.selectors) or ["*"], [*self.options.excludes, *upstream])
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._interrupt(loop)
        return self.report

    def _name_the_run(self, loop: JobLoop) -> None:
        """A ``submit`` that only found an earlier run's jobs still in flight reports that run's id."""
        mine = any(item.entry.run_id == self.options.run_id for item in loop.items)
        earlier = {item.entry.run_id for item in loop.items if item.entry.run_id != self.options.run_id}
        if earlier and not mine:
            self.report.run_id = max(earlier)

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

    def _run_wave(self, io: BigQueryIO, loop: JobLoop, models: list[RequestModel], wait: bool) -> bool:
        """Attach, submit what is pending, and (with ``wait``) watch until all landed. True when settled."""

        def before_queue(fresh: list[tuple[RequestModel, Pending]]) -> None:
            for model, pending in fresh:
                report = self._estimate(loop, model, pending)
                if pending.rows == 0:
                    report.note = "nothing new to submit: every row is answered or failed permanently"
                    self.progress.message(f"{model.name}: {report.note}; submitting nothing")
            total = sum(loop.state(model).report.estimated_cost_usd for model, pending in fresh if pending.rows)
            limit = self._max_cost()
            if limit is not None and total > limit:
                raise BudgetExceeded(
                    f"estimated cost ${total:.4f} is above --max-cost ${limit:.4f}; "
                    "nothing was submitted (raise the budget or select fewer models)"
                )

        if not loop.settle(models, lambda model: self._pending(io, model), wait=wait, before_queue=before_queue):
            return False
        for model in models:
            self._finish_model(io, loop, model)
        return True

    def _dry_run(self, io: BigQueryIO, loop: JobLoop, model: RequestModel) -> None:
        report = self._estimate(loop, model, self._pending(io, model))
        first, *rest = report.estimate_details or [f"{report.pending_rows} rows to submit"]
        self.progress.message(f"{model.name}: {first}")
        for line in rest:
            self.progress.message(line)

    def _pending(self, io: BigQueryIO, model: RequestModel) -> Pending:
        """Rows to submit: those not settled yet, or every row with ``--full-refresh-predictions``."""
        return io.all_rows(model) if self.options.full_refresh_predictions else io.pending(model, retry=False)

    @staticmethod
    def _estimate(loop: JobLoop, model: RequestModel, pending: Pending) -> ModelReport:
        """Record the pending rows and their estimate in the model's report."""
        estimate = loop.costs.estimate(model, pending)
        report = loop.state(model).report
        report.pending_rows = pending.rows
        report.estimated_input_tokens = estimate.input_tokens
        report.estimated_output_tokens = estimate.output_tokens
        report.estimated_cost_usd = estimate.cost_usd
        report.estimated_cost_low_usd, report.estimated_cost_high_usd = estimate.low_usd, estimate.high_usd
        report.estimate_details = list(estimate.details)
        return report

    def _finish_model(self, io: BigQueryIO, loop: JobLoop, model: RequestModel) -> None:
        """Count this run's rows that ended answered and those that ended failed."""
        report = loop.state(model).report
        if not report.jobs:
            return
        report.successful_rows, report.failed_rows = io.outcome(model, list(report.jobs))
        self.progress.message(
            f"{model.name}: {report.successful_rows} rows answered, {report.failed_rows} failed "
            f"(landed in {model.landing_table})"
        )

    def _interrupt(self, loop: JobLoop) -> None:
        """Ctrl-C: cancel this run's jobs (completed rows are kept and landed) unless ``--detach``."""
        in_flight = loop.in_flight
        if not in_flight:
            return
        if self.options.detach:
            names = ", ".join(item.entry.job_name for item in in_flight)
            self.progress.message(
                f"detached; jobs keep running: {names}. Run `vertex-batch resume --run {self.options.run_id}` "
                "to land them."
            )
            return
        self.progress.message(f"cancelling {len(in_flight)} job(s); completed rows are kept")
        loop.cancel()
        loop.run(wait=True)
