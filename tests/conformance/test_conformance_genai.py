"""google-genai's ``client.batches`` (create, get, list, cancel, delete) and ``BatchJob.done``, unchanged,
against the local service, on ``v1`` and on the SDK's default ``v1beta1``.

``BatchJob.done`` is true only for SUCCEEDED, FAILED, CANCELLED and EXPIRED (``types.JOB_STATES_ENDED``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from conformance_helpers import LOCATION, MODEL, PROJECT, Inputs, assert_one_failed_row, jsonl_rows, unique
from google import genai
from google.cloud import bigquery, storage
from google.genai import types
from google.oauth2.credentials import Credentials

from vertex_batch.local.stack import StackConfig


def client_for(stack: StackConfig, api_version: str | None) -> genai.Client:
    options = types.HttpOptions(base_url=stack.vertex_url)
    if api_version:
        options.api_version = api_version
    return genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION, credentials=Credentials(token="local"), http_options=options
    )


def wait_done(client: genai.Client, job: types.BatchJob, timeout: float = 60) -> types.BatchJob:
    """Poll ``client.batches.get`` until the SDK's own ``BatchJob.done``."""
    deadline = time.monotonic() + timeout
    while not job.done:
        assert time.monotonic() < deadline, job.state
        time.sleep(0.1)
        job = client.batches.get(name=job.name)
    return job


def output_rows(job: types.BatchJob, bq: bigquery.Client, gcs: storage.Client) -> list[dict]:
    assert job.dest is not None
    if job.dest.bigquery_uri:
        return [dict(row.items()) for row in bq.list_rows(job.dest.bigquery_uri.removeprefix("bq://"))]
    bucket, _, prefix = (job.dest.gcs_uri or "").removeprefix("gs://").partition("/")
    return jsonl_rows(blob.download_as_text() for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/"))


@pytest.mark.parametrize("api_version", ["v1", None])
@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_create_get_list_delete(
    kind: str,
    api_version: str | None,
    stack: StackConfig,
    inputs: Callable[..., Inputs],
    bq: bigquery.Client,
    gcs: storage.Client,
) -> None:
    client = client_for(stack, api_version)
    source = inputs(kind)
    name = unique(f"genai_{kind}")
    # A full table for BigQuery, so that the job's `dest` names the table the rows are in.
    dest = f"{source.destination}.{unique('out')}" if kind == "bigquery" else source.destination
    job = client.batches.create(
        model=MODEL, src=source.source, config=types.CreateBatchJobConfig(display_name=name, dest=dest)
    )
    assert job.state == types.JobState.JOB_STATE_PENDING and not job.done
    done = wait_done(client, job)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and done.error is None
    assert done.completion_stats is not None
    assert (done.completion_stats.successful_count, done.completion_stats.failed_count) == (source.rows - 1, 1)
    assert_one_failed_row(output_rows(done, bq, gcs), source.rows)
    listed = list(client.batches.list(config=types.ListBatchJobsConfig(filter=f'display_name="{name}"')))
    assert [item.name for item in listed] == [job.name]
    # genai rebuilds a short name from the client's project id and the numeric id.
    assert client.batches.get(name=job.name.rsplit("/", 1)[1]).name == job.name
    with pytest.raises(genai.errors.ClientError) as cancel_finished:
        client.batches.cancel(name=job.name)
    assert cancel_finished.value.code == 400
    deleted = client.batches.delete(name=job.name)
    assert deleted.done is True and deleted.error is None
    with pytest.raises(genai.errors.ClientError) as gone:
        client.batches.get(name=job.name)
    assert gone.value.code == 404


def test_cancel_a_running_job(stack: StackConfig, inputs: Callable[..., Inputs]) -> None:
    client = client_for(stack, "v1")
    source = inputs("bigquery", rows=300)  # 300 rows x 20 ms: long enough to cancel while RUNNING
    job = client.batches.create(
        model=MODEL, src=source.source, config=types.CreateBatchJobConfig(dest=source.destination)
    )
    deadline = time.monotonic() + 60
    while job.state != types.JobState.JOB_STATE_RUNNING:
        assert time.monotonic() < deadline and not job.done, job.state
        time.sleep(0.05)
        job = client.batches.get(name=job.name)
    client.batches.cancel(name=job.name)
    done = wait_done(client, job)
    assert done.state == types.JobState.JOB_STATE_CANCELLED
    assert done.error is not None and (done.error.code, done.error.message) == (1, "CANCELED")
    stats = done.completion_stats
    if stats is not None:  # rows completed before the cancel are kept and counted
        assert (stats.successful_count or 0) + (stats.failed_count or 0) < source.rows
    client.batches.delete(name=job.name)
