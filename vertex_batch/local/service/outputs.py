"""Where a job's output rows go: a BigQuery table or a JSONL object, behind one small interface; each row's
shape is its model family's (``family.Family``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from vertex_batch.local.service import bigquery_io, gcs_io
from vertex_batch.local.service.bigquery_io import BigQueryIO, TableUri
from vertex_batch.local.service.errors import DestinationError, bucket_missing
from vertex_batch.local.service.family import Family, Outcome
from vertex_batch.local.service.gcs_io import GcsIO, GcsPath
from vertex_batch.local.service.resources import rfc3339
from vertex_batch.local.service.store import JobRecord


class Output(Protocol):
    """The output of one job."""

    info: dict[str, str]

    def open(self, first_time: bool) -> tuple[int, int]:
        """Create the destination if needed; ``(rows already written, of which successful)``."""
        ...

    def row(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        """The output row for one input row."""
        ...

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Write rows in one atomic step."""
        ...

    def min_chunk(self, done: int, chunk_rows: int) -> int:
        """Fewest pending rows worth one write once ``done`` rows are written."""
        ...


class BigQueryOutput:
    """Output rows appended to a table by load jobs: the input columns the family keeps, then its own."""

    def __init__(
        self,
        io: BigQueryIO,
        table: TableUri,
        columns: list[dict[str, str]],
        job_location: str,
        family: Family,
        new_dataset: bool = False,
    ) -> None:
        self.io = io
        self.table = table
        self.columns = [column for column in columns if column["name"] not in family.dropped]
        self.job_location = job_location
        self.family = family
        self.new_dataset = new_dataset
        self.info = {
            "bigqueryOutputDataset": f"bq://{table.project}.{table.dataset}",
            "bigqueryOutputTable": str(table.table),
        }

    def open(self, first_time: bool) -> tuple[int, int]:
        created = self.io.create_output(
            self.table, self.columns, self.job_location, new_dataset=self.new_dataset, added=self.family.added_columns
        )
        if first_time and not created:
            raise DestinationError(f"The output table bq://{self.table.table_id} already exists.", code=6)
        return (0, 0) if created else self.io.output_counts(self.table, self.family.ok_sql)

    def row(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        values = {column["name"]: source.get(column["name"]) for column in self.columns}
        return self.family.table_row(values, outcome, at)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self.io.append(self.table, self.columns, rows, self.family.added_columns)

    def min_chunk(self, done: int, chunk_rows: int) -> int:
        return chunk_rows


class GcsOutput:
    """Output rows in ``predictions.jsonl``, grown by composing chunks onto it."""

    def __init__(self, io: GcsIO, directory: GcsPath, family: Family) -> None:
        self.io = io
        self.directory = directory
        self.family = family
        self.info = {"gcsOutputDirectory": directory.uri}
        self.chunks = 0

    def open(self, first_time: bool) -> tuple[int, int]:
        if not self.io.bucket_exists(self.directory.bucket):
            raise bucket_missing(self.directory.bucket)
        return self.io.output_counts(self.directory, self.family.line_ok)

    def row(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        return self.family.line(source, outcome, at)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self.chunks += 1
        self.io.append(self.directory, rows, self.chunks)

    def min_chunk(self, done: int, chunk_rows: int) -> int:
        # Each compose rewrites the whole object: growing chunks keep the total work linear.
        return max(chunk_rows, done // 4)


def plan_output(
    job: JobRecord,
    columns: list[dict[str, str]],
    family: Family,
    bigquery: Callable[[], BigQueryIO],
    gcs: Callable[[], GcsIO],
) -> Output:
    """The output of ``job`` (the same destination every time it is planned), in its family's shape."""
    output_config = job.spec.get("outputConfig", {})
    if "bigqueryDestination" in output_config:
        uri = output_config["bigqueryDestination"]["outputUri"]
        table = bigquery_io.BigQueryIO.resolve_destination(uri, job.create_us)
        new_dataset = bigquery_io.parse_uri(uri).dataset is None
        return BigQueryOutput(bigquery(), table, columns, job.location, family, new_dataset)
    prefix = output_config["gcsDestination"]["outputUriPrefix"]
    return GcsOutput(gcs(), gcs_io.output_directory(prefix, rfc3339(job.create_us)), family)
