"""The Flex and online lanes: a request model's pending rows as concurrent ``generateContent`` calls, landed as
they finish, with a batch job's guarantees.

``Lanes.answer`` is the runner's hook: it chooses the lane of a request model's pending rows (``lanes``) and, for
``flex`` or ``online``, runs a ``LaneRun``:

1. up to ``max_attempts`` rounds: the first asks the pending rows, each later one (after the retry backoff, doubled
   each round) the rows whose answers are retryable failures (``BatchWarehouse.pending(retry=True)``, the batch
   rule); every call also backs off on 429 and 503 itself (``online_calls``);
2. a round stages its rows and issues them from a pool of ``concurrency`` threads, approved in waves of
   ``WAVE_SLOTS`` x ``concurrency`` calls, each only when ``Budget.allow`` lets the run spend its estimate;
3. finished calls land in small appends (``APPEND_ROWS`` answers, or ``APPEND_SECONDS`` after the first one waits),
   each under its own job name ``flex/<run id>/<model>/a<attempt>/<n>`` with its own ledger row, recorded landed:
   a kill loses at most the calls in flight and the answers of the append being written, and a rerun asks only
   what the landing table lacks; a Flex call the service answered at the standard price
   (``trafficType`` != ``ON_DEMAND_FLEX``) lands under ``online/...``, the price it was charged, with one warning;
4. Ctrl-C: no further call is issued, finished answers land, and ``KeyboardInterrupt`` goes on up (exit 130);
   a call refused as such (401, 403, 404: no access, model not served on that endpoint) stops the lane the same
   way, and ``auto`` hands the rows left to a batch job (an explicit lane stops the run in one line).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from vertex_batch.budget import Budget
from vertex_batch.catalog import Lane
from vertex_batch.errors import ConfigurationError
from vertex_batch.job_loop import JobLoop
from vertex_batch.landing import LANE_PREFIXES
from vertex_batch.lane_ports import FLEX_TRAFFIC, Answer, LaneAdapters, LaneRequest, StagedCalls
from vertex_batch.lanes import LaneChoice, choose_lane
from vertex_batch.ledger import LedgerEntry
from vertex_batch.regions import Region
from vertex_batch.report import ModelReport, clock_text
from vertex_batch.request_models import Landed, Pending, RequestModel

APPEND_ROWS = 50
APPEND_SECONDS = 2.0
WAVE_SLOTS = 4
PROGRESS_SECONDS = 10.0


class CallPool:
    """``size`` daemon threads that run ``call`` on submitted requests; answers come back through ``next``.

    Daemon threads: a stopped pool leaves its calls in flight behind without holding the process at exit."""

    def __init__(self, call: Callable[[LaneRequest], Answer], size: int) -> None:
        self._todo: queue.Queue[LaneRequest | None] = queue.Queue()
        self._done: queue.Queue[Answer | Exception] = queue.Queue()
        self._stopped = threading.Event()
        self._call, self._size = call, size
        self.in_flight = 0
        for _ in range(size):
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while (request := self._todo.get()) is not None and not self._stopped.is_set():
            try:
                self._done.put(self._call(request))
            except Exception as error:  # a bug in a caller: raised again in the main thread
                self._done.put(error)

    def submit(self, request: LaneRequest) -> None:
        self.in_flight += 1
        self._todo.put(request)

    def next(self, timeout: float) -> Answer | None:
        """The next finished call, or None after ``timeout`` seconds."""
        try:
            item = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        self.in_flight -= 1
        if isinstance(item, Exception):
            raise item
        return item

    def finished(self) -> list[Answer]:
        """The calls that finished and were not taken yet."""
        answers = []
        while True:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return answers
            self.in_flight -= 1
            if isinstance(item, Answer):
                answers.append(item)

    def stop(self) -> None:
        """Issue nothing more; threads end after their current call."""
        self._stopped.set()
        for _ in range(self._size):
            self._todo.put(None)


class LaneRefused(Exception):
    """The service refused the calls themselves (the first such status is the message)."""


def charged_lane(answer: Answer) -> Lane:
    """The lane whose price a call is charged at: a Flex call served at the standard price is ``online``."""
    if answer.lane == "flex" and answer.result.response is not None and answer.result.traffic != FLEX_TRAFFIC:
        return "online"
    return answer.lane


def lane_entry(
    model: RequestModel, name: str, attempt: int, ok: int, failed: int, landed: Landed, cost_usd: float
) -> LedgerEntry:
    """The ledger row of a landed append ``<lane>/<run id>/<model>/a<attempt>/<n>``."""
    _, run_id, *_, sequence = name.split("/")
    return LedgerEntry(
        job_name=name,
        run_id=run_id,
        request_model=model.name,
        attempt=attempt,
        chunk=int(sequence),
        state="SUCCEEDED",
        input_table="",
        output_table="",
        rows_submitted=ok + failed,
        successful_count=ok,
        failed_count=failed,
        prompt_tokens=landed.prompt_tokens,
        candidate_tokens=landed.candidate_tokens,
        total_tokens=landed.total_tokens,
        actual_cost_usd=cost_usd,
        landed=True,
    )


@dataclass
class LaneRun:
    """Answers one request model's pending rows through calls in ``lane`` (``flex`` or ``online``)."""

    model: RequestModel
    lane: Lane
    adapters: LaneAdapters
    loop: JobLoop  # the run's ledger, costs, warehouse, report, progress and clock, and the batch jobs' commitment
    budget: Budget
    concurrency: int
    backoff_seconds: float
    sequence: int = 0
    _open: int | None = None  # the append being written: its number survives an interrupted write
    served_standard: dict[str, int] = field(default_factory=dict)
    _recorded: set[str] = field(default_factory=set)
    _per_row_usd: float = 0.0
    _started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def report(self) -> ModelReport:
        return self.loop.state(self.model).report

    def run(self, pending: Pending) -> None:
        """Up to ``max_attempts`` rounds over ``pending``, then over the rows with retryable failures."""
        rows, attempt = pending, 1
        try:
            while rows.rows and not self.budget.stopped:
                self._round(rows, attempt)
                if attempt >= self.model.settings.max_attempts or self.budget.stopped:
                    return
                rows = self.loop.warehouse.pending(self.model, retry=True)
                if rows.rows:
                    delay = self.backoff_seconds * 2 ** (attempt - 1)
                    self.loop.progress.message(
                        f"{self.model.name}: {rows.rows} row(s) failed with retryable errors; "
                        f"{self.lane} attempt {attempt + 1} of {self.model.settings.max_attempts} in {delay:.0f} s"
                    )
                    self.loop.clock.sleep(delay)
                attempt += 1
        finally:
            self._warn_standard()

    # --- one round --------------------------------------------------------------------------------
    def _round(self, pending: Pending, attempt: int) -> None:
        estimate = self.loop.costs.estimate(self.model, pending, lane=self.lane)
        self._per_row_usd = estimate.cost_usd / max(pending.rows, 1)
        store = self.adapters.store
        staged = store.stage_calls(self.model, pending, attempt, self.loop.options.run_id)
        caller = self.adapters.caller(self.lane, self.model)
        pool = CallPool(lambda request: Answer(request.row, caller(request.request), self.lane), self.concurrency)
        requests, issued, approved, landed = staged.requests, 0, 0, 0
        waiting: list[Answer] = []
        since = 0.0
        self._started = datetime.now(UTC)
        last_line = time.monotonic()
        try:
            while True:
                while issued < len(requests) and pool.in_flight < self.concurrency and not self.budget.stopped:
                    if issued == approved:
                        wave = min(WAVE_SLOTS * self.concurrency, len(requests) - approved)
                        if not self._allow(wave, approved - landed):
                            break
                        approved += wave
                    pool.submit(requests[issued])
                    self.report.submitted_rows += 1
                    issued += 1
                if pool.in_flight == 0 and not waiting:
                    break
                timeout = max(APPEND_SECONDS - (time.monotonic() - since), 0.0) if waiting else 0.5
                answer = pool.next(timeout) if pool.in_flight else None
                if answer is not None and answer.result.fatal:
                    raise LaneRefused(answer.result.status)
                if answer is not None:
                    since = since if waiting else time.monotonic()
                    waiting.append(answer)
                due = waiting and time.monotonic() - since >= APPEND_SECONDS
                if len(waiting) >= APPEND_ROWS or due or (waiting and pool.in_flight == 0):
                    landed += self._land(staged, waiting, attempt)
                    if time.monotonic() - last_line >= PROGRESS_SECONDS or landed == len(requests):
                        last_line = time.monotonic()
                        self._progress_line(landed, len(requests))
        except (KeyboardInterrupt, LaneRefused) as stop:
            pool.stop()
            self._land(staged, waiting, attempt)  # an append cut short is written again under its own name
            self._land(staged, [answer for answer in pool.finished() if not answer.result.fatal], attempt)
            if isinstance(stop, KeyboardInterrupt):
                self.loop.progress.message(
                    f"{self.model.name}: interrupted; stopped issuing {self.lane} calls, landed the finished ones, "
                    f"{pool.in_flight} call(s) in flight dropped (a rerun asks them again)"
                )
            raise
        finally:
            pool.stop()
            store.release(staged)

    def _allow(self, rows: int, unlanded_rows: int) -> bool:
        """Whether the budget lets the next wave of ``rows`` calls go, on top of the calls not landed yet."""
        committed = self.loop.committed_usd() + self._per_row_usd * unlanded_rows
        what = f"the next {self.lane} wave of {self.model.name} ({rows} calls)"
        if self.budget.allow(self._per_row_usd * rows, committed, what):
            return True
        self.loop.report.budget_stop = self.budget.stopped
        self.loop.progress.message(f"budget: {self.budget.stopped}; calling nothing more (landed rows are kept)")
        return False

    def _progress_line(self, landed: int, total: int) -> None:
        elapsed = (datetime.now(UTC) - self._started).total_seconds()
        line = f"{self.lane} {landed}/{total} rows landed, {clock_text(elapsed)} elapsed"
        self.loop.progress.message(f"{self.model.name}: {line}")

    # --- landing ------------------------------------------------------------------------------------
    def _land(self, staged: StagedCalls, answers: list[Answer], attempt: int) -> int:
        """Land ``answers`` (emptied once written) as one append per charged lane; returns how many rows landed."""
        if not answers:
            return 0
        if self._open is None:
            self.sequence += 1
            self._open = self.sequence
        sequence = self._open
        by_lane: dict[Lane, list[Answer]] = {}
        for answer in answers:
            by_lane.setdefault(charged_lane(answer), []).append(answer)
        for lane, group in by_lane.items():
            name = f"{LANE_PREFIXES[lane]}{self.loop.options.run_id}/{self.model.label}/a{attempt}/{sequence:04d}"
            if name in self._recorded:
                continue
            landed = self.adapters.store.land_answers(self.model, staged, group, name, attempt)
            self._record(name, group, landed, attempt, sequence)
        count = len(answers)
        answers.clear()
        self._open = None
        return count

    def _record(self, name: str, group: list[Answer], landed: Landed, attempt: int, sequence: int) -> None:
        """The append's ledger row (landed), the run's reports and the budget's spend."""
        ok = sum(1 for answer in group if answer.result.status == "")
        for answer in group:
            if answer.lane != charged_lane(answer):
                traffic = answer.result.traffic or "none"
                self.served_standard[traffic] = self.served_standard.get(traffic, 0) + 1
        entry = lane_entry(
            self.model, name, attempt, ok, len(group) - ok, landed, self.loop.costs.actual(self.model, landed)
        )
        entry.estimated_cost_usd = self._per_row_usd * len(group)
        entry.create_time = entry.start_time = self._started
        entry.end_time = max(answer.result.processed_time for answer in group)
        self.loop.ledger.record(self.model, entry)
        self._recorded.add(name)
        self.budget.spent_in_lanes(entry.actual_cost_usd)
        self.report.jobs.append(name)
        self.report.actual_cost_usd += entry.actual_cost_usd
        self.loop.report.jobs.append(
            {
                "name": name,
                "request_model": self.model.name,
                "attempt": attempt,
                "chunk": sequence,
                "state": entry.state,
                "rows": len(group),
                "successful": ok,
                "failed": len(group) - ok,
                "landed_rows": landed.rows,
                "error": "",
            }
        )
        for status, count in landed.failures:
            self.report.failures.append((status, count))
            self.loop.progress.message(f"{self.model.name}: {count} row(s) failed with {status[:200]}")

    def _warn_standard(self) -> None:
        """One line when Flex calls were served (and billed) at the standard price."""
        if not self.served_standard:
            return
        count = sum(self.served_standard.values())
        kinds = ", ".join(sorted(self.served_standard))
        self.loop.progress.message(
            f"warning: {self.model.name}: {count} Flex call(s) were served as standard pay-as-you-go "
            f"(trafficType {kinds}); they landed under {LANE_PREFIXES['online']}... at the standard price"
        )


@dataclass
class Lanes:
    """The lanes of one run (the runner's hook): chooses each request model's lane and answers the Flex and
    online ones; ``adapters`` None (a backend without an online caller) keeps every model on batch jobs."""

    adapters: LaneAdapters | None
    loop: JobLoop
    budget: Budget
    region: Region | None
    concurrency: int
    backoff_seconds: float
    override: str | None = None  # --lane / $VERTEX_BATCH_LANE: every request model's lane in this run
    estimate: Callable[[RequestModel, Pending, Lane], ModelReport] | None = None
    answered: set[str] = field(default_factory=set)

    def choose(self, model: RequestModel, rows: int) -> LaneChoice:
        """The lane of ``rows`` pending rows of ``model``, recorded in its report."""
        settings = model.settings
        if self.override:
            settings = replace(settings, lane=self.override)
        choice = choose_lane(settings, rows, self.region)
        if choice.lane != "batch" and self.adapters is None:
            choice = LaneChoice("batch", "this run has no Flex or online caller")
        report = self.loop.state(model).report
        report.lane, report.lane_reason = choice.lane, choice.reason
        return choice

    def recover(self, models: list[RequestModel]) -> None:
        """Ledger rows for appends that an interrupted run landed without one (killed between the two writes)."""
        if self.adapters is None:
            return
        for model in models:
            known = {entry.job_name for entry in self.loop.ledger.entries(model)}
            found = self.adapters.store.recover(model, known)
            for one in found:
                cost = self.loop.costs.actual(model, one.landed)
                entry = lane_entry(model, one.job_name, one.attempt, one.successful, one.failed, one.landed, cost)
                entry.error_message = "ledger row written by a later run: the run that landed it stopped first"
                self.loop.ledger.record(model, entry)
            if found:
                self.loop.progress.message(f"{model.name}: recorded {len(found)} landed append(s) of a stopped run")

    def answer(self, model: RequestModel, pending: Pending) -> Pending:
        """Answer ``pending`` in the model's lane when it is Flex or online; returns the rows left for batch jobs."""
        if not pending.rows:
            return pending
        choice = self.choose(model, pending.rows)
        self.loop.progress.message(f"{model.name}: {choice.describe()}")
        if choice.lane == "batch" or self.adapters is None:
            return pending
        if self.estimate is not None:
            estimated = self.estimate(model, pending, choice.lane).estimated_cost_usd
            self.budget.check_plan(estimated, self.loop.committed_usd())
        self.answered.add(model.name)
        run = LaneRun(model, choice.lane, self.adapters, self.loop, self.budget, self.concurrency, self.backoff_seconds)
        try:
            run.run(pending)
        except LaneRefused as refusal:
            if (self.override or model.settings.lane) != "auto":
                raise ConfigurationError(f"{model.name}: {choice.lane} calls are refused: {refusal}") from None
            self.answered.discard(model.name)
            self.loop.progress.message(
                f"{model.name}: {choice.lane} calls are refused ({str(refusal)[:200]}); the rows left go to batch jobs"
            )
            return self.loop.warehouse.pending(model, retry=False)
        return Pending(0, pending.fingerprint)
