"""The ports of the runner's core: what the job loop and the runner need from the job service, the warehouse, the
ledger, costs, progress output and the clock, and the factory that builds them for a run.

Protocols only (plus the real clock and a silent progress sink): no Google client, dbt or UI is imported here.
``wiring.CloudBackends`` connects them to the official clients; unit tests connect them to in-memory fakes
(``tests/unit/fakes.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from vertex_batch.catalog import Lane
from vertex_batch.checks import Check
from vertex_batch.jobs import JobSnapshot, JobSpec
from vertex_batch.lane_ports import LaneAdapters
from vertex_batch.ledger import LedgerEntry
from vertex_batch.prechecks import KeyAudit
from vertex_batch.regions import IOPlan, Region
from vertex_batch.request_models import Estimate, Landed, Pending, RequestModel, StagedInput

if TYPE_CHECKING:
    from vertex_batch.lease import LeaseStore


class JobService(Protocol):
    """Vertex AI batch prediction jobs. Errors: ``errors.JobNotFound`` (get), ``errors.JobError`` (a refusal),
    ``errors.ServiceUnavailable`` (still failing after retries), ``errors.ConfigurationError`` (permissions)."""

    def create(self, spec: JobSpec) -> JobSnapshot: ...

    def get(self, name: str) -> JobSnapshot: ...

    def find(self, labels: Mapping[str, str]) -> list[JobSnapshot]: ...

    def cancel(self, name: str) -> None: ...


class BatchWarehouse(Protocol):
    """The warehouse side of a job: checks, pending rows, staging (location-aware), landing."""

    def check(self, model: RequestModel) -> None:
        """Refuse a request table a job cannot take (``RequestTableError``, one line with the fix)."""
        ...

    def plan(self, model: RequestModel) -> IOPlan | None:
        """How the model's rows reach its jobs (None when no planner decides)."""
        ...

    def pending(self, model: RequestModel, retry: bool) -> Pending:
        """Rows not settled yet; with ``retry`` only rows whose failures are retryable and attempts remain."""
        ...

    def all_rows(self, model: RequestModel) -> Pending:
        """Every row of the request model (``--full-refresh-predictions``)."""
        ...

    def stage(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> list[StagedInput]:
        """Write the pending rows into job inputs of at most ``max_rows_per_job`` rows each."""
        ...

    def landed_jobs(self, model: RequestModel) -> set[str]:
        """Names of the jobs whose output is already in the landing table."""
        ...

    def land(self, model: RequestModel, staged: StagedInput, snapshot: JobSnapshot, attempt: int) -> Landed:
        """Append the job's output rows to the landing table (once per job)."""
        ...

    def discard(self, staged: StagedInput) -> None:
        """Drop a job's staged input and raw output."""
        ...

    def outcome(self, model: RequestModel, job_names: list[str]) -> tuple[int, int]:
        """Rows these jobs answered, and rows of them that ended failed with no success ever."""
        ...

    def audit(self, model: RequestModel) -> KeyAudit:
        """NULL keys, duplicate keys and empty requests of the request table (``prechecks``)."""
        ...

    def sweep(self, model: RequestModel, keep: set[str]) -> list[str]:
        """Drop the model's work tables (staged inputs, raw outputs) not in ``keep``; return the dropped ones."""
        ...


class JobLedger(Protocol):
    """The ledger table ``vertex_batch_jobs`` beside each request model."""

    def record(self, model: RequestModel, entry: LedgerEntry, replaces: str | None = None) -> None:
        """Insert or update ``entry`` (renaming the row of ``replaces``: an intent whose job now has a name)."""
        ...

    def forget(self, model: RequestModel, job_name: str) -> None:
        """Delete a row (an intent whose job was never created)."""
        ...

    def unlanded(self, model: RequestModel) -> list[LedgerEntry]: ...

    def entries(self, model: RequestModel, run_id: str | None = None) -> list[LedgerEntry]:
        """The model's jobs, of one run when ``run_id`` is given."""
        ...


class CostModel(Protocol):
    """Estimates before submitting and actual cost after landing (prices from the model catalog)."""

    def estimate(self, model: RequestModel, pending: Pending, lane: Lane = "batch") -> Estimate: ...

    def actual(self, model: RequestModel, landed: Landed) -> float: ...


class QueryRunner(Protocol):
    """Runs a query and returns its (small) result rows."""

    def run(self, sql: str) -> Sequence[Sequence[Any]]: ...


class ProgressSink(Protocol):
    """Where the loop reports: one-line messages and job updates (``progress.Progress`` on a terminal)."""

    def message(self, text: str) -> None: ...

    def job(self, label: str, snapshot: JobSnapshot, rows: int) -> None: ...


class Silent:
    """A progress sink that says nothing."""

    def message(self, text: str) -> None:
        return None

    def job(self, label: str, snapshot: JobSnapshot, rows: int) -> None:
        return None


class Clock(Protocol):
    """Monotonic seconds and a way to wait: the loop's only sleep goes through here."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


@dataclass(frozen=True)
class RunAdapters:
    """The adapters of one run in one project and job region."""

    jobs: JobService
    warehouse: BatchWarehouse
    ledger: JobLedger
    costs: CostModel
    lanes: LaneAdapters | None = None  # Flex and online calls (None: batch jobs only)
    leases: LeaseStore | None = None  # one worker per request model (``lease``); None: not leased


class Backends(Protocol):
    """Builds a run's adapters (the one wiring point: ``wiring.CloudBackends`` or a test's fakes)."""

    def dataset_location(self, dataset: str) -> str | None:
        """Where ``project.dataset`` lives (``US``, ``us-central1``), None when it does not exist."""
        ...

    def default_region(self, project: str) -> str:
        """The region used when nothing else says (no request model dataset exists yet)."""
        ...

    def preflight(self, project: str, region: str) -> list[Check]:
        """The fast checks before a run: credentials and the Vertex AI API in the region."""
        ...

    def adapters(self, project: str, region: Region, *, dry_run: bool, warn: Any) -> RunAdapters:
        """The job service, warehouse, ledger and cost model of a run in ``region`` (``warn``: one-line warnings)."""
        ...

    def ledger_entries(self, tables: Sequence[str]) -> list[tuple[str, LedgerEntry]]:
        """Every ledger row of these ledger tables, with its table (``status``, ``cancel``, ``resume``)."""
        ...

    def job_service(self, project: str, region: str) -> JobService:
        """The job service of ``project`` in ``region`` (``status``, ``cancel``)."""
        ...
