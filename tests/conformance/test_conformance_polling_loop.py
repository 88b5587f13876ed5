"""The documented polling loops, as written in Vertex AI's batch prediction docs: google-genai's loop that
stops on SUCCEEDED, FAILED, CANCELLED or PAUSED, and the REST ``batchPredictionJobs.get`` loop. Only the
sleep is shortened (30 s in the docs).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

import pytest
from conformance_helpers import LOCATION, MODEL, PROJECT, PUBLISHER_MODEL, Inputs, assert_one_failed_row, jsonl_rows
from google import genai
from google.cloud import bigquery, storage
from google.genai.types import CreateBatchJobConfig, HttpOptions, JobState
from google.oauth2.credentials import Credentials

from vertex_batch.local.stack import StackConfig

KINDS = ["bigquery", "gcs"]
DOCUMENTED_STOP_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED"}


def output_rows(kind: str, job: dict, bq: bigquery.Client, gcs: storage.Client) -> list[dict]:
    info = job["outputInfo"]
    if kind == "bigquery":
        dataset = info["bigqueryOutputDataset"].removeprefix("bq://")
        return [dict(row.items()) for row in bq.list_rows(f"{dataset}.{info['bigqueryOutputTable']}")]
    bucket, _, prefix = info["gcsOutputDirectory"].removeprefix("gs://").partition("/")
    return jsonl_rows(blob.download_as_text() for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/"))


@pytest.mark.parametrize("kind", KINDS)
def test_genai_documented_loop(kind: str, stack: StackConfig, inputs: Callable[..., Inputs]) -> None:
    source = inputs(kind)
    client = genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION, credentials=Credentials(token="local"),
        http_options=HttpOptions(base_url=stack.vertex_url, api_version="v1"),
    )  # fmt: skip
    job = client.batches.create(model=MODEL, src=source.source, config=CreateBatchJobConfig(dest=source.destination))
    assert job.state == JobState.JOB_STATE_PENDING

    completed_states = {
        JobState.JOB_STATE_SUCCEEDED,
        JobState.JOB_STATE_FAILED,
        JobState.JOB_STATE_CANCELLED,
        JobState.JOB_STATE_PAUSED,
    }
    deadline = time.monotonic() + 60
    while job.state not in completed_states:
        assert time.monotonic() < deadline, job.state
        time.sleep(0.1)
        job = client.batches.get(name=job.name)

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert job.completion_stats is not None
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (source.rows - 1, 1)


@pytest.mark.parametrize("kind", KINDS)
def test_rest_documented_loop(
    kind: str, stack: StackConfig, inputs: Callable[..., Inputs], bq: bigquery.Client, gcs: storage.Client
) -> None:
    """``POST …/batchPredictionJobs`` with the documented body, then ``GET`` until a stop state."""
    source = inputs(kind)
    if kind == "bigquery":
        input_config = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": source.source}}
        output_config = {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": source.destination}}
    else:
        input_config = {"instancesFormat": "jsonl", "gcsSource": {"uris": source.source}}
        output_config = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": source.destination}}
    body = {"displayName": f"rest-{kind}", "model": PUBLISHER_MODEL, "inputConfig": input_config,
            "outputConfig": output_config}  # fmt: skip
    url = f"{stack.vertex_url}/v1/projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs"
    job = http_json("POST", url, body)
    deadline = time.monotonic() + 60
    while job["state"] not in DOCUMENTED_STOP_STATES:
        assert time.monotonic() < deadline, job["state"]
        time.sleep(0.1)
        job = http_json("GET", f"{stack.vertex_url}/v1/{job['name']}")
    assert job["state"] == "JOB_STATE_SUCCEEDED" and "error" not in job
    assert job["completionStats"] == {"successfulCount": str(source.rows - 1), "failedCount": "1"}
    assert_one_failed_row(output_rows(kind, job, bq, gcs), source.rows)


def http_json(method: str, url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
