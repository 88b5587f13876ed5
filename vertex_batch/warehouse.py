"""The runner's BigQuery work: find the rows still to answer, stage job inputs, land job outputs.

A staged job input holds only what the job needs: the key columns, ``request`` and ``request_fingerprint``
(derived by :mod:`vertex_batch.identity`); other request-model columns are joined back by the dbt flatten
macros, so wide rows are never copied and column types a job refuses never block it.

Every answer a job returns is appended to the request model's landing table ``<model>__batch_output``
(the dbt package's ``batch_output`` macro reads it). A row is *settled* once it has a success or a
permanent error for its key and request fingerprint; rows with only retryable failures are tried again,
up to ``max_attempts`` times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.api_core import exceptions as core
from google.cloud import bigquery

from vertex_batch.concurrent_writes import WRITE_RETRY
from vertex_batch.errors import RequestTableError
from vertex_batch.identity import (
    CONTENT_COLUMN,
    EMBEDDING_OPTIONAL_COLUMNS,
    FINGERPRINT_COLUMN,
    embedding_staged_columns_sql,
    staged_columns_sql,
)
from vertex_batch.landing import JOB_OUTPUT_COLUMNS, reserved_columns
from vertex_batch.prechecks import request_present_sql
from vertex_batch.transient_errors import retryable_status_sql

REQUIRED_COLUMNS = ("request",)
# Legacy type names of the BigQuery API -> GoogleSQL DDL types.
SQL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
# Column types a batch job refuses in its BigQuery input (only key columns and `request` are staged).
UNSTAGEABLE_TYPES = frozenset({"RECORD", "STRUCT", "RANGE", "DATETIME", "GEOGRAPHY"})


def quote(table_id: str) -> str:
    """A backquoted table reference."""
    return f"`{table_id}`"


@dataclass(frozen=True)
class PendingSummary:
    """How many rows a request model still needs answered, and a fingerprint of exactly which."""

    rows: int
    fingerprint: str
    request_bytes: int


class Warehouse:
    """SQL the runner runs, through google-cloud-bigquery."""

    def __init__(self, client: bigquery.Client) -> None:
        self.client = client

    def run(self, sql: str, params: Sequence[bigquery.ScalarQueryParameter] = ()) -> list[bigquery.Row]:
        """Run a query and return its (small) result."""
        config = bigquery.QueryJobConfig(query_parameters=list(params)) if params else None
        return list(self.client.query(sql, job_config=config).result())

    def execute(self, sql: str, params: Sequence[bigquery.ScalarQueryParameter] = ()) -> None:
        """Run a statement (CREATE, INSERT, MERGE) and wait for it, reading none of the rows it wrote.

        A CREATE TABLE AS SELECT job may name its new table as destination; iterating its result
        would page through every row of that table (1M rows: minutes and gigabytes).
        """
        config = bigquery.QueryJobConfig(query_parameters=list(params)) if params else None
        WRITE_RETRY(lambda: self.client.query(sql, job_config=config).result(max_results=1))()

    def exists(self, table_id: str) -> bool:
        try:
            self.client.get_table(table_id)
        except core.NotFound:
            return False
        return True

    def columns(self, table_id: str) -> list[bigquery.SchemaField]:
        return list(self.client.get_table(table_id).schema)

    def drop(self, table_id: str) -> None:
        WRITE_RETRY(self.client.delete_table)(table_id, not_found_ok=True)

    def tables(self, dataset_id: str, prefix: str) -> list[str]:
        """Ids of the tables of ``project.dataset`` whose name starts with ``prefix`` (none if it is missing)."""
        try:
            listed = list(self.client.list_tables(dataset_id))
        except core.NotFound:
            return []
        return [f"{dataset_id}.{table.table_id}" for table in listed if table.table_id.startswith(prefix)]

    def dataset_location(self, dataset_id: str) -> str | None:
        """The location of ``project.dataset`` as BigQuery reports it (``US``, ``us-central1``), or None if missing."""
        try:
            return self.client.get_dataset(dataset_id).location or None
        except core.NotFound:
            return None

    def check_request_table(
        self, table_id: str, key: Sequence[str], kind: str = "generate", family: str | None = None
    ) -> None:
        """Refuse a request table that lacks the key or ``request`` columns (``content`` for an embeddings
        request model), has a column the family's output reserves, or whose key a job cannot take."""
        try:
            fields = {field.name: field for field in self.columns(table_id)}
        except core.NotFound as error:
            raise RequestTableError(f"request table {table_id} does not exist; build it with dbt first") from error
        embed = kind == "embed"
        missing = [
            column for column in (*key, *((CONTENT_COLUMN,) if embed else REQUIRED_COLUMNS)) if column not in fields
        ]
        if missing:
            build = (
                "select the text to embed as `content` (STRING)"
                if embed
                else "build `request` with vertex_batch.prompt_request(...) (or the family's own builder)"
            )
            raise RequestTableError(
                f"request table {table_id} has no column {', '.join(missing)}: name the key columns in "
                f"meta.vertex_batch.key and {build}"
            )
        if embed and fields[CONTENT_COLUMN].field_type != "STRING":
            raise RequestTableError(
                f"request table {table_id}: `content` is {fields[CONTENT_COLUMN].field_type}; an embeddings job "
                "needs STRING (CAST(... AS STRING))"
            )
        family = family or ("text-embedding" if embed else "gemini")
        reserved = [column for column in reserved_columns(family) if column in fields]
        if reserved:
            raise RequestTableError(
                f"request table {table_id} has column(s) {', '.join(reserved)}, "
                "which batch output reserves; rename them"
            )
        bad_keys = [
            f"{name} ({fields[name].field_type})"
            for name in key
            if fields[name].field_type in UNSTAGEABLE_TYPES or fields[name].mode == "REPEATED"
        ]
        if bad_keys:
            raise RequestTableError(
                f"request table {table_id}: key column(s) {', '.join(bad_keys)} cannot go into a batch job; "
                "use STRING, INT64, DATE or TIMESTAMP keys (e.g. CAST(... AS STRING))"
            )

    def requests_sql(
        self,
        request_table: str,
        key: Sequence[str],
        model: str,
        params: dict | None = None,
        kind: str = "generate",
    ) -> str:
        """Every row of the request table as a job needs it: key columns, ``request`` (embeddings: ``content``
        and the optional columns it has), ``request_fingerprint``."""
        if kind == "embed":
            optional = [field.name for field in self.columns(request_table) if field.name in EMBEDDING_OPTIONAL_COLUMNS]
            return (
                f"SELECT {embedding_staged_columns_sql(key, model, params, optional)} FROM {quote(request_table)} "
                f"WHERE {request_present_sql(kind)}"
            )
        string_request = any(
            field.name == "request" and field.field_type == "STRING" for field in self.columns(request_table)
        )
        return (
            f"SELECT {staged_columns_sql(key, model, params, string_request)} FROM {quote(request_table)} "
            f"WHERE {request_present_sql(kind)}"
        )

    def pending_sql(
        self,
        request_table: str,
        landing_table: str,
        key: Sequence[str],
        max_attempts: int,
        retryable_only: bool = False,
        *,
        model: str,
        params: dict | None = None,
        kind: str = "generate",
    ) -> str:
        """Rows of the request table (staged columns only) whose key and fingerprint are not settled yet."""
        requests = self.requests_sql(request_table, key, model, params, kind)
        if not self.exists(landing_table):
            return f"SELECT * FROM ({requests}) WHERE FALSE" if retryable_only else requests
        join = ", ".join([*key, FINGERPRINT_COLUMN])
        retryable = retryable_status_sql("status")
        still_open = f"(NOT a.settled AND a.retryable_failures < {int(max_attempts)})"
        where = still_open if retryable_only else f"a.settled IS NULL OR {still_open}"
        return (
            f"WITH requests AS ({requests}), "
            f"answered AS (SELECT {join}, LOGICAL_OR(NOT {retryable}) AS settled, "
            f"COUNTIF({retryable}) AS retryable_failures FROM {quote(landing_table)} GROUP BY {join}) "
            f"SELECT r.* FROM requests r LEFT JOIN answered a USING ({join}) WHERE {where}"
        )

    def summarize(self, pending_sql: str, key: Sequence[str], kind: str = "generate") -> PendingSummary:
        """Row count, an order-independent fingerprint of (key, request_fingerprint), and request bytes
        (embeddings: bytes of ``content``)."""
        parts = ", '|', ".join(f"CAST({column} AS STRING)" for column in key)
        size = f"LENGTH({CONTENT_COLUMN})" if kind == "embed" else "LENGTH(TO_JSON_STRING(request))"
        rows = self.run(
            f"SELECT COUNT(*) AS n, BIT_XOR(FARM_FINGERPRINT(CONCAT({parts}, '|', request_fingerprint))) AS f, "
            f"SUM({size}) AS b FROM ({pending_sql})"
        )
        n, f, b = rows[0]
        return PendingSummary(
            rows=int(n or 0), fingerprint=f"{(f or 0) & 0xFFFFFFFFFFFFFFFF:016x}", request_bytes=int(b or 0)
        )

    def stage(self, pending_sql: str, key: Sequence[str], staged_prefix: str, rows: int, per_job: int) -> list[str]:
        """Write the pending rows into one input table per job of at most ``per_job`` rows."""
        if rows <= per_job:
            table = f"{staged_prefix}_1"
            self.drop(table)
            self.execute(f"CREATE TABLE {quote(table)} AS {pending_sql}")
            return [table]
        numbered = f"{staged_prefix}_all"
        self.drop(numbered)
        order = ", ".join([*key, "request_fingerprint"])
        self.execute(
            f"CREATE TABLE {quote(numbered)} AS SELECT *, ROW_NUMBER() OVER (ORDER BY {order}) AS _vertex_batch_row "
            f"FROM ({pending_sql})"
        )
        tables = []
        for index, start in enumerate(range(0, rows, per_job), start=1):
            table = f"{staged_prefix}_{index}"
            self.drop(table)
            self.execute(
                f"CREATE TABLE {quote(table)} AS SELECT * EXCEPT (_vertex_batch_row) FROM {quote(numbered)} "
                f"WHERE _vertex_batch_row BETWEEN {start + 1} AND {start + per_job}"
            )
            tables.append(table)
        self.drop(numbered)
        return tables

    def land(self, output_table: str, landing_table: str, job_name: str, attempt: int) -> int:
        """Append a job's output rows to the landing table (created on first use); return rows landed."""
        if not self.exists(output_table):
            return 0
        params = [
            bigquery.ScalarQueryParameter("job", "STRING", job_name),
            bigquery.ScalarQueryParameter("attempt", "INT64", attempt),
        ]
        extras = "@job AS batch_job_name, @attempt AS batch_attempt, CURRENT_TIMESTAMP() AS landed_at"
        self.append(f"SELECT *, {extras} FROM {quote(output_table)}", landing_table, params)
        return self.count(output_table)

    def append(self, select_sql: str, table_id: str, params: Sequence[bigquery.ScalarQueryParameter] = ()) -> None:
        """Append the rows of ``select_sql`` to ``table_id`` by column name, creating it on first use; columns
        the table lacks are added first (a request model whose model moved to another family lands new ones)."""
        if not self.exists(table_id):
            self.execute(f"CREATE TABLE {quote(table_id)} AS {select_sql}", params)
            return
        config = bigquery.QueryJobConfig(dry_run=True, query_parameters=list(params))
        schema = self.client.query(select_sql, job_config=config).schema  # a dry run: the columns, nothing read
        existing = {field.name for field in self.columns(table_id)}
        missing = [field for field in schema if field.name not in existing]
        if missing:
            added = ", ".join(
                f"ADD COLUMN IF NOT EXISTS {field.name} {SQL_TYPES.get(field.field_type, field.field_type)}"
                for field in missing
            )
            self.execute(f"ALTER TABLE {quote(table_id)} {added}")
        cols = ", ".join(field.name for field in schema)
        self.execute(f"INSERT INTO {quote(table_id)} ({cols}) SELECT {cols} FROM ({select_sql})", params)

    def land_joined(self, select_sql: str, landing_table: str, job_name: str, attempt: int) -> None:
        """Append the landing rows ``select_sql`` gives (``landing.joined_landing_sql``) for one job."""
        params = [
            bigquery.ScalarQueryParameter("job", "STRING", job_name),
            bigquery.ScalarQueryParameter("attempt", "INT64", attempt),
        ]
        self.append(select_sql, landing_table, params)

    def export_jsonl(self, table_id: str, uri_pattern: str, columns: str | None = None) -> None:
        """Export a staged input table as JSONL files (``uri_pattern`` holds one ``*``); ``columns``: a select
        list over the table that gives exactly the lines' fields (else every column)."""
        source = table_id
        if columns is not None:
            source = f"{table_id}_lines"
            self.drop(source)
            self.execute(f"CREATE TABLE {quote(source)} AS SELECT {columns} FROM {quote(table_id)}")
        config = bigquery.ExtractJobConfig(destination_format="NEWLINE_DELIMITED_JSON")
        self.client.extract_table(source, uri_pattern, job_config=config).result()
        if source != table_id:
            self.drop(source)

    def load_jsonl(self, uri: str, table_id: str, fields: Sequence[tuple[str, str]]) -> None:
        """Load JSONL output lines into ``table_id`` with the given (name, type) fields (others are ignored)."""
        config = bigquery.LoadJobConfig(
            source_format="NEWLINE_DELIMITED_JSON",
            schema=[bigquery.SchemaField(name, kind) for name, kind in fields],
            ignore_unknown_values=True,
            write_disposition="WRITE_TRUNCATE",
        )
        self.client.load_table_from_uri(uri, table_id, job_config=config).result()

    def load_embedding_predictions(self, uri: str, table_id: str, input_table: str) -> None:
        """Load an embeddings job's ``predictions.jsonl`` (``instance``, ``predictions``, ``status`` a line) into a
        table shaped like its BigQuery output: the input columns (from ``instance``), ``predictions`` as JSON
        text, ``status``."""
        raw = f"{table_id}_jsonl"
        schema = [
            bigquery.SchemaField("instance", "JSON"),
            bigquery.SchemaField("predictions", "JSON"),
            bigquery.SchemaField("status", "STRING"),
        ]
        config = bigquery.LoadJobConfig(
            source_format="NEWLINE_DELIMITED_JSON",
            schema=schema,
            ignore_unknown_values=True,
            write_disposition="WRITE_TRUNCATE",
        )
        self.client.load_table_from_uri(uri, raw, job_config=config).result()
        columns = ", ".join(
            f"SAFE_CAST(JSON_VALUE(instance, '$.{field.name}') AS {field.field_type}) AS {field.name}"
            for field in self.columns(input_table)
        )
        self.drop(table_id)
        self.execute(
            f"CREATE TABLE {quote(table_id)} AS SELECT {columns}, TO_JSON_STRING(predictions) AS predictions, "
            f"status FROM {quote(raw)}"
        )
        self.drop(raw)

    def embedding_tokens(self, output_table: str) -> int:
        """Tokens an embeddings job's output rows embedded (``statistics.token_count``)."""
        if not self.exists(output_table):
            return 0
        path = "'$[0].embeddings.statistics.token_count'"
        rows = self.run(f"SELECT SUM(SAFE_CAST(JSON_VALUE(predictions, {path}) AS INT64)) FROM {quote(output_table)}")
        return int(rows[0][0] or 0)

    def load_predictions(self, uri: str, table_id: str, input_table: str) -> None:
        """Load a GCS ``predictions.jsonl`` into a table shaped like BigQuery batch output."""
        schema = [*self.columns(input_table), *(bigquery.SchemaField(name, kind) for name, kind in JOB_OUTPUT_COLUMNS)]
        config = bigquery.LoadJobConfig(
            source_format="NEWLINE_DELIMITED_JSON",
            schema=schema,
            ignore_unknown_values=True,
            write_disposition="WRITE_TRUNCATE",
        )
        self.client.load_table_from_uri(uri, table_id, job_config=config).result()

    def count(self, table_id: str, where: str = "TRUE") -> int:
        return int(self.run(f"SELECT COUNT(*) FROM {quote(table_id)} WHERE {where}")[0][0])

    def landed_jobs(self, landing_table: str) -> set[str]:
        if not self.exists(landing_table):
            return set()
        return {row[0] for row in self.run(f"SELECT DISTINCT batch_job_name FROM {quote(landing_table)}")}

    def failure_summary(self, output_table: str, limit: int = 5, job: str | None = None) -> list[tuple[str, int]]:
        """The most frequent failed-row statuses of a job's output (or of its rows in a landing table, ``job``),
        with counts."""
        if not self.exists(output_table):
            return []
        params = [bigquery.ScalarQueryParameter("job", "STRING", job)] if job else []
        mine = " AND batch_job_name = @job" if job else ""
        rows = self.run(
            f"SELECT status, COUNT(*) AS n FROM {quote(output_table)} WHERE status != ''{mine} "
            f"GROUP BY status ORDER BY n DESC LIMIT {int(limit)}",
            params,
        )
        return [(row[0], int(row[1])) for row in rows]
