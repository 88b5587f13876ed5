"""In-memory fakes of the job loop's ports: a clock, a job service, a warehouse, a ledger and costs.

They share one dict of tables (table id → rows), so a job reads what staging wrote and writes what landing reads.
A row is ``{"key": str, "status": str}`` (``""`` for success). ``Responder(key, attempt)`` decides each row's status,
in batch jobs and in the Flex and online lanes (``FakeOnlineCaller``, whose calls land through ``FakeWarehouse``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from tests.unit.fake_leases import FakeClock, FakeLeases
from vertex_batch.budget import Budget
from vertex_batch.checks import Check
from vertex_batch.errors import JobError, JobNotFound, RequestTableError, ServiceUnavailable
from vertex_batch.job_loop import JobLoop, LoopOptions
from vertex_batch.jobs import JobSnapshot, JobSpec, JobState
from vertex_batch.lane_ports import FLEX_TRAFFIC, Answer, CallResult, LaneRequest, Recovered, StagedCalls
from vertex_batch.lanes import lane_of_job
from vertex_batch.ledger import LedgerEntry
from vertex_batch.ports import RunAdapters
from vertex_batch.prechecks import KeyAudit
from vertex_batch.regions import Region
from vertex_batch.report import BuildReport
from vertex_batch.request_models import BatchSettings, Estimate, Landed, Pending, RequestModel, StagedInput
from vertex_batch.transient_errors import is_retryable_row_status

Responder = Callable[[str, int], str]
LEDGER = "vertex_batch_jobs"
RATE_LIMITED = (
    'Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}'
)
BAD_ROLE = 'Bad Request: {"error": {"code": 400, "message": "Please use a valid role.", "status": "INVALID_ARGUMENT"}}'
EPOCH = datetime(2026, 11, 30, tzinfo=UTC)
WORK = ("_in", "_out")  # the suffixes of the fake warehouse's staged inputs and raw outputs


def all_succeed(key: str, attempt: int) -> str:
    return ""


def fail_first(attempts: int, status: str = RATE_LIMITED, keys: set[str] | None = None) -> Responder:
    """Rows (all, or ``keys``) fail with ``status`` in their first ``attempts`` attempts, then succeed."""

    def respond(key: str, attempt: int) -> str:
        return status if attempt <= attempts and (keys is None or key in keys) else ""

    return respond


@dataclass
class FakeJob:
    name: str
    spec: JobSpec
    keys: list[str]
    created_at: float
    duration: float
    end_state: JobState
    cancelled_at: float | None = None
    finished: bool = False


def table_of(uri: str) -> str:
    return uri.removeprefix("bq://")


@dataclass
class FakeJobService:
    """Jobs run ``duration`` seconds of the fake clock, then end in ``end_state(spec)`` and write their rows."""

    clock: FakeClock
    tables: dict[str, list[dict]]
    responder: Responder = all_succeed
    duration: float | Callable[[JobSpec], float] = 10.0
    end_state: Callable[[JobSpec], JobState] = lambda spec: JobState.SUCCEEDED
    live_counts: bool = False
    refuse: str = ""  # a refusal message for every create (e.g. an unknown model)
    lost_replies: int = 0  # the next creates make their job, then answer 503 as if the reply were lost
    unavailable: int = 0  # the next creates answer 503 without making a job
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    creates: list[tuple[float, str, int]] = field(default_factory=list)  # (time, name, jobs running at create)
    gets: list[tuple[float, str]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)

    def running(self) -> int:
        return sum(1 for job in self.jobs.values() if not self._done(job))

    def create(self, spec: JobSpec) -> JobSnapshot:
        if self.refuse:
            raise JobError(f"the batch job for {spec.input_uri} was refused: {self.refuse}")
        if self.unavailable:
            self.unavailable -= 1
            raise ServiceUnavailable("503 The service is currently unavailable.")
        name = f"projects/p/locations/us-central1/batchPredictionJobs/{len(self.jobs) + 1}"
        keys = [row["key"] for row in self.tables[table_of(spec.input_uri)]]
        self.creates.append((self.clock.now(), name, self.running()))
        duration = self.duration(spec) if callable(self.duration) else self.duration
        self.jobs[name] = FakeJob(name, spec, keys, self.clock.now(), duration, self.end_state(spec))
        if self.lost_replies:
            self.lost_replies -= 1
            raise ServiceUnavailable("503 The service is currently unavailable.")
        return self._snapshot(self.jobs[name])

    def get(self, name: str) -> JobSnapshot:
        if name not in self.jobs:
            raise JobNotFound(f"job {name} not found")
        self.gets.append((self.clock.now(), name))
        return self._snapshot(self.jobs[name])

    def find(self, labels: Mapping[str, str]) -> list[JobSnapshot]:
        found = [job for job in self.jobs.values() if all(job.spec.labels.get(k) == v for k, v in labels.items())]
        return [self._snapshot(job) for job in reversed(found)]

    def cancel(self, name: str) -> None:
        self.cancels.append(name)
        job = self.jobs[name]
        if not self._done(job):
            job.cancelled_at = self.clock.now()

    def _done(self, job: FakeJob) -> bool:
        return job.cancelled_at is not None or self.clock.now() >= job.created_at + job.duration

    def _processed(self, job: FakeJob) -> list[str]:
        until = job.cancelled_at if job.cancelled_at is not None else self.clock.now()
        share = min(max((until - job.created_at) / job.duration, 0.0), 1.0) if job.duration else 1.0
        return job.keys[: int(len(job.keys) * share)]

    def _snapshot(self, job: FakeJob) -> JobSnapshot:
        attempt = int(job.spec.labels.get("vertex_batch_attempt", "1"))
        if job.cancelled_at is not None:
            state = JobState.CANCELLED
        elif self._done(job):
            state = job.end_state
        else:
            state = JobState.RUNNING
        processed = self._processed(job)
        writes = state in {JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED} or (state == JobState.CANCELLED)
        output = table_of(job.spec.output_uri)
        if self._done(job) and not job.finished:
            job.finished = True
            if writes:
                self.tables[output] = [
                    {"key": key, "status": self.responder(key, attempt), "job": job.name} for key in processed
                ]
        counted = self._done(job) or self.live_counts
        reported = (counted and writes) or self.live_counts
        statuses = [self.responder(key, attempt) for key in processed] if reported else []
        return JobSnapshot(
            name=job.name,
            display_name=job.spec.display_name,
            state=state,
            successful=sum(1 for status in statuses if status == ""),
            failed=sum(1 for status in statuses if status != ""),
            create_time=EPOCH + timedelta(seconds=job.created_at),
            start_time=EPOCH + timedelta(seconds=job.created_at),
            end_time=EPOCH + timedelta(seconds=job.created_at + job.duration) if self._done(job) else None,
            error_message="" if writes else f"job ended {state.name}",
            output_table=output,
            labels=dict(job.spec.labels),
            input_uri=job.spec.input_uri,
        )


@dataclass
class FakeWarehouse:
    """Request rows per request model, staging into shared tables, and a landing table per model."""

    tables: dict[str, list[dict]]
    requests: dict[str, list[str]] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)  # keys whose request is NULL or empty
    landing: dict[str, list[dict]] = field(default_factory=dict)
    staged: list[StagedInput] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    discarded_uris: list[str] = field(default_factory=list)

    def _rows(self, model: RequestModel) -> dict[str, list[str]]:
        statuses: dict[str, list[str]] = {key: [] for key in self.requests[model.name] if key not in self.empty}
        for row in self.landing.get(model.name, []):
            statuses.setdefault(row["key"], []).append(row["status"])
        return statuses

    def pending(self, model: RequestModel, retry: bool) -> Pending:
        keys = []
        for key, statuses in self._rows(model).items():
            settled = any(not is_retryable_row_status(status) for status in statuses)
            retryable = sum(1 for status in statuses if is_retryable_row_status(status))
            still_open = not settled and retryable < model.settings.max_attempts
            if (retry and statuses and still_open) or (not retry and (not statuses or still_open)):
                keys.append(key)
        digest = hashlib.sha256("|".join(sorted(keys)).encode()).hexdigest()[:16]
        return Pending(rows=len(keys), fingerprint=digest, request_bytes=100 * len(keys), query=json.dumps(keys))

    def stage(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> list[StagedInput]:
        keys = json.loads(pending.query)
        size = model.settings.max_rows_per_job
        staged = []
        for chunk, start in enumerate(range(0, len(keys), size), start=1):
            base = f"{model.table_id}__{run_id}_a{attempt}_c{chunk}"
            self.tables[f"{base}_in"] = [{"key": key} for key in keys[start : start + size]]
            one = StagedInput(
                f"bq://{base}_in", f"bq://{base}_out", len(keys[start : start + size]), f"{base}_in", f"{base}_out"
            )
            staged.append(one)
        self.staged += staged
        return staged

    def landed_jobs(self, model: RequestModel) -> set[str]:
        return {row["job"] for row in self.landing.get(model.name, [])}

    def land(self, model: RequestModel, staged: StagedInput, snapshot: JobSnapshot, attempt: int) -> Landed:
        return self._append(model, self.tables.get(snapshot.output_table or staged.output_table, []), attempt)

    def stage_calls(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> StagedCalls:
        keys = json.loads(pending.query)
        requests = tuple(LaneRequest(row, json.dumps({"key": key})) for row, key in enumerate(keys))
        return StagedCalls(f"{model.table_id}__lane_input_{run_id}_{attempt}", requests)

    def land_answers(
        self, model: RequestModel, staged: StagedCalls, answers: list[Answer], job_name: str, attempt: int
    ) -> Landed:
        keys = {request.row: json.loads(request.request)["key"] for request in staged.requests}
        rows = [{"key": keys[answer.row], "status": answer.result.status, "job": job_name} for answer in answers]
        return self._append(model, rows, attempt)

    def release(self, staged: StagedCalls) -> None:
        self.discarded.append(staged.input_table)

    def recover(self, model: RequestModel, known: set[str]) -> list[Recovered]:
        appends: dict[str, list[dict]] = {}
        for row in self.landing.get(model.name, []):
            if lane_of_job(row["job"]) != "batch" and row["job"] not in known:
                appends.setdefault(row["job"], []).append(row)
        found = []
        for name, rows in appends.items():
            ok = sum(1 for row in rows if row["status"] == "")
            found.append(Recovered(name, rows[0]["attempt"], ok, len(rows) - ok, Landed(rows=len(rows))))
        return found

    def _append(self, model: RequestModel, rows: list[dict], attempt: int) -> Landed:
        """Append a job's (or a lane append's) rows once per job name."""
        if rows and rows[0]["job"] not in self.landed_jobs(model):
            self.landing.setdefault(model.name, []).extend(dict(row, attempt=attempt) for row in rows)
        failures: dict[str, int] = {}
        for row in rows:
            if row["status"]:
                failures[row["status"]] = failures.get(row["status"], 0) + 1
        return Landed(
            rows=len(rows), prompt_tokens=10 * len(rows), total_tokens=15 * len(rows), failures=tuple(failures.items())
        )

    def discard(self, staged: StagedInput) -> None:
        self.discarded.append(staged.input_table)
        self.discarded_uris.append(staged.input_uri)
        self.tables.pop(staged.input_table, None)
        self.tables.pop(staged.output_table, None)

    def check(self, model: RequestModel) -> None:
        if model.name not in self.requests:
            raise RequestTableError(f"request table {model.table_id} does not exist; build it with dbt first")

    def plan(self, model: RequestModel) -> None:
        return None

    def all_rows(self, model: RequestModel) -> Pending:
        keys = list(self.requests[model.name])
        return Pending(
            rows=len(keys), fingerprint=f"all{len(keys)}", request_bytes=100 * len(keys), query=json.dumps(keys)
        )

    def outcome(self, model: RequestModel, job_names: list[str]) -> tuple[int, int]:
        mine = {row["key"] for row in self.landing.get(model.name, []) if row["job"] in job_names and not row["status"]}
        ever_ok = self.answered(model.name)
        failed = {row["key"] for row in self.landing.get(model.name, []) if row["job"] in job_names} - ever_ok
        return len(mine), len(failed)

    def audit(self, model: RequestModel) -> KeyAudit:
        keys = self.requests[model.name]
        keyed = [key for key in keys if key is not None]
        duplicates = sorted({key for key in keyed if keyed.count(key) > 1})
        empty = sorted(key for key in keyed if key in self.empty)
        return KeyAudit(
            rows=len(keys),
            null_keys=len(keys) - len(keyed),
            duplicate_keys=len(duplicates),
            duplicate_rows=sum(keyed.count(key) for key in duplicates),
            empty_requests=len(empty),
            duplicate_examples=tuple(duplicates[:5]),
            empty_request_examples=tuple(empty[:5]),
        )

    def sweep(self, model: RequestModel, keep: set[str]) -> list[str]:
        stale = [t for t in self.tables if t.startswith(f"{model.table_id}__") and t.endswith(WORK) and t not in keep]
        for table in stale:
            self.discarded.append(table)
            del self.tables[table]
        return stale

    def work_tables(self) -> list[str]:
        """Staged inputs and raw outputs still in the warehouse."""
        return [table for table in self.tables if table.endswith(WORK)]

    def landed_keys(self, model_name: str) -> list[str]:
        return [row["key"] for row in self.landing.get(model_name, [])]

    def answered(self, model_name: str) -> set[str]:
        return {row["key"] for row in self.landing.get(model_name, []) if row["status"] == ""}


@dataclass
class FakeLedger:
    rows: dict[str, LedgerEntry] = field(default_factory=dict)
    writes: int = 0

    def record(self, model: RequestModel, entry: LedgerEntry, replaces: str | None = None) -> None:
        self.writes += 1
        if replaces:
            self.rows.pop(replaces, None)
        self.rows[entry.job_name] = replace(entry)

    def forget(self, model: RequestModel, job_name: str) -> None:
        self.rows.pop(job_name, None)

    def unlanded(self, model: RequestModel) -> list[LedgerEntry]:
        return [replace(e) for e in self.rows.values() if e.request_model == model.name and not e.landed]

    def entries(self, model: RequestModel, run_id: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.rows.values() if e.request_model == model.name and run_id in (None, e.run_id)]


@dataclass
class FakeCosts:
    """One cent a row, estimated and actual; ``unpriced`` models have no price."""

    per_row: float = 0.01
    unpriced: frozenset[str] = frozenset()

    def estimate(self, model: RequestModel, pending: Pending, lane: str = "batch") -> Estimate:
        priced = model.settings.model not in self.unpriced
        cost = pending.rows * self.per_row if priced else 0.0
        return Estimate(pending.rows * 10, pending.rows * 5, cost, priced=priced)

    def actual(self, model: RequestModel, landed: Landed) -> float:
        return landed.rows * self.per_row if model.settings.model not in self.unpriced else 0.0


@dataclass
class FakeOnlineCaller:
    """Answers a staged request (``{"key": ...}``) with ``responder(key, call number)`` as its status, served in
    ``traffic(key)``; ``during(call number)`` runs inside each call (e.g. ``_thread.interrupt_main``)."""

    responder: Responder = all_succeed
    traffic: Callable[[str], str] = lambda key: FLEX_TRAFFIC
    during: Callable[[int], object] | None = None
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request_json: str) -> CallResult:
        key = json.loads(request_json)["key"]
        with self._lock:
            self.calls.append(key)
            number, attempt = len(self.calls), self.calls.count(key)
        if self.during is not None:
            self.during(number)
        status = self.responder(key, attempt)
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "trafficType": self.traffic(key)}
        answer = {"candidates": [{"content": {"parts": [{"text": "ok"}]}}], "usageMetadata": usage}
        response = None if status else answer
        refused = status.startswith(("Forbidden", "Not Found"))  # the call's refusal, not the row's
        return CallResult(response, status, EPOCH, None if status else self.traffic(key), fatal=refused)


@dataclass
class FakeLanes:
    """``lane_ports.LaneAdapters`` over a ``World``: its warehouse stores, one fake caller answers every lane."""

    store: FakeWarehouse
    calls: FakeOnlineCaller = field(default_factory=FakeOnlineCaller)
    lanes_called: list[str] = field(default_factory=list)

    def caller(self, lane: str, model: RequestModel) -> FakeOnlineCaller:
        self.lanes_called.append(lane)
        return self.calls


def request_model(name: str = "reviews", *, per_job: int = 200_000, attempts: int = 3) -> RequestModel:
    settings = BatchSettings(
        key=("id",), model="gemini-3.5-flash", max_rows_per_job=per_job, max_attempts=attempts, input="bigquery"
    )
    return RequestModel(name=name, table_id=f"p.ds.{name}", settings=settings, alias=name)


@dataclass
class World:
    """The fakes wired together, and a way to make a loop over them (a new loop = a new runner process)."""

    clock: FakeClock = field(default_factory=FakeClock)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    responder: Responder = all_succeed
    duration: float | Callable[[JobSpec], float] = 10.0
    end_state: Callable[[JobSpec], JobState] = lambda spec: JobState.SUCCEEDED
    jobs: FakeJobService = field(init=False)
    warehouse: FakeWarehouse = field(init=False)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    costs: FakeCosts = field(default_factory=FakeCosts)
    leases: FakeLeases = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = FakeJobService(self.clock, self.tables, self.responder, self.duration, self.end_state)
        self.warehouse = FakeWarehouse(self.tables)
        self.leases = FakeLeases(self.clock)

    def add(self, model: RequestModel, rows: int) -> RequestModel:
        self.warehouse.requests[model.name] = [f"{model.name}-{i:05d}" for i in range(rows)]
        return model

    def loop(
        self,
        *,
        run_id: str = "r1",
        cap: int = 4,
        poll: float = 5.0,
        backoff: float = 30.0,
        budget: Budget | None = None,
        report: BuildReport | None = None,
    ) -> JobLoop:
        options = LoopOptions(run_id=run_id, max_concurrent_jobs=cap, poll_seconds=poll, retry_backoff_seconds=backoff)
        return JobLoop(
            jobs=self.jobs,
            warehouse=self.warehouse,
            ledger=self.ledger,
            costs=FakeCosts(),
            options=options,
            report=report or BuildReport(run_id=run_id, dry_run=False),
            clock=self.clock,
            budget=budget or Budget(),
        )

    def settle(self, loop: JobLoop, *models: RequestModel, wait: bool = True) -> bool:
        """What the runner does per wave: attach, land, queue what is pending, advance."""
        return loop.settle(list(models), lambda model: self.warehouse.pending(model, retry=False), wait=wait)


@dataclass
class FakeBackends:
    """``ports.Backends`` over a ``World``: the factory a unit test hands the real ``Runner``."""

    world: World
    location: str = "us-central1"
    dataset_locations: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    adapters_made: list[tuple[str, Region, bool]] = field(default_factory=list)
    lanes: FakeLanes | None = None  # None: batch jobs only

    def dataset_location(self, dataset: str) -> str | None:
        return self.dataset_locations.get(dataset, self.location)

    def default_region(self, project: str) -> str:
        return self.location

    def preflight(self, project: str, region: str) -> list[Check]:
        return list(self.checks)

    def adapters(self, project: str, region: Region, *, dry_run: bool, warn: Callable[[str], object]) -> RunAdapters:
        self.adapters_made.append((project, region, dry_run))
        world = self.world
        return RunAdapters(
            world.jobs, world.warehouse, world.ledger, world.costs, lanes=self.lanes, leases=world.leases
        )

    def ledger_entries(self, tables: list[str]) -> list[tuple[str, LedgerEntry]]:
        return [(f"p.ds.{LEDGER}", entry) for entry in self.world.ledger.rows.values()]

    def job_service(self, project: str, region: str) -> FakeJobService:
        return self.world.jobs
