"""The job ledger: one row per batch job in a warehouse table that SQL users can query."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from google.cloud import bigquery

from vertex_batch.warehouse import Warehouse, quote

LEDGER_TABLE = "vertex_batch_jobs"

_TYPES = {
    str: "STRING",
    int: "INT64",
    float: "FLOAT64",
    bool: "BOOL",
    datetime: "TIMESTAMP",
}


@dataclass
class LedgerEntry:
    """What the ledger knows of one job."""

    job_name: str
    run_id: str
    request_model: str
    attempt: int
    chunk: int
    state: str
    input_table: str
    output_table: str
    rows_submitted: int
    output_uri: str = ""
    successful_count: int = 0
    failed_count: int = 0
    incomplete_count: int = 0
    prompt_tokens: int = 0
    candidate_tokens: int = 0
    total_tokens: int = 0
    estimated_cost_usd: float = 0.0
    actual_cost_usd: float = 0.0
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str = ""
    landed: bool = False
    updated_at: datetime | None = None


def _column_type(name: str) -> str:
    annotation = LedgerEntry.__annotations__[name]
    for python_type, sql_type in _TYPES.items():
        if python_type.__name__ in str(annotation):
            return sql_type
    raise TypeError(name)


COLUMNS = [(field.name, _column_type(field.name)) for field in fields(LedgerEntry)]


class Ledger:
    """Reads and upserts ledger rows in ``<project>.<dataset>.vertex_batch_jobs``."""

    def __init__(self, warehouse: Warehouse, table_id: str) -> None:
        self.warehouse = warehouse
        self.table_id = table_id
        self._ready = False

    def ensure(self) -> None:
        if self._ready:
            return
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)
        self.warehouse.execute(f"CREATE TABLE IF NOT EXISTS {quote(self.table_id)} ({columns})")
        self._ready = True

    def record(self, entry: LedgerEntry) -> None:
        """Insert or update the row of ``entry.job_name``."""
        self.ensure()
        entry.updated_at = datetime.now(UTC)
        values = asdict(entry)
        params = [bigquery.ScalarQueryParameter(name, sql_type, values[name]) for name, sql_type in COLUMNS]
        names = [name for name, _ in COLUMNS]
        source = ", ".join(f"@{name} AS {name}" for name in names)
        updates = ", ".join(f"{name} = s.{name}" for name in names if name != "job_name")
        self.warehouse.execute(
            f"MERGE {quote(self.table_id)} t USING (SELECT {source}) s ON t.job_name = s.job_name "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})",
            params,
        )

    def unlanded(self, request_model: str) -> list[LedgerEntry]:
        """Jobs of ``request_model`` whose output has not reached the landing table yet."""
        if not self.warehouse.exists(self.table_id):
            return []
        rows = self.warehouse.run(
            f"SELECT * FROM {quote(self.table_id)} WHERE request_model = @model AND NOT landed ORDER BY create_time",
            [bigquery.ScalarQueryParameter("model", "STRING", request_model)],
        )
        return [LedgerEntry(**{name: row[name] for name, _ in COLUMNS}) for row in rows]

    def entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """Ledger rows, newest first, optionally of one run."""
        if not self.warehouse.exists(self.table_id):
            return []
        where, params = "", []
        if run_id:
            where, params = "WHERE run_id = @run", [bigquery.ScalarQueryParameter("run", "STRING", run_id)]
        rows = self.warehouse.run(f"SELECT * FROM {quote(self.table_id)} {where} ORDER BY create_time DESC", params)
        return [LedgerEntry(**{name: row[name] for name, _ in COLUMNS}) for row in rows]
