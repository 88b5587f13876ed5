"""The job loop's ports: what it needs from the job service, the warehouse, the ledger, costs and the clock.

Production wires them to the official clients (``job_client.JobClient``, ``bigquery_io.BigQueryIO``);
unit tests wire them to in-memory fakes (``tests/unit/fakes.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from vertex_batch.dbt_graph import BatchSettings
from vertex_batch.job_client import JobSnapshot, JobSpec
from vertex_batch.landing import landing_table, ledger_table
from vertex_batch.ledger import LedgerEntry


@dataclass(frozen=True)
class RequestModel:
    """One request model as the loop sees it: its dbt name, its table and its settings."""

    name: str
    table_id: str
    settings: BatchSettings
    alias: str = ""

    @property
    def landing_table(self) -> str:
        return landing_table(self.table_id)

    @property
    def ledger_table(self) -> str:
        return ledger_table(self.table_id)

    @property
    def label(self) -> str:
        return self.alias or self.table_id.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Pending:
    """Rows a request model still needs answered: how many, a fingerprint of exactly which, and a handle
    (``query``) the warehouse stages them from."""

    rows: int
    fingerprint: str
    request_bytes: int = 0
    max_output_tokens: int = 0
    query: str = ""


@dataclass(frozen=True)
class StagedInput:
    """One job's input and destination, ready to submit."""

    input_uri: str
    output_uri: str
    rows: int
    input_table: str
    output_table: str
    note: str = ""  # how the rows reach the job (e.g. "BigQuery input in us-central1"), for progress output


@dataclass(frozen=True)
class Landed:
    """What landing one job's output wrote to the landing table."""

    rows: int
    prompt_tokens: int = 0
    candidate_tokens: int = 0
    total_tokens: int = 0
    failures: tuple[tuple[str, int], ...] = field(default=())
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None  # exact batch cost of the output rows (``usage.job_usage``); None: unpriced


class JobService(Protocol):
    """Vertex AI batch prediction jobs (``job_client.JobClient``)."""

    def create(self, spec: JobSpec) -> JobSnapshot: ...

    def get(self, name: str) -> JobSnapshot: ...

    def find(self, labels: Mapping[str, str]) -> list[JobSnapshot]: ...

    def cancel(self, name: str) -> None: ...


class BatchWarehouse(Protocol):
    """The warehouse side of a job: pending rows, staging (the location-aware plan plugs in here), landing."""

    def pending(self, model: RequestModel, retry: bool) -> Pending:
        """Rows not settled yet; with ``retry`` only rows whose failures are retryable and attempts remain."""
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


class JobLedger(Protocol):
    """The ledger table ``vertex_batch_jobs`` beside each request model."""

    def record(self, model: RequestModel, entry: LedgerEntry) -> None: ...

    def unlanded(self, model: RequestModel) -> list[LedgerEntry]: ...

    def entries(self, model: RequestModel, run_id: str | None = None) -> list[LedgerEntry]:
        """The model's jobs, of one run when ``run_id`` is given."""
        ...


@dataclass(frozen=True)
class Estimate:
    """A cost estimate of rows before they are submitted."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    low_usd: float | None = None
    high_usd: float | None = None
    details: tuple[str, ...] = ()  # how it was estimated and what it assumes, for --dry-run


class CostModel(Protocol):
    """Estimates before submitting and actual cost after landing (``costs.py`` owns the prices)."""

    def estimate(self, model: RequestModel, pending: Pending) -> Estimate: ...

    def actual(self, model: RequestModel, landed: Landed) -> float: ...


class Budget(Protocol):
    """Asked before every submit (first jobs, later chunks, retry rounds)."""

    def refuse(self, next_job_usd: float, committed_usd: float) -> str | None:
        """A one-line reason to stop submitting, or None. ``committed_usd``: landed cost plus the estimates of
        jobs in flight."""
        ...


@dataclass(frozen=True)
class NoBudget:
    """No limit."""

    def refuse(self, next_job_usd: float, committed_usd: float) -> str | None:
        return None


@dataclass(frozen=True)
class MaxCost:
    """``--max-cost``: stop before a job that would take the run above ``limit_usd``."""

    limit_usd: float

    def refuse(self, next_job_usd: float, committed_usd: float) -> str | None:
        if committed_usd + next_job_usd > self.limit_usd * (1 + 1e-9):
            return (
                f"the next job (estimated ${next_job_usd:.4f}) would take the run to "
                f"${committed_usd + next_job_usd:.4f}, above --max-cost ${self.limit_usd:.4f}"
            )
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
