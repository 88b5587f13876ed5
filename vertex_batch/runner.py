"""``vertex-batch build``: build request models with dbt, run their batch jobs, land answers, build downstream.

The run goes in waves: a wave holds the request models whose inputs need no answer of a later wave. For
each wave: ``dbt build +R`` (validation tests included), then per request model: attach to jobs a
previous run left unlanded, submit only rows not yet settled (chunked by ``max_rows_per_job``), watch
the jobs under a concurrency cap, land their rows, and resubmit retryable failures with backoff. After
the last wave the rest of the selection (predictions, flattened models) is built.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from google.api_core import exceptions as core

from vertex_batch.connections import Connections
from vertex_batch.costs import estimate_input_tokens, price_for
from vertex_batch.dbt_graph import BatchSettings, DbtProject, Manifest, ModelNode
from vertex_batch.errors import BudgetExceeded, ConfigurationError, JobError
from vertex_batch.job_client import SUCCESS_STATES, JobClient, JobSnapshot, JobSpec
from vertex_batch.ledger import LEDGER_TABLE, Ledger, LedgerEntry
from vertex_batch.progress import Progress
from vertex_batch.warehouse import LANDING_SUFFIX, PendingSummary, Warehouse, quote

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130

LABEL_RUN = "vertex_batch_run"
LABEL_MODEL = "vertex_batch_model"
LABEL_TABLE = "vertex_batch_table"
LABEL_INPUT = "vertex_batch_input"
LABEL_CHUNK = "vertex_batch_chunk"
LABEL_ATTEMPT = "vertex_batch_attempt"
FAILED_STATES = frozenset({"FAILED", "CANCELLED", "EXPIRED", "PAUSED"})


def ensure_local_bucket(connections: Connections, prefix: str) -> None:
    """Create the bucket of ``prefix`` on the local GCS emulator if it is missing."""
    from google.cloud import storage

    bucket = prefix.removeprefix("gs://").split("/", 1)[0]
    client = storage.Client(project=connections.project, credentials=connections.credentials)
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)


def table_label(table_id: str) -> str:
    """A short, label-safe identity of a request table (``project.dataset.table``)."""
    return hashlib.sha256(table_id.encode()).hexdigest()[:16]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def label_value(text: str) -> str:
    """A Google label value: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


@dataclass(frozen=True)
class BuildOptions:
    """How ``vertex-batch build`` behaves (CLI flags)."""

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


@dataclass
class ModelReport:
    """Per request model: what was pending, submitted and answered."""

    request_model: str
    table: str
    pending_rows: int = 0
    estimated_input_tokens: int = 0
    estimated_output_tokens: int = 0
    estimated_cost_usd: float = 0.0
    submitted_rows: int = 0
    jobs: list[str] = field(default_factory=list)
    successful_rows: int = 0
    failed_rows: int = 0
    actual_cost_usd: float = 0.0
    failures: list[tuple[str, int]] = field(default_factory=list)
    note: str = ""


@dataclass
class BuildReport:
    """The outcome of a run, for people (``summary``) and schedulers (``to_json``)."""

    run_id: str
    dry_run: bool
    models: list[ModelReport] = field(default_factory=list)
    jobs: list[dict[str, object]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if any(job["state"] in FAILED_STATES for job in self.jobs):
            return EXIT_FAILED
        if any(model.failed_rows for model in self.models):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "models": [asdict(model) for model in self.models],
            "jobs": self.jobs,
        }


@dataclass
class _ModelRun:
    """Mutable state of one request model within a run."""

    node: ModelNode
    settings: BatchSettings
    report: ModelReport
    attempt: int = 0
    in_flight: int = 0

    @property
    def landing_table(self) -> str:
        dataset = self.settings.destination_dataset or self.node.schema
        return f"{self.node.database}.{dataset}.{self.node.alias}{LANDING_SUFFIX}"

    def work_table(self, kind: str, run_id: str) -> str:
        dataset = self.settings.destination_dataset or self.node.schema
        return f"{self.node.database}.{dataset}.{self.node.alias}__batch_{kind}_{run_id}_{self.attempt}"


@dataclass
class _Tracked:
    """A job the run is watching."""

    model: _ModelRun
    entry: LedgerEntry
    snapshot: JobSnapshot | None = None


class Runner:
    """Orchestrates one ``vertex-batch build``."""

    def __init__(
        self,
        dbt: DbtProject,
        options: BuildOptions,
        progress: Progress | None = None,
        connections: Callable[[str], Connections] | None = None,
    ) -> None:
        self.dbt = dbt
        self.options = options
        self.progress = progress or Progress()
        self._connections_for = connections or (
            lambda project: Connections.from_env(project, options.location)
        )
        self._warehouses: dict[str, Warehouse] = {}
        self._job_clients: dict[str, JobClient] = {}
        self._ledgers: dict[str, Ledger] = {}
        self.report = BuildReport(run_id=options.run_id, dry_run=options.dry_run)
        self._tracked: dict[str, _Tracked] = {}
        self._cancelling = False

    # --- clients, one per project / dataset -----------------------------------------------------
    def warehouse(self, project: str) -> Warehouse:
        if project not in self._warehouses:
            self._warehouses[project] = Warehouse(self._connections_for(project).bigquery_client())
        return self._warehouses[project]

    def jobs(self, project: str) -> JobClient:
        if project not in self._job_clients:
            self._job_clients[project] = JobClient(self._connections_for(project))
        return self._job_clients[project]

    def ledger(self, run: _ModelRun) -> Ledger:
        dataset = run.settings.destination_dataset or run.node.schema
        table = f"{run.node.database}.{dataset}.{LEDGER_TABLE}"
        if table not in self._ledgers:
            self._ledgers[table] = Ledger(self.warehouse(run.node.database), table)
        return self._ledgers[table]

    # --- the run -------------------------------------------------------------------------------
    def build(self) -> BuildReport:
        manifest = self.dbt.parse()
        selected = (
            self.dbt.select(self.options.selectors, self.options.excludes)
            if (self.options.selectors or self.options.excludes)
            else None
        )
        request_models = manifest.request_models(selected)
        if not request_models:
            self.progress.message("no request models (meta.vertex_batch) selected; running dbt build only")
            if not self.options.dry_run:
                self.dbt.build(list(self.options.selectors) or ["*"], self.options.excludes)
            return self.report
        try:
            for wave in manifest.waves(request_models):
                self._run_wave(manifest, wave)
                if self.options.dry_run:
                    continue
            if not self.options.dry_run:
                upstream = [f"+{node.name}" for node in request_models]
                self.progress.message("building the models downstream of the batch answers")
                self.dbt.build(list(self.options.selectors) or ["*"], [*self.options.excludes, *upstream])
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._interrupt()
        return self.report

    def _run_wave(self, manifest: Manifest, wave: list[ModelNode]) -> None:
        names = ", ".join(node.name for node in wave)
        self.progress.message(f"building request models and what they need: {names}")
        self.dbt.build([f"+{node.name}" for node in wave])
        runs = []
        for node in wave:
            settings = node.batch_settings
            assert settings is not None
            report = ModelReport(request_model=node.name, table=node.table_id)
            self.report.models.append(report)
            runs.append(_ModelRun(node=node, settings=settings, report=report))
        for run in runs:
            self.warehouse(run.node.database).check_request_table(run.node.table_id, run.settings.key)
        if self.options.dry_run:
            for run in runs:
                self._estimate(run, self._pending(run, retry=False)[1])
            return
        for run in runs:
            self._recover(run)
        self._pump()
        queue: list[tuple[_ModelRun, list[JobSpec], list[LedgerEntry]]] = []
        total_cost = 0.0
        for run in runs:
            run.attempt = 1
            pending_sql, summary = self._pending(run, retry=False)
            self._estimate(run, summary)
            total_cost += run.report.estimated_cost_usd
            if summary.rows == 0:
                run.report.note = "nothing new to submit: every row is answered or failed permanently"
                self.progress.message(f"{run.node.name}: {run.report.note}; submitting nothing")
                continue
            queue.append((run, *self._prepare(run, pending_sql, summary)))
        if self.options.max_cost is not None and total_cost > self.options.max_cost:
            raise BudgetExceeded(
                f"estimated cost ${total_cost:.4f} is above --max-cost ${self.options.max_cost:.4f}; "
                "nothing was submitted (raise the budget or select fewer models)"
            )
        for run, specs, entries in queue:
            self._submit_all(run, specs, entries)
        self._pump()
        for run in runs:
            self._finish_model(run)

    # --- pending rows, estimates, staging --------------------------------------------------------
    def _pending(self, run: _ModelRun, retry: bool) -> tuple[str, PendingSummary]:
        warehouse = self.warehouse(run.node.database)
        if self.options.full_refresh_predictions and not retry:
            sql = f"SELECT * FROM {quote(run.node.table_id)}"
        else:
            sql = warehouse.pending_sql(
                run.node.table_id,
                run.landing_table,
                run.settings.key,
                run.settings.max_attempts,
                retryable_only=retry,
            )
        return sql, warehouse.summarize(sql, run.settings.key)

    def _estimate(self, run: _ModelRun, summary: PendingSummary) -> None:
        price = price_for(run.settings.model)
        tokens_in = estimate_input_tokens(summary.request_bytes)
        tokens_out = summary.max_output_tokens
        report = run.report
        report.pending_rows = summary.rows
        report.estimated_input_tokens = tokens_in
        report.estimated_output_tokens = tokens_out
        report.estimated_cost_usd = price.batch_cost(tokens_in, tokens_out)
        if self.options.dry_run:
            self.progress.message(
                f"{run.node.name}: {summary.rows} rows to submit, ~{tokens_in} input tokens, "
                f"<= {tokens_out} output tokens, estimated batch cost ${report.estimated_cost_usd:.4f} "
                f"({run.settings.model})"
            )

    def _prepare(
        self, run: _ModelRun, pending_sql: str, summary: PendingSummary
    ) -> tuple[list[JobSpec], list[LedgerEntry]]:
        warehouse = self.warehouse(run.node.database)
        tables = warehouse.stage(
            pending_sql,
            run.settings.key,
            run.work_table("input", self.options.run_id),
            summary.rows,
            run.settings.max_rows_per_job,
        )
        specs, entries = [], []
        for chunk, table in enumerate(tables, start=1):
            output = f"{run.work_table('job', self.options.run_id)}_{chunk}"
            warehouse.drop(output)
            input_uri, output_uri = f"bq://{table}", f"bq://{output}"
            if run.settings.input == "gcs":
                folder = self._gcs_folder(run, chunk)
                input_uri, output_uri = f"{folder}/input-*.jsonl", f"{folder}/output"
                warehouse.export_jsonl(table, input_uri)
            labels = {
                LABEL_RUN: label_value(self.options.run_id),
                LABEL_MODEL: label_value(run.node.alias),
                LABEL_TABLE: table_label(run.node.table_id),
                LABEL_INPUT: summary.fingerprint,
                LABEL_CHUNK: str(chunk),
                LABEL_ATTEMPT: str(run.attempt),
            }
            rows = warehouse.count(table)
            specs.append(
                JobSpec(
                    display_name=f"vertex-batch {run.node.name} {self.options.run_id} a{run.attempt} c{chunk}",
                    model=run.settings.model,
                    input_uri=input_uri,
                    output_uri=output_uri,
                    labels=labels,
                )
            )
            entries.append(
                LedgerEntry(
                    job_name="",
                    run_id=self.options.run_id,
                    request_model=run.node.name,
                    attempt=run.attempt,
                    chunk=chunk,
                    state="",
                    input_table=table,
                    output_table=output,
                    rows_submitted=rows,
                    output_uri=output_uri,
                    estimated_cost_usd=run.report.estimated_cost_usd * rows / max(summary.rows, 1),
                )
            )
        return specs, entries

    def _gcs_folder(self, run: _ModelRun, chunk: int) -> str:
        """``gs://bucket/prefix/<model>/<run>/a<attempt>/c<chunk>`` for a GCS-path job."""
        prefix = run.settings.gcs_prefix
        connections = self._connections_for(run.node.database)
        if not prefix:
            if not connections.is_local:
                raise ConfigurationError(
                    f"request model {run.node.name} uses input 'gcs' but has no meta.vertex_batch.gcs_prefix "
                    "(e.g. 'gs://my-bucket/vertex-batch')"
                )
            prefix = "gs://vertex-batch-local/runs"
        if connections.is_local:
            ensure_local_bucket(connections, prefix)
        return f"{prefix.rstrip('/')}/{run.node.alias}/{self.options.run_id}/a{run.attempt}/c{chunk}"

    # --- submitting and watching ------------------------------------------------------------------
    def _submit_all(self, run: _ModelRun, specs: list[JobSpec], entries: list[LedgerEntry]) -> None:
        client = self.jobs(run.node.database)
        landed = self.warehouse(run.node.database).landed_jobs(run.landing_table)
        for spec, entry in zip(specs, entries, strict=True):
            self._wait_for_slot()
            existing = self._find_existing(client, spec, landed)
            snapshot = existing or client.create(spec)
            if existing:
                self.progress.message(
                    f"{run.node.name}: attaching to {snapshot.name} (same rows, already submitted)"
                )
            else:
                self.progress.message(
                    f"{run.node.name}: submitted {snapshot.name} ({entry.rows_submitted} rows)"
                )
            entry.job_name = snapshot.name
            entry.state = snapshot.state
            entry.create_time = snapshot.create_time or datetime.now(UTC)
            self.ledger(run).record(entry)
            run.report.submitted_rows += entry.rows_submitted
            run.report.jobs.append(snapshot.name)
            run.in_flight += 1
            self._tracked[snapshot.name] = _Tracked(model=run, entry=entry, snapshot=snapshot)

    @staticmethod
    def _find_existing(client: JobClient, spec: JobSpec, landed: set[str]) -> JobSnapshot | None:
        """A job for the same table, input rows, chunk and attempt that neither failed nor landed yet.

        It exists when an earlier run crashed between creating the job and recording it in the ledger.
        """
        keys = (LABEL_MODEL, LABEL_TABLE, LABEL_INPUT, LABEL_CHUNK, LABEL_ATTEMPT)
        for job in client.find({key: spec.labels[key] for key in keys}):
            if job.state not in FAILED_STATES and job.name not in landed:
                return job
        return None

    def _wait_for_slot(self) -> None:
        while len(self._tracked) >= self.options.max_concurrent_jobs:
            self._poll_once()

    def _pump(self) -> None:
        """Watch every tracked job until all have landed (retries included)."""
        while self._tracked:
            self._poll_once()

    def _poll_once(self) -> None:
        for name, tracked in list(self._tracked.items()):
            client = self.jobs(tracked.model.node.database)
            try:
                snapshot = client.get(name)
            except core.NotFound:
                snapshot = JobSnapshot(
                    name=name, display_name="", state="FAILED", error_message="job not found"
                )
            tracked.snapshot = snapshot
            label = (
                f"{tracked.model.node.name} [attempt {tracked.entry.attempt}, chunk {tracked.entry.chunk}]"
            )
            self.progress.job(label, snapshot, tracked.entry.rows_submitted)
            if snapshot.done:
                del self._tracked[name]
                self._land(tracked)
        if self._tracked:
            time.sleep(self.options.poll_seconds)

    def _land(self, tracked: _Tracked) -> None:
        run, entry, snapshot = tracked.model, tracked.entry, tracked.snapshot
        assert snapshot is not None
        warehouse = self.warehouse(run.node.database)
        output = snapshot.output_table or entry.output_table
        if snapshot.output_directory and warehouse.exists(entry.input_table):
            warehouse.load_predictions(
                f"{snapshot.output_directory}/predictions.jsonl", entry.output_table, entry.input_table
            )
            output = entry.output_table
        if snapshot.name in warehouse.landed_jobs(run.landing_table):
            landed = warehouse.count(output) if warehouse.exists(output) else 0
        else:
            landed = warehouse.land(output, run.landing_table, snapshot.name, entry.attempt)
        prompt, candidates, total = warehouse.output_usage(output)
        failures = warehouse.failure_summary(output)
        price = price_for(run.settings.model)
        entry.state = snapshot.state
        entry.successful_count, entry.failed_count = snapshot.successful, snapshot.failed
        entry.incomplete_count = max(entry.rows_submitted - snapshot.successful - snapshot.failed, 0)
        entry.prompt_tokens, entry.candidate_tokens, entry.total_tokens = prompt, candidates, total
        entry.actual_cost_usd = price.batch_cost(prompt, max(total - prompt, candidates))
        entry.start_time, entry.end_time = snapshot.start_time, snapshot.end_time
        entry.error_message = snapshot.error_message
        entry.landed = True
        self.ledger(run).record(entry)
        run.report.actual_cost_usd += entry.actual_cost_usd
        self.report.jobs.append(
            {
                "name": snapshot.name,
                "request_model": run.node.name,
                "attempt": entry.attempt,
                "chunk": entry.chunk,
                "state": snapshot.state,
                "rows": entry.rows_submitted,
                "successful": snapshot.successful,
                "failed": snapshot.failed,
                "landed_rows": landed,
                "error": snapshot.error_message,
            }
        )
        if snapshot.state not in SUCCESS_STATES:
            detail = f": {snapshot.error_message}" if snapshot.error_message else ""
            self.progress.message(
                f"{run.node.name}: job {snapshot.name} ended {snapshot.state}{detail}; "
                f"{landed} completed rows kept"
            )
        for status, count in failures:
            run.report.failures.append((status, count))
            self.progress.message(f"{run.node.name}: {count} row(s) failed with {status[:200]}")
        if not self.options.keep_tables:
            warehouse.drop(entry.input_table)
            warehouse.drop(output)
        run.in_flight -= 1
        if run.in_flight == 0 and snapshot.state in SUCCESS_STATES:
            self._maybe_retry(run)

    def _maybe_retry(self, run: _ModelRun) -> None:
        """Resubmit rows whose failures are retryable, after a backoff, while attempts remain."""
        if self._cancelling or run.attempt >= run.settings.max_attempts:
            return
        pending_sql, summary = self._pending(run, retry=True)
        if summary.rows == 0:
            return
        delay = self.options.retry_backoff_seconds * (2 ** (run.attempt - 1))
        self.progress.message(
            f"{run.node.name}: {summary.rows} row(s) failed with retryable errors; "
            f"attempt {run.attempt + 1} of {run.settings.max_attempts} in {delay:.0f} s"
        )
        time.sleep(delay)
        run.attempt += 1
        specs, entries = self._prepare(run, pending_sql, summary)
        self._submit_all(run, specs, entries)

    def _recover(self, run: _ModelRun) -> None:
        """Attach to jobs an earlier, interrupted run left behind (in flight or finished but not landed)."""
        client = self.jobs(run.node.database)
        for entry in self.ledger(run).unlanded(run.node.name):
            try:
                snapshot = client.get(entry.job_name)
            except core.NotFound:
                entry.landed, entry.state, entry.error_message = True, "FAILED", "job no longer exists"
                self.ledger(run).record(entry)
                continue
            self.progress.message(
                f"{run.node.name}: attaching to {entry.job_name} left by run {entry.run_id} ({snapshot.state.lower()})"
            )
            run.in_flight += 1
            run.attempt = max(run.attempt, entry.attempt)
            run.report.jobs.append(entry.job_name)
            self._tracked[entry.job_name] = _Tracked(model=run, entry=entry, snapshot=snapshot)

    def _finish_model(self, run: _ModelRun) -> None:
        """Count this run's rows that ended answered and those that ended failed."""
        jobs = list(run.report.jobs)
        warehouse = self.warehouse(run.node.database)
        if not jobs or not warehouse.exists(run.landing_table):
            return
        join = ", ".join([*run.settings.key, "request_fingerprint"])
        names = ", ".join("'" + name.replace("'", "") + "'" for name in jobs)
        rows = warehouse.run(
            f"WITH mine AS (SELECT {join}, LOGICAL_OR(status = '') AS ok FROM {quote(run.landing_table)} "
            f"WHERE batch_job_name IN ({names}) GROUP BY {join}), "
            f"ever AS (SELECT {join}, LOGICAL_OR(status = '') AS ok FROM {quote(run.landing_table)} GROUP BY {join}) "
            "SELECT COUNTIF(mine.ok), COUNTIF(NOT ever.ok) FROM mine JOIN ever USING (" + join + ")"
        )
        run.report.successful_rows, run.report.failed_rows = (int(value or 0) for value in rows[0])
        self.progress.message(
            f"{run.node.name}: {run.report.successful_rows} rows answered, {run.report.failed_rows} failed "
            f"(landed in {run.landing_table})"
        )

    def _interrupt(self) -> None:
        """Ctrl-C: cancel this run's jobs (completed rows are kept and landed) unless ``--detach``."""
        if not self._tracked:
            return
        if self.options.detach:
            names = ", ".join(self._tracked)
            self.progress.message(f"detached; jobs keep running: {names}. Rerun the same command to attach.")
            return
        self.progress.message(f"cancelling {len(self._tracked)} job(s); completed rows are kept")
        for name, tracked in self._tracked.items():
            try:
                self.jobs(tracked.model.node.database).cancel(name)
            except core.GoogleAPICallError as error:
                raise JobError(f"could not cancel {name}: {error}") from error
        self._cancelling = True
        self._pump()
