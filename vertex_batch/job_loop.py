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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vertex_batch.budget import Budget
from vertex_batch.errors import JobError, JobNotFound, ServiceUnavailable
from vertex_batch.families import fits_publisher_quota, job_model_parameters
from vertex_batch.job_create import create_once, find_created, intent_labels, intent_name, is_intent, job_labels
from vertex_batch.jobs import (
    FAILED_STATES,
    IDENTITY_LABELS,
    JobSnapshot,
    JobSpec,
    JobState,
)
from vertex_batch.ledger import LedgerEntry
from vertex_batch.location_errors import location_hint
from vertex_batch.ports import (
    BatchWarehouse,
    Clock,
    CostModel,
    JobLedger,
    JobService,
    ProgressSink,
    Silent,
    SystemClock,
)
from vertex_batch.report import BuildReport
from vertex_batch.request_models import Pending, RequestModel, StagedInput
from vertex_batch.work import ModelState, Phase, RetryPhase, WorkItem, phase_of


@dataclass(frozen=True)
class LoopOptions:
    """How the loop paces itself (values from ``settings.RunSettings``)."""

    run_id: str
    max_concurrent_jobs: int
    poll_seconds: float
    retry_backoff_seconds: float
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
    progress: ProgressSink = field(default_factory=Silent)
    clock: Clock = field(default_factory=SystemClock)
    budget: Budget = field(default_factory=Budget)
    guard: Callable[[], None] | None = None  # raises when this process may no longer create jobs (``lease``)
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
            if is_intent(entry.job_name):
                found = self._resolve_intent(model, entry)
                if found is None:
                    continue
                snapshot = found
            else:
                try:
                    snapshot = self.jobs.get(entry.job_name)
                except JobNotFound:
                    entry.landed, entry.error_message = True, "job no longer exists"
                    entry.state = JobState.FAILED.value
                    self.ledger.record(model, entry)
                    continue
            self.progress.message(
                f"{model.name}: attaching to {entry.job_name} left by run {entry.run_id} "
                f"({snapshot.state_name.lower()})"
            )
            self.items.append(WorkItem(model, entry, phase_of(snapshot), snapshot=snapshot))
            state.attempt = max(state.attempt, entry.attempt)
            state.report.jobs.append(entry.job_name)
            attached += 1
        return attached

    def has_unlanded(self, model: RequestModel) -> bool:
        return any(item.model.name == model.name and item.phase != Phase.LANDED for item in self.items)

    def queue(self, model: RequestModel, pending: Pending, attempt: int = 1) -> list[WorkItem]:
        """Stage ``pending`` rows into chunks and queue one job per chunk."""
        self._still_ours()
        state = self.state(model)
        state.attempt = max(state.attempt, attempt)
        estimate = self.costs.estimate(model, pending)
        staged = self.warehouse.stage(model, pending, attempt, self.options.run_id)
        queued = []
        for chunk, one in enumerate(staged, start=1):
            labels = job_labels(self.options.run_id, model, pending.fingerprint, chunk, attempt)
            spec = JobSpec(
                display_name=f"vertex-batch {model.name} {self.options.run_id} a{attempt} c{chunk}",
                model=model.settings.model,
                input_uri=one.input_uri,
                output_uri=one.output_uri,
                labels=labels,
                model_parameters=job_model_parameters(model.settings.family, model.settings.model_parameters),
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
        return [item for item in self.items if item.in_flight]

    @property
    def active(self) -> bool:
        """Jobs not landed yet, or a retry round still to come."""
        return any(item.phase != Phase.LANDED for item in self.items) or any(
            state.retry != RetryPhase.IDLE for state in self.models.values()
        )

    def committed_usd(self) -> float:
        """What the run has spent (landed jobs, exact) plus the estimates of the jobs in flight."""
        landed = sum(item.entry.actual_cost_usd for item in self.items if item.phase == Phase.LANDED)
        return landed + sum(item.entry.estimated_cost_usd for item in self.in_flight)

    def settle(
        self,
        models: list[RequestModel],
        pending_for: Callable[[RequestModel], Pending],
        wait: bool = True,
        before_queue: Callable[[list[tuple[RequestModel, Pending]]], None] | None = None,
    ) -> bool:
        """Bring request models to settled: attach to unlanded jobs and let them land (retries included), then
        queue the rows still pending (``pending_for``) and advance. With ``wait`` until done, else one pass each.
        ``before_queue`` sees what is about to be queued (estimates, the up-front budget). True when settled."""
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
            except JobError as error:  # the others are still cancelled; this one is landed when it ends
                self.progress.message(f"{item.model.name}: {error}")
                continue
            names.append(item.entry.job_name)
        return names

    # --- the passes ---------------------------------------------------------------------------
    def _poll(self) -> None:
        for item in self.in_flight:
            try:
                snapshot = self.jobs.get(item.entry.job_name)
            except JobNotFound:
                snapshot = JobSnapshot.lost(item.entry.job_name)
            item.observe(snapshot)
            self.progress.job(item.label, snapshot, item.entry.rows_submitted)

    def _land(self) -> None:
        for item in self.items:
            if item.phase == Phase.FINISHED:
                self._land_one(item)

    def _land_one(self, item: WorkItem) -> None:
        self._still_ours()
        model, entry, snapshot = item.model, item.entry, item.snapshot
        assert snapshot is not None
        # a job attached from the ledger: its input as the service reports it
        staged = item.staged or staged_of(entry, snapshot.input_uri)
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
        if snapshot.successful > landed.rows:  # never silent: answered (and paid) rows that did not land
            self.progress.message(
                f"{model.name}: warning: {snapshot.name} reports {snapshot.successful} answered rows, "
                f"{landed.rows} landed; the others are asked again"
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
        item.landed()
        state.job_landed()

    def _plan_retries(self) -> None:
        for state in self.models.values():
            if state.retry != RetryPhase.CHECK or self.has_unlanded(state.model):
                continue
            if self.cancelling or self.budget.stopped or state.attempt >= state.model.settings.max_attempts:
                state.nothing_to_retry()
                continue
            pending = self.warehouse.pending(state.model, retry=True)
            if pending.rows == 0:
                state.nothing_to_retry()
                continue
            delay = self.options.retry_backoff_seconds * (2 ** max(state.attempt - 1, 0))
            state.plan_retry(self.clock.now() + delay, pending)
            self.progress.message(
                f"{state.model.name}: {pending.rows} row(s) failed with retryable errors; "
                f"attempt {state.attempt + 1} of {state.model.settings.max_attempts} in {delay:.0f} s"
            )

    def _stage_due_retries(self) -> None:
        now = self.clock.now()
        for state in self.models.values():
            if state.due(now):
                self.queue(state.model, state.take_retry(), state.attempt + 1)

    def _submit(self) -> None:
        slots = self.options.max_concurrent_jobs - len(self.in_flight)
        for item in [item for item in self.items if item.phase == Phase.QUEUED]:
            if self.budget.stopped or not self.budget.allow(item.entry.estimated_cost_usd, self.committed_usd()):
                self.report.budget_stop = self.budget.stopped
                self.progress.message(f"budget: {self.budget.stopped}; submitting nothing more (landed rows are kept)")
                self._drop_queued()
                return
            if slots <= 0 or self.cancelling:
                return
            if not fits_publisher_quota(item.model, [other.model for other in self.in_flight]):
                continue  # waits for a job of its publisher to end
            self._submit_one(item)
            slots -= 1

    def _submit_one(self, item: WorkItem) -> None:
        """Create the item's job once (``job_create``): its intent goes to the ledger first, a create whose reply
        is lost is found by its labels, and the ledger then names the job."""
        assert item.spec is not None
        model, entry = item.model, item.entry
        self._still_ours()
        snapshot = self._find_existing(item)
        how = "attaching to {name} (same rows, already submitted)"
        intent = ""
        if snapshot is None:
            intent = entry.job_name = intent_name(item.spec.labels)
            entry.create_time = datetime.now(UTC)
            self.ledger.record(model, entry)
            try:
                snapshot, found = create_once(self.jobs, item.spec, self.clock, self._taken(model))
            except ServiceUnavailable:  # the job may exist: its intent and staged input stay for the next run
                self._drop_queued()
                raise
            except Exception:  # refused: no job was made
                self.ledger.forget(model, intent)
                entry.job_name = ""
                self._drop_queued()  # the run stops here: leave no staged input behind
                raise
            how = "{name} was created; its reply was lost, found by its labels" if found else "submitted {name}"
        self.progress.message(f"{model.name}: {how.format(name=snapshot.name)} ({entry.rows_submitted} rows)")
        entry.job_name = snapshot.name
        entry.state = snapshot.state_name
        entry.create_time = snapshot.create_time or datetime.now(UTC)
        self.ledger.record(model, entry, replaces=intent or None)
        report = self.state(model).report
        report.submitted_rows += entry.rows_submitted
        report.jobs.append(snapshot.name)
        item.observe(snapshot)

    def _still_ours(self) -> None:
        """Stop (``guard`` raises) before staging, creating or landing once the run is no longer this process's."""
        if self.guard is not None:
            self.guard()

    def _taken(self, model: RequestModel) -> set[str]:
        """Jobs that are somebody's already: tracked by this loop, named in the ledger, or landed."""
        ledger = {entry.job_name for entry in self.ledger.entries(model)}
        return {item.entry.job_name for item in self.items} | ledger | self.warehouse.landed_jobs(model)

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

    def _resolve_intent(self, model: RequestModel, entry: LedgerEntry) -> JobSnapshot | None:
        """An intent left by a process that stopped around a create: adopt the job its labels find, else drop
        the intent and its staged input (the rows are pending again)."""
        intent = entry.job_name
        found = find_created(self.jobs, intent_labels(intent, model), self._taken(model))
        if found is None:
            self.progress.message(f"{model.name}: the job of {intent} was never created; its rows are pending again")
            if not self.options.keep_tables:
                self.warehouse.discard(staged_of(entry))
            self.ledger.forget(model, intent)
            return None
        entry.job_name = found.name
        self.ledger.record(model, entry, replaces=intent)
        return found

    def sweep(self, model: RequestModel) -> list[str]:
        """When a command ends: drop the model's work tables that no job still needs, in the ledger (intents too)
        or in flight here: what was staged and never submitted, by this command or by a killed one. Only under the
        model's lease, so nobody else is staging."""
        if self.options.keep_tables:
            return []
        self._drop_queued()  # the loop ends with the command: what it staged and did not submit goes
        live = [item.entry for item in self.items if item.in_flight or item.phase == Phase.FINISHED]
        entries = [*self.ledger.unlanded(model), *live]
        keep = {name for entry in entries for name in (entry.input_table, entry.output_table, entry.output_uri)}
        return self.warehouse.sweep(model, keep)

    def _drop_queued(self) -> None:
        """Forget queued items and discard their staged input, except an item whose create was under way (it
        has a name in the ledger, its intent's or its job's: a failed create, Ctrl-C): its job may exist and read
        that input, or land from it; the ledger keeps it, and the next run lands the job or discards the input."""
        dropped = [item for item in self.items if item.phase == Phase.QUEUED]
        self.items = [item for item in self.items if item.phase != Phase.QUEUED]
        for item in dropped:
            if item.staged is not None and not self.options.keep_tables and not item.entry.job_name:
                self.warehouse.discard(item.staged)
        for state in self.models.values():
            state.drop_retry()

    def _pause(self) -> float:
        """Seconds until the next pass: the poll interval, or sooner when a retry round falls due."""
        pause = self.options.poll_seconds if self.in_flight else float("inf")
        due = [state.retry_at for state in self.models.values() if state.retry_at is not None]
        if due:
            pause = min(pause, max(min(due) - self.clock.now(), 0.0))
        return 0.0 if pause == float("inf") else pause


def staged_of(entry: LedgerEntry, input_uri: str = "") -> StagedInput:
    """The staged input of a ledger entry (``input_uri``: as the service reports it; else the BigQuery input
    table, or for a Cloud Storage job the folder its output went to, where its JSONL input was staged too)."""
    if not input_uri:
        gcs = entry.output_uri.startswith("gs://")
        input_uri = f"{entry.output_uri.rsplit('/', 1)[0]}/input-*.jsonl" if gcs else f"bq://{entry.input_table}"
    return StagedInput(input_uri, entry.output_uri, entry.rows_submitted, entry.input_table, entry.output_table)
