"""The vertexai SDK's ``batch_prediction.BatchPredictionJob``, unchanged, against the local service.

``has_ended`` is true only for SUCCEEDED, FAILED, CANCELLED and PAUSED, ``has_succeeded`` only for SUCCEEDED,
and ``num_pending_jobs()`` lists jobs with an ``OR`` filter (``state="JOB_STATE_QUEUED" OR …``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import vertexai
from conformance_helpers import LOCATION, MODEL, PROJECT, Inputs, assert_one_failed_row, jsonl_rows
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage
from google.cloud.aiplatform_v1 import JobState
from vertexai.batch_prediction import BatchPredictionJob

from vertex_batch.local.stack import StackConfig


@pytest.fixture(autouse=True)
def sdk(stack: StackConfig) -> Iterator[None]:
    vertexai.init(
        project=PROJECT, location=LOCATION, api_endpoint=stack.vertex_url, credentials=AnonymousCredentials(),
        api_transport="rest",
    )  # fmt: skip
    yield


def output_rows(job: BatchPredictionJob, bq: bigquery.Client, gcs: storage.Client) -> list[dict]:
    info = job._gca_resource.output_info
    if info.bigquery_output_table:
        dataset = info.bigquery_output_dataset.removeprefix("bq://")
        return [dict(row.items()) for row in bq.list_rows(f"{dataset}.{info.bigquery_output_table}")]
    bucket, _, prefix = job.output_location.removeprefix("gs://").partition("/")
    return jsonl_rows(blob.download_as_text() for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/"))


@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_submit_has_ended_has_succeeded_num_pending_jobs(
    kind: str, inputs: Callable[..., Inputs], bq: bigquery.Client, gcs: storage.Client
) -> None:
    source = inputs(kind, rows=100)  # 100 rows x 20 ms: the job is still pending or running below
    job = BatchPredictionJob.submit(
        source_model=MODEL, input_dataset=source.source, output_uri_prefix=source.destination
    )
    assert not job.has_ended
    assert BatchPredictionJob.num_pending_jobs() >= 1
    deadline = time.monotonic() + 60
    while not job.has_ended:
        assert time.monotonic() < deadline, job.state
        time.sleep(0.1)
        job.refresh()
    assert job.has_succeeded and job.state == JobState.JOB_STATE_SUCCEEDED, job._gca_resource.error
    stats = job._gca_resource.completion_stats
    assert (stats.successful_count, stats.failed_count) == (source.rows - 1, 1)
    assert BatchPredictionJob.num_pending_jobs() == 0
    assert_one_failed_row(output_rows(job, bq, gcs), source.rows)
    assert job.resource_name in [item.resource_name for item in BatchPredictionJob.list()]
    job.delete()
