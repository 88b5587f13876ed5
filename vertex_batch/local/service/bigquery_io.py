"""BigQuery input and output of batch jobs, through google-cloud-bigquery pointed at the configured endpoint.

Output tables have the input columns in order, then ``response`` JSON, ``status`` STRING and
``processed_time`` TIMESTAMP. Each chunk of output rows is one load job, so a chunk is either fully in the
table or not at all; the row count of the table tells a restarted job where to resume.

Locations, as Vertex AI: the input and output datasets must be in the job's region (multi-regions such as
``US`` and ``EU`` never are). An input elsewhere fails the import (code 3), an output elsewhere fails the
export (code 13), a missing output dataset fails with code 9; a ``bq://project`` destination gets a new
dataset in the job's region.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Conflict, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from vertex_batch.local.service.errors import DestinationError, InputError, JobFailure, dataset_missing

#: Column types BigQuery batch input refuses.
UNSUPPORTED_TYPES = frozenset({"RECORD", "STRUCT", "RANGE", "DATETIME", "GEOGRAPHY"})
#: Column names the output adds; an input column may not have them (Vertex AI documents ``response`` and
#: ``status`` as reserved; ``processed_time`` would collide in the output table as well). Case-insensitive,
#: as BigQuery column names are.
RESERVED_COLUMNS = ("response", "status", "processed_time")
OUTPUT_COLUMNS = (
    bigquery.SchemaField("response", "JSON"),
    bigquery.SchemaField("status", "STRING"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
)
_URI = re.compile(r"^bq://([A-Za-z0-9_.:\-]+?)(?:\.([A-Za-z0-9_]+))?(?:\.([A-Za-z0-9_$\-]+))?$")


@dataclass(frozen=True)
class TableUri:
    """A parsed ``bq://project[.dataset[.table]]``."""

    project: str
    dataset: str | None = None
    table: str | None = None

    @property
    def table_id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


def parse_uri(uri: str) -> TableUri:
    """Parse ``bq://p``, ``bq://p.ds`` or ``bq://p.ds.t``; raises ``ValueError`` if malformed."""
    match = _URI.match(uri.strip())
    if not match:
        raise ValueError(f"{uri!r} is not a BigQuery URI like bq://project.dataset.table")
    return TableUri(*match.groups())


class JobPlace(Protocol):
    """What the location rule needs to know of a job."""

    id: str
    project: str
    location: str


#: BigQuery multi-region locations; batch jobs never read or write datasets there.
MULTI_REGIONS = ("us", "eu")


def same_location(dataset_location: str, job_location: str) -> bool:
    """Whether a dataset is in the job's region. Multi-regions (``US``, ``EU``) never are: Vertex AI
    supports only datasets in the job's own region for batch jobs, so a job at the ``us``/``eu`` multi-region
    endpoints cannot use BigQuery datasets at all (not documented either way; the stricter reading)."""
    location = dataset_location.strip().lower()
    return location not in MULTI_REGIONS and location == job_location.strip().lower()


def input_location_message(dataset_location: str, job: JobPlace) -> str:
    """Vertex AI's import failure for an input dataset outside the job's region: its import query runs in
    the dataset's location and cannot see the job's staging dataset (``Failed to import data.`` is added)."""
    return (
        f"Not found: Dataset {job.project}-tp:llm_bp_tenant_dataset_{job.id} was not found in location "
        f"{dataset_location or 'US'}"
    )


def output_location_message(dataset_location: str, job_location: str) -> str:
    """The export failure for an output dataset outside the job's region (BigQuery's cross-location error)."""
    return (
        "Failed to export data. Cannot read and write in different locations: "
        f"source: {job_location}, destination: {dataset_location or 'US'}"
    )


def name_stamp(created_us: int) -> str:
    """A job's create time as it appears in generated table and dataset names."""
    stamp = dt.datetime.fromtimestamp(created_us / 1_000_000, dt.UTC)
    return stamp.strftime("%Y_%m_%dT%H_%M_%S_") + f"{stamp.microsecond // 1000:03d}Z"


def json_value(value: Any) -> Any:
    """A value from ``list_rows`` as JSON that a load job reads back as the same BigQuery value."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def column_spec(field: bigquery.SchemaField) -> dict[str, str]:
    return {"name": field.name, "type": field.field_type, "mode": field.mode or "NULLABLE"}


class BigQueryIO:
    """Reads input tables and writes output tables of batch jobs."""

    def __init__(self, endpoint: str | None, project: str) -> None:
        options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        credentials = AnonymousCredentials() if endpoint else None
        self.client = bigquery.Client(project, credentials=credentials, client_options=options)

    # -- input ---------------------------------------------------------------------------------
    def count_rows(self, uri: str) -> int | None:
        """Rows in the input table, or ``None`` when it cannot be read (the job will fail then)."""
        table = parse_uri(uri)
        if not table.table:
            return None
        try:
            rows = self.client.query(f"SELECT COUNT(*) AS n FROM `{table.table_id}`").result()
            return int(next(iter(rows))["n"])
        except NotFound:
            return None

    def input_columns(
        self,
        uri: str,
        job: JobPlace,
        *,
        prompt_column: str = "request",
        prompt_types: tuple[str, ...] = ("JSON", "STRING"),
        reserved: tuple[str, ...] = RESERVED_COLUMNS,
    ) -> list[dict[str, str]]:
        """The input table's columns, checked as Vertex AI checks them (its dataset in the job's region);
        raises ``InputError``. Embeddings jobs read a ``content`` STRING column instead of ``request``."""
        try:
            table = parse_uri(uri)
        except ValueError as err:
            raise InputError(str(err)) from None
        if not table.table:
            raise InputError(f"The input {uri} must name a table: bq://project.dataset.table.")
        try:
            location = str(self.client.get_dataset(f"{table.project}.{table.dataset}").location or "")
        except NotFound:
            raise InputError(
                f"Not found: Dataset {table.project}:{table.dataset} was not found in location {job.location}"
            ) from None
        if not same_location(location, job.location):
            raise InputError(input_location_message(location, job))
        try:
            schema = self.client.get_table(table.table_id).schema
        except NotFound:
            raise InputError(f"The input table {uri} was not found.") from None
        names = {field.name: field for field in schema}
        if prompt_column not in names:
            raise InputError(f"The input table {uri} has no column named {prompt_column}.")
        if names[prompt_column].field_type not in prompt_types or names[prompt_column].mode == "REPEATED":
            raise InputError(
                f"The {prompt_column} column of {uri} is {names[prompt_column].field_type}; "
                f"it must be {' or '.join(prompt_types)}."
            )
        for field in schema:
            if field.name.lower() in reserved:
                raise InputError(
                    f"The input table {uri} has a column named {field.name}, which the output reserves; rename it."
                )
        for field in schema:
            kind = "ARRAY" if field.mode == "REPEATED" else field.field_type
            if kind == "ARRAY" or kind in UNSUPPORTED_TYPES:
                raise InputError(
                    f"Column {field.name} of {uri} has type {kind}; batch input columns may not be ARRAY, "
                    "STRUCT, RANGE, DATETIME or GEOGRAPHY."
                )
        return [column_spec(field) for field in schema]

    def read_rows(self, uri: str, columns: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Every row of the input table as JSON-ready dicts, in table order."""
        names = [column["name"] for column in columns]
        for row in self.client.list_rows(parse_uri(uri).table_id, page_size=10_000):
            yield {name: json_value(row[name]) for name in names}

    # -- output --------------------------------------------------------------------------------
    def check_destination(self, uri: str) -> None:
        """Refuse a destination table that already exists (a 400 at create). A missing dataset is not
        refused here: the job fails with code 9 when it runs."""
        table = parse_uri(uri)
        if not table.table:
            return
        try:
            self.client.get_table(table.table_id)
        except NotFound:
            return
        raise DestinationError(f"The output table {uri} already exists; name a new table or a dataset.")

    @staticmethod
    def resolve_destination(uri: str, created_us: int) -> TableUri:
        """The table a job writes: ``bq://p.ds.t`` as given, ``bq://p.ds`` → ``predictions_<time>``,
        ``bq://p`` → ``prediction_model_<time>.predictions`` in a new dataset. The proto names that dataset
        ``prediction_<model-display-name>_<time>``; a publisher model's display name in output names is
        ``model``, as in the Cloud Storage directory ``prediction-model-<time>``."""
        table = parse_uri(uri)
        stamp = name_stamp(created_us)
        if table.table:
            return table
        if table.dataset:
            return TableUri(table.project, table.dataset, f"predictions_{stamp}")
        return TableUri(table.project, f"prediction_model_{stamp}", "predictions")

    def create_output(
        self,
        table: TableUri,
        columns: list[dict[str, str]],
        job_location: str,
        *,
        new_dataset: bool = False,
        added: tuple[bigquery.SchemaField, ...] = OUTPUT_COLUMNS,
    ) -> bool:
        """Create the output table; ``False`` if it already exists. A ``new_dataset`` (for a ``bq://project``
        destination) is created in the job's region; otherwise the dataset must exist there: raises
        ``DestinationError`` (code 9) when it is missing and ``JobFailure`` (code 13) in another location."""
        dataset_id = f"{table.project}.{table.dataset}"
        if new_dataset:
            dataset = bigquery.Dataset(dataset_id)
            dataset.location = job_location
            self.client.create_dataset(dataset, exists_ok=True)
        else:
            location = self.dataset_location(table.project, str(table.dataset))
            if not same_location(location, job_location):
                raise JobFailure(output_location_message(location, job_location), code=13)
        try:
            self.client.create_table(bigquery.Table(table.table_id, schema=self.output_schema(columns, added)))
        except Conflict:
            return False
        return True

    def dataset_location(self, project: str, dataset: str) -> str:
        """The location of a dataset; raises ``DestinationError`` (code 9) when it does not exist."""
        try:
            return str(self.client.get_dataset(f"{project}.{dataset}").location or "")
        except NotFound:
            raise dataset_missing(project, dataset) from None

    @staticmethod
    def output_schema(
        columns: list[dict[str, str]], added: tuple[bigquery.SchemaField, ...] = OUTPUT_COLUMNS
    ) -> list[bigquery.SchemaField]:
        """The input columns, then the columns the job adds (an embeddings job adds other ones)."""
        fields = [bigquery.SchemaField(column["name"], column["type"]) for column in columns]
        return [*fields, *added]

    def output_counts(self, table: TableUri, ok_sql: str = "status = ''") -> tuple[int, int]:
        """``(rows, successful rows)`` already in an output table; ``ok_sql`` is true of a successful row."""
        rows = self.client.query(f"SELECT COUNT(*) AS n, COUNTIF({ok_sql}) AS ok FROM `{table.table_id}`").result()
        row = next(iter(rows))
        return int(row["n"] or 0), int(row["ok"] or 0)

    def append(
        self,
        table: TableUri,
        columns: list[dict[str, str]],
        rows: list[dict[str, Any]],
        added: tuple[bigquery.SchemaField, ...] = OUTPUT_COLUMNS,
    ) -> None:
        """Append rows in one load job (all or nothing)."""
        config = bigquery.LoadJobConfig(
            schema=self.output_schema(columns, added),
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        )
        self.client.load_table_from_json(rows, table.table_id, job_config=config).result()
