"""The job loop: one explicit state machine over a table of work items, one item per batch job.

An item moves queued → submitted → running → finished → landed. Each pass (``step``) does, in order:

1. poll every submitted or running job once (every job keeps being polled, whatever else waits);
2. land every finished job (its output rows go to the landing table once);
3. plan a retry round for each request model whose jobs have all landed and which has rows with retryable
   failures and attempts left: the round is due "not before" now + backoff (doubled each attempt);
4. stage the retry rounds that are due: their chunks become queued items;
5. submit queued items while fewer than ``max_concurrent_jobs`` are in flight and the budget allows.

``run(wait=True)`` repeats passes until nothing is left, sleeping through the clock only between passes;
``run(wait=False)`` makes one pass (``vertex-batch resume``). No handler sleeps or calls back into the loop.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from google.api_core import exceptions as core

from vertex_batch.errors import JobError
from vertex_batch.job_client import FAILED_STATES, RUNNING_STATES, JobSnapshot, JobSpec, JobState, state_name
from vertex_batch.ledger import LedgerEntry
from vertex_batch.plan import location_hint
from vertex_batch.ports import (
    BatchWarehouse,
    Budget,
    Clock,
    CostModel,
    JobLedger,
    JobService,
    NoBudget,
    Pending,
    RequestModel,
    StagedInput,
    SystemClock,
)
from vertex_batch.progress import Progress
from vertex_batch.report import BuildReport, ModelReport

LABEL_RUN = "vertex_batch_run"
LABEL_MODEL = "vertex_batch_model"
LABEL_TABLE = "vertex_batch_table"
LABEL_INPUT = "vertex_batch_input"
LABEL_CHUNK = "vertex_batch_chunk"
LABEL_ATTEMPT = "vertex_batch_attempt"
# Labels that identify the same job across runs: same table, same rows, same chunk and attempt.
IDENTITY_LABELS = (LABEL_MODEL, LABEL_TABLE, LABEL_INPUT, LABEL_CHUNK, LABEL_ATTEMPT)


def table_label(table_id: str) -> str:
    """A short, label-safe identity of a request table (``project.dataset.table``)."""
    return hashlib.sha256(table_id.encode()).hexdigest()[:16]


def label_value(text: str) -> str:
    """A Google label value: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


class Phase(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    FINISHED = "finished"
    LANDED = "landed"


IN_FLIGHT = frozenset({Phase.SUBMITTED, Phase.RUNNING})


@dataclass
class WorkItem:
    """One batch job of the run, from staged input to landed output."""

    model: RequestModel
    entry: LedgerEntry
    phase: Phase
    spec: JobSpec | None = None
    staged: StagedInput | None = None
    snapshot: JobSnapshot | None = None

    @property
    def label(self) -> str:
        return f"{self.model.name} [attempt {self.entry.attempt}, chunk {self.entry.chunk}]"


@dataclass
class ModelState:
    """A request model within the run: its report, its attempt and its planned retry round."""

    model: RequestModel
    report: ModelReport
    attempt: int = 0
    retry_at: float | None = None
    retry_rows: Pending | None = None
    check_retry: bool = False


@dataclass(frozen=True)
class LoopOptions:
    """How the loop paces itself."""

    run_id: str
    max_concurrent_jobs: int = 4
    poll_seconds: float = 10.0
    retry_backoff_seconds: float = 30.0
    keep_tables: bool = False


@dataclass
class JobLoop:
    """Submits, watches, lands and retries the batch jobs of one run."""

    jobs: JobService
    warehouse: BatchWarehouse
    ledger: JobLedger
    costs: CostModel
    options: LoopOptions
    report: BuildReport
    progress: Progress = field(default_factory=lambda: Progress(enabled=False))
    clock: Clock = field(default_factory=SystemClock)
    budget: Budget = field(default_factory=NoBudget)
    items: list[WorkItem] = field(default_factory=list)
    models: dict[str, ModelState] = field(default_factory=dict)
    cancelling: bool = False

    # --- what the runner calls -----------------------------------------------------------------
    def state(self, model: RequestModel) -> ModelState:
        if model.name not in self.models:
            self.models[model.name] = ModelState(model, self.report.model(model.name, model.table_id))
        return self.models[model.name]

    def attach(self, model: RequestModel) -> int:
        """Track the jobs an earlier run left unlanded (in flight or finished); return how many."""
        state = self.state(model)
        tracked = {item.entry.job_name for item in self.items}
        attached = 0
        for entry in self.ledger.unlanded(model):
            if entry.job_name in tracked:
                continue
            try:
                snapshot = self.jobs.get(entry.job_name)
            except core.NotFound:
                entry.landed, entry.error_message = True, "job no longer exists"
                entry.state = state_name(JobState.JOB_STATE_FAILED)
                self.ledger.record(model, entry)
                continue
            self.progress.message(
                f"{model.name}: attaching to {entry.job_name} left by run {entry.run_id} "
                f"({snapshot.state_name.lower()})"
            )
            self.items.append(WorkItem(model, entry, self._phase_of(snapshot), snapshot=snapshot))
            state.attempt = max(state.attempt, entry.attempt)
            state.report.jobs.append(entry.job_name)
            attached += 1
        return attached

    def has_unlanded(self, model: RequestModel) -> bool:
        return any(item.model.name == model.name and item.phase != Phase.LANDED for item in self.items)

    def queue(self, model: RequestModel, pending: Pending, attempt: int = 1) -> list[WorkItem]:
        """Stage ``pending`` rows into chunks and queue one job per chunk."""
        state = self.state(model)
        state.attempt = max(state.attempt, attempt)
        estimate = self.costs.estimate(model, pending)
        staged = self.warehouse.stage(model, pending, attempt, self.options.run_id)
        queued = []
        for chunk, one in enumerate(staged, start=1):
            labels = {
                LABEL_RUN: label_value(self.options.run_id),
                LABEL_MODEL: label_value(model.label),
                LABEL_TABLE: table_label(model.table_id),
                LABEL_INPUT: pending.fingerprint,
                LABEL_CHUNK: str(chunk),
                LABEL_ATTEMPT: str(attempt),
            }
            spec = JobSpec(
                display_name=f"vertex-batch {model.name} {self.options.run_id} a{attempt} c{chunk}",
                model=model.settings.model,
                input_uri=one.input_uri,
                output_uri=one.output_uri,
                labels=labels,
                model_parameters=model.settings.model_parameters if model.settings.kind == "embed" else None,
            )
            entry = LedgerEntry(
                job_name="",
                run_id=self.options.run_id,
                request_model=model.name,
                attempt=attempt,
                chunk=chunk,
                state="",
                input_table=one.input_table,
                output_table=one.output_table,
                rows_submitted=one.rows,
                output_uri=one.output_uri,
                estimated_cost_usd=estimate.cost_usd * one.rows / max(pending.rows, 1),
            )
            queued.append(WorkItem(model, entry, Phase.QUEUED, spec=spec, staged=one))
        self.items.extend(queued)
        return queued

    @property
    def in_flight(self) -> list[WorkItem]:
        return [item for item in self.items if item.phase in IN_FLIGHT]

    @property
    def active(self) -> bool:
        """Jobs not landed yet, or a retry round still to come."""
        return any(item.phase != Phase.LANDED for item in self.items) or any(
            state.retry_at is not None for state in self.models.values()
        )

    def settle(
        self,
        models: list[RequestModel],
        pending_for: Callable[[RequestModel], Pending],
        wait: bool = True,
        before_queue: Callable[[list[tuple[RequestModel, Pending]]], None] | None = None,
    ) -> bool:
        """Bring request models to settled: attach to unlanded jobs and let them land (retries included), then
        queue the rows still pending (``pending_for``) and advance. With ``wait`` until done, else one pass each.
        ``before_queue`` sees what is about to be queued (estimates, an up-front budget). True when settled."""
        for model in models:
            self.attach(model)
        self.run(wait=wait)
        fresh = [(model, pending_for(model)) for model in models if not self.has_unlanded(model)]
        if before_queue:
            before_queue(fresh)
        for model, pending in fresh:
            if pending.rows:
                self.queue(model, pending)
        self.run(wait=wait)
        return not self.active

    def run(self, wait: bool = True) -> None:
        """Advance every item; with ``wait``, until nothing is left, else one pass."""
        while True:
            self.step()
            if not wait or not self.active:
                return
            self.clock.sleep(self._pause())

    def step(self) -> None:
        """One pass of the state machine (see the module's docstring)."""
        self._poll()
        self._land()
        self._plan_retries()
        self._stage_due_retries()
        self._submit()

    def cancel(self) -> list[str]:
        """Cancel the jobs in flight and drop what is queued; landing continues on later passes."""
        self.cancelling = True
        self._drop_queued()
        names = []
        for item in self.in_flight:
            try:
                self.jobs.cancel(item.entry.job_name)
            except core.GoogleAPICallError as error:
                raise JobError(f"could not cancel {item.entry.job_name}: {error}") from error
            names.append(item.entry.job_name)
        return names

    # --- the passes ---------------------------------------------------------------------------
    @staticmethod
    def _phase_of(snapshot: JobSnapshot) -> Phase:
        if snapshot.done:
            return Phase.FINISHED
        return Phase.RUNNING if snapshot.state in RUNNING_STATES else Phase.SUBMITTED

    def _poll(self) -> None:
        for item in self.in_flight:
            try:
                snapshot = self.jobs.get(item.entry.job_name)
            except core.NotFound:
                snapshot = JobSnapshot(
                    name=item.entry.job_name,
                    display_name="",
                    state=JobState.JOB_STATE_FAILED,
                    error_message="job not found",
                )
            item.snapshot = snapshot
            item.phase = self._phase_of(snapshot)
            self.progress.job(item.label, snapshot, item.entry.rows_submitted)

    def _land(self) -> None:
        for item in self.items:
            if item.phase == Phase.FINISHED:
                self._land_one(item)

    def _land_one(self, item: WorkItem) -> None:
        model, entry, snapshot = item.model, item.entry, item.snapshot
        assert snapshot is not None
        staged = item.staged or StagedInput(  # a job attached from the ledger: its input as the service reports it
            input_uri=snapshot.input_uri,
            output_uri=entry.output_uri,
            rows=entry.rows_submitted,
            input_table=entry.input_table,
            output_table=entry.output_table,
        )
        landed = self.warehouse.land(model, staged, snapshot, entry.attempt)
        state = self.state(model)
        entry.state = snapshot.state_name
        entry.successful_count, entry.failed_count = snapshot.successful, snapshot.failed
        entry.incomplete_count = max(entry.rows_submitted - snapshot.successful - snapshot.failed, 0)
        entry.prompt_tokens, entry.candidate_tokens = landed.prompt_tokens, landed.candidate_tokens
        entry.total_tokens = landed.total_tokens
        entry.actual_cost_usd = self.costs.actual(model, landed)
        entry.start_time, entry.end_time = snapshot.start_time, snapshot.end_time
        entry.error_message = snapshot.error_message
        entry.landed = True
        self.ledger.record(model, entry)
        state.report.actual_cost_usd += entry.actual_cost_usd
        self.report.jobs.append(
            {
                "name": snapshot.name,
                "request_model": model.name,
                "attempt": entry.attempt,
                "chunk": entry.chunk,
                "state": snapshot.state_name,
                "rows": entry.rows_submitted,
                "successful": snapshot.successful,
                "failed": snapshot.failed,
                "landed_rows": landed.rows,
                "error": snapshot.error_message,
            }
        )
        if not snapshot.succeeded:
            message = snapshot.error_message
            detail = f": {location_hint(message) or message}" if message else ""
            self.progress.message(
                f"{model.name}: job {snapshot.name} ended {snapshot.state_name}{detail}; "
                f"{landed.rows} completed rows kept"
            )
        for status, count in landed.failures:
            state.report.failures.append((status, count))
            self.progress.message(f"{model.name}: {count} row(s) failed with {status[:200]}")
        if not self.options.keep_tables:
            self.warehouse.discard(staged)
        item.phase = Phase.LANDED
        state.check_retry = True

    def _plan_retries(self) -> None:
        for state in self.models.values():
            if not state.check_retry or self.has_unlanded(state.model):
                continue
            state.check_retry = False
            if self.cancelling or self.report.budget_stop or state.attempt >= state.model.settings.max_attempts:
                continue
            pending = self.warehouse.pending(state.model, retry=True)
            if pending.rows == 0:
                continue
            delay = self.options.retry_backoff_seconds * (2 ** max(state.attempt - 1, 0))
            state.retry_at, state.retry_rows = self.clock.now() + delay, pending
            self.progress.message(
                f"{state.model.name}: {pending.rows} row(s) failed with retryable errors; "
                f"attempt {state.attempt + 1} of {state.model.settings.max_attempts} in {delay:.0f} s"
            )

    def _stage_due_retries(self) -> None:
        now = self.clock.now()
        for state in self.models.values():
            if state.retry_at is None or state.retry_at > now or state.retry_rows is None:
                continue
            pending, state.retry_at, state.retry_rows = state.retry_rows, None, None
            self.queue(state.model, pending, state.attempt + 1)

    def _submit(self) -> None:
        slots = self.options.max_concurrent_jobs - len(self.in_flight)
        for item in [item for item in self.items if item.phase == Phase.QUEUED]:
            if slots <= 0 or self.cancelling or self.report.budget_stop:
                return
            committed = sum(i.entry.actual_cost_usd for i in self.items if i.phase == Phase.LANDED) + sum(
                i.entry.estimated_cost_usd for i in self.in_flight
            )
            refusal = self.budget.refuse(item.entry.estimated_cost_usd, committed)
            if refusal:
                self.report.budget_stop = refusal
                self.progress.message(f"budget: {refusal}; submitting nothing more (landed rows are kept)")
                self._drop_queued()
                return
            self._submit_one(item)
            slots -= 1

    def _submit_one(self, item: WorkItem) -> None:
        assert item.spec is not None
        existing = self._find_existing(item)
        try:
            snapshot = existing or self.jobs.create(item.spec)
        except Exception:
            self._drop_queued()  # the run stops here: leave no staged input behind
            raise
        model, entry = item.model, item.entry
        if existing:
            self.progress.message(f"{model.name}: attaching to {snapshot.name} (same rows, already submitted)")
        else:
            self.progress.message(f"{model.name}: submitted {snapshot.name} ({entry.rows_submitted} rows)")
        entry.job_name = snapshot.name
        entry.state = snapshot.state_name
        entry.create_time = snapshot.create_time or datetime.now(UTC)
        self.ledger.record(model, entry)
        report = self.state(model).report
        report.submitted_rows += entry.rows_submitted
        report.jobs.append(snapshot.name)
        item.snapshot = snapshot
        item.phase = self._phase_of(snapshot)

    def _find_existing(self, item: WorkItem) -> JobSnapshot | None:
        """A job for the same table, rows, chunk and attempt that neither failed nor landed yet.

        It exists when an earlier run stopped between creating the job and landing it.
        """
        assert item.spec is not None
        candidates = self.jobs.find({key: item.spec.labels[key] for key in IDENTITY_LABELS})
        if not candidates:
            return None
        taken = {other.entry.job_name for other in self.items} | self.warehouse.landed_jobs(item.model)
        for job in candidates:
            if job.state not in FAILED_STATES and job.name not in taken:
                return job
        return None

    def _drop_queued(self) -> None:
        dropped = [item for item in self.items if item.phase == Phase.QUEUED]
        self.items = [item for item in self.items if item.phase != Phase.QUEUED]
        for item in dropped:
            if item.staged is not None and not self.options.keep_tables:
                self.warehouse.discard(item.staged)
        for state in self.models.values():
            state.retry_at = state.retry_rows = None

    def _pause(self) -> float:
        """Seconds until the next pass: the poll interval, or sooner when a retry round falls due."""
        pause = self.options.poll_seconds if self.in_flight else float("inf")
        due = [state.retry_at for state in self.models.values() if state.retry_at is not None]
        if due:
            pause = min(pause, max(min(due) - self.clock.now(), 0.0))
        return 0.0 if pause == float("inf") else pause


__all__ = ["IN_FLIGHT", "JobLoop", "LoopOptions", "ModelState", "Phase", "WorkItem", "state_name"]
