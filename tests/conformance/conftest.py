"""Fixtures of the conformance suite: one local stack for the whole suite (both emulators and the batch
service with the fast test backend), a BigQuery dataset in the jobs' region and a bucket, and fresh inputs
of one good row and one row with the invalid role "tester" for each test.

Rows are slowed by 20 ms each so that a larger job stays RUNNING long enough to be cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conformance_helpers import EAST, LOCATION, PROJECT, Inputs, bad_and_good_rows, unique
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from vertex_batch.local.stack import LocalStack, StackConfig


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The local stack, shared by the conformance modules."""
    config = StackConfig.with_free_ports(
        Path(tmp_path_factory.mktemp("conformance")),
        project=PROJECT,
        location=LOCATION,
        backend="fake-fast-test",
        workers=2,
        service_args=("--fault-row-delay-s", "0.02"),
    )
    local = LocalStack(config)
    try:
        local.up()
        yield config
    finally:
        local.down()


@pytest.fixture(autouse=True)
def emulator_env(stack: StackConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs' own output readers (``iter_outputs``) find the emulators through the standard
    ``BIGQUERY_EMULATOR_HOST`` and ``STORAGE_EMULATOR_HOST`` variables: set them for each test, since other
    test modules in the same process point them at their own stacks."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", stack.bigquery_url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", stack.gcs_url)


@pytest.fixture(scope="session")
def bq(stack: StackConfig) -> bigquery.Client:
    return bigquery.Client(
        PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=stack.bigquery_url)
    )


@pytest.fixture(scope="session")
def gcs(stack: StackConfig) -> storage.Client:
    return storage.Client(PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack.gcs_url})


def regional_dataset(bq: bigquery.Client, name: str, location: str) -> str:
    """A dataset in one region: Vertex AI refuses BigQuery datasets in other regions and multi-regions."""
    dataset = bigquery.Dataset(f"{PROJECT}.{name}")
    dataset.location = location
    bq.create_dataset(dataset, exists_ok=True)
    return name


@pytest.fixture(scope="session")
def dataset(bq: bigquery.Client) -> str:
    """A dataset in the jobs' region."""
    return regional_dataset(bq, "conformance", LOCATION)


@pytest.fixture(scope="session")
def east_dataset(bq: bigquery.Client) -> str:
    """A dataset in us-east5, where the catalog serves Claude and Llama."""
    return regional_dataset(bq, "conformance_east5", EAST)


@pytest.fixture(scope="session")
def bucket(gcs: storage.Client) -> str:
    gcs.create_bucket("conformance")
    return "conformance"


@pytest.fixture
def inputs(bq: bigquery.Client, gcs: storage.Client, dataset: str, bucket: str) -> Callable[..., Inputs]:
    """``inputs(kind, rows=2)``: a new input (table or JSONL file) with one "tester" row and ``rows - 1`` good
    rows, and where to write the output."""

    def make(kind: str, rows: int = 2) -> Inputs:
        lines = [{"id": index, "request": request} for index, request in enumerate(bad_and_good_rows(rows))]
        name = unique("in")
        if kind == "bigquery":
            table_id = f"{PROJECT}.{dataset}.{name}"
            schema = [bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("request", "JSON")]
            bq.create_table(bigquery.Table(table_id, schema=schema))
            config = bigquery.LoadJobConfig(schema=schema, source_format="NEWLINE_DELIMITED_JSON")
            bq.load_table_from_json(lines, table_id, job_config=config).result()
            return Inputs(kind, f"bq://{table_id}", f"bq://{PROJECT}.{dataset}", rows)
        text = "".join(json.dumps(line) + "\n" for line in lines)
        gcs.bucket(bucket).blob(f"{name}/in.jsonl").upload_from_string(text)
        return Inputs(kind, f"gs://{bucket}/{name}/in.jsonl", f"gs://{bucket}/{name}/out", rows)

    return make
