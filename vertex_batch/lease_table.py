"""Leases (``lease.LeaseStore``) in the table ``vertex_batch_leases`` beside each ledger, through BigQuery.

One row per request model (``lease_key``: its table id) naming the holder, its run and when the lease expires,
on BigQuery's clock (``CURRENT_TIMESTAMP()``: no two hosts' clocks are compared). Taking a lease is one MERGE that
writes only when the lease is free, expired or already the holder's: MERGE is a mutating DML statement, run under
snapshot isolation, and two concurrent ones on the table conflict, so the loser is rerun (by BigQuery, then by
``concurrent_writes.WRITE_RETRY``) against the winner's row and takes nothing
(https://cloud.google.com/bigquery/docs/data-manipulation-language, "DML statement conflicts"). The row read back
afterwards says who holds the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from google.cloud import bigquery

from vertex_batch.lease import Holder
from vertex_batch.request_models import RequestModel
from vertex_batch.warehouse import Warehouse, quote

LEASE_TABLE = "vertex_batch_leases"
COLUMNS = "lease_key STRING, holder STRING, run_id STRING, acquired_at TIMESTAMP, expires_at TIMESTAMP"
_EXPIRY = "TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @seconds SECOND)"


def lease_table(model: RequestModel) -> str:
    """``project.dataset.vertex_batch_leases`` of the dataset holding ``model``'s ledger."""
    return f"{model.ledger_table.rsplit('.', 1)[0]}.{LEASE_TABLE}"


def _params(**values: object) -> list[bigquery.ScalarQueryParameter]:
    kinds = {str: "STRING", int: "INT64"}
    return [bigquery.ScalarQueryParameter(name, kinds[type(value)], value) for name, value in values.items()]


@dataclass
class BigQueryLeases:
    """``lease.LeaseStore`` over BigQuery (one ``Warehouse`` per project)."""

    warehouse_for: Callable[[str], Warehouse]
    _ready: set[str] = field(default_factory=set)

    def _warehouse(self, table: str) -> Warehouse:
        return self.warehouse_for(table.split(".", 1)[0])

    def ready(self, model: RequestModel) -> bool:
        table = lease_table(model)
        if table in self._ready:
            return True
        warehouse = self._warehouse(table)
        if warehouse.dataset_location(table.rsplit(".", 1)[0]) is None:
            return False
        warehouse.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({COLUMNS})")
        self._ready.add(table)
        return True

    def take(self, model: RequestModel, holder: str, run_id: str, seconds: float) -> Holder | None:
        table = lease_table(model)
        warehouse = self._warehouse(table)
        params = _params(key=model.table_id, holder=holder, run=run_id, seconds=int(seconds))
        warehouse.execute(
            f"MERGE {quote(table)} t USING (SELECT @key AS lease_key) s ON t.lease_key = s.lease_key "
            "WHEN MATCHED AND (t.holder = @holder OR t.expires_at < CURRENT_TIMESTAMP()) THEN UPDATE SET "
            f"holder = @holder, run_id = @run, acquired_at = CURRENT_TIMESTAMP(), expires_at = {_EXPIRY} "
            "WHEN NOT MATCHED THEN INSERT (lease_key, holder, run_id, acquired_at, expires_at) "
            f"VALUES (@key, @holder, @run, CURRENT_TIMESTAMP(), {_EXPIRY})",
            params,
        )
        rows = warehouse.run(
            f"SELECT holder, run_id, TIMESTAMP_DIFF(expires_at, CURRENT_TIMESTAMP(), MILLISECOND) AS ms "
            f"FROM {quote(table)} WHERE lease_key = @key AND expires_at > CURRENT_TIMESTAMP() ORDER BY holder",
            _params(key=model.table_id),
        )
        holders = [Holder(row["holder"], row["run_id"], int(row["ms"]) / 1000) for row in rows]
        if not holders or holders[0].name == holder:
            return None
        if any(one.name == holder for one in holders):  # two rows (a race the MERGE should prevent): first wins
            self.release([model], holder)
        return holders[0]

    def renew(self, models: list[RequestModel], holder: str, seconds: float) -> list[str]:
        gone = []
        for table in sorted({lease_table(model) for model in models}):
            warehouse = self._warehouse(table)
            params = _params(holder=holder, seconds=int(seconds))
            # A row still naming the holder is its own, expired or not: taking a lease over renames its holder.
            warehouse.execute(f"UPDATE {quote(table)} SET expires_at = {_EXPIRY} WHERE holder = @holder", params)
            rows = warehouse.run(f"SELECT lease_key FROM {quote(table)} WHERE holder = @holder", params[:1])
            mine = {row[0] for row in rows}
            gone += [model.table_id for model in models if lease_table(model) == table and model.table_id not in mine]
        return gone

    def release(self, models: list[RequestModel], holder: str) -> None:
        for table in sorted({lease_table(model) for model in models}):
            self._warehouse(table).execute(f"DELETE FROM {quote(table)} WHERE holder = @holder", _params(holder=holder))
