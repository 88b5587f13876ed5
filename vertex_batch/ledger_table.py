"""The ledger table through BigQuery: upserts and reads of ``ledger.LedgerEntry`` rows (``ports.JobLedger``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from google.cloud import bigquery

from vertex_batch.ledger import COLUMNS, LedgerEntry
from vertex_batch.request_models import RequestModel
from vertex_batch.warehouse import Warehouse, quote


class LedgerTable:
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

    def record(self, entry: LedgerEntry, replaces: str | None = None) -> None:
        """Insert or update the row of ``entry.job_name`` (of ``replaces``, renamed, when given: an intent)."""
        self.ensure()
        entry.updated_at = datetime.now(UTC)
        values = asdict(entry)
        params = [bigquery.ScalarQueryParameter(name, sql_type, values[name]) for name, sql_type in COLUMNS]
        params.append(bigquery.ScalarQueryParameter("match_name", "STRING", replaces or entry.job_name))
        names = [name for name, _ in COLUMNS]
        source = ", ".join(f"@{name} AS {name}" for name in names)
        updates = ", ".join(f"{name} = s.{name}" for name in names)
        self.warehouse.execute(
            f"MERGE {quote(self.table_id)} t USING (SELECT {source}) s ON t.job_name = @match_name "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})",
            params,
        )

    def forget(self, job_name: str) -> None:
        """Delete the row of ``job_name`` (an intent whose job was never created)."""
        if self.warehouse.exists(self.table_id):
            params = [bigquery.ScalarQueryParameter("name", "STRING", job_name)]
            self.warehouse.execute(f"DELETE FROM {quote(self.table_id)} WHERE job_name = @name", params)

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


@dataclass
class BigQueryLedger:
    """``ports.JobLedger`` over the ledger table beside each request model."""

    warehouse_for: Callable[[str], Warehouse]
    _tables: dict[str, LedgerTable] = field(default_factory=dict)

    def table(self, table_id: str) -> LedgerTable:
        if table_id not in self._tables:
            self._tables[table_id] = LedgerTable(self.warehouse_for(table_id.split(".", 1)[0]), table_id)
        return self._tables[table_id]

    def record(self, model: RequestModel, entry: LedgerEntry, replaces: str | None = None) -> None:
        self.table(model.ledger_table).record(entry, replaces)

    def forget(self, model: RequestModel, job_name: str) -> None:
        self.table(model.ledger_table).forget(job_name)

    def unlanded(self, model: RequestModel) -> list[LedgerEntry]:
        return self.table(model.ledger_table).unlanded(model.name)

    def entries(self, model: RequestModel, run_id: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.table(model.ledger_table).entries(run_id) if e.request_model == model.name]
