"""The official SDKs against the local service, unchanged: the compatibility matrix.

google-cloud-aiplatform's low-level REST ``JobServiceClient`` and high-level ``BatchPredictionJob``;
google-genai ``client.batches`` on v1 and on its default v1beta1 — each with BigQuery and Cloud Storage.
The SDKs' own waits are used (aiplatform's ``wait_for_completion``, genai's ``BatchJob.done``); the
low-level client has none, so its test polls for the states the documented loop stops on.
tests/conformance/ holds one module per official client flow.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from google import genai
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, aiplatform_v1, bigquery, storage
from google.cloud.aiplatform import jobs
from google.genai import types
from google.oauth2.credentials import Credentials
from svc_helpers import (
    BAD_ROLE_STATUS,
    LOCATION,
    PARENT,
    PROJECT,
    PROJECT_NUMBER,
    ServiceProcess,
    gcs_output_lines,
    make_table,
    output_rows,
    request_for,
    unique,
    upload_jsonl,
)

warnings.filterwarnings("ignore", category=UserWarning)
ROWS = [request_for("good"), request_for("bad", role="narrator"), request_for("also good")]
DOCUMENTED_STOP_STATES = {
    aiplatform_v1.JobState.JOB_STATE_SUCCEEDED,
    aiplatform_v1.JobState.JOB_STATE_FAILED,
    aiplatform_v1.JobState.JOB_STATE_CANCELLED,
    aiplatform_v1.JobState.JOB_STATE_PAUSED,
}


def wait_until(get: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not finished: {value}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def sources(bq: bigquery.Client, dataset: str, gcs: storage.Client, bucket: str) -> dict[str, str]:
    folder = unique("sdk")
    return {
        "bigquery": make_table(bq, dataset, [{"id": i, "request": r} for i, r in enumerate(ROWS)]),
        "gcs": upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", [{"id": i, "request": r} for i, r in enumerate(ROWS)]),
        "gcs_out": f"gs://{bucket}/{folder}/out",
        "bq_out": f"bq://{PROJECT}.{dataset}",
    }


def check_output(kind: str, job: dict[str, Any], bq: bigquery.Client, gcs: storage.Client) -> None:
    rows = output_rows(bq, job) if kind == "bigquery" else gcs_output_lines(gcs, job)
    statuses = {row["id"]: row["status"] for row in rows}
    assert statuses == {0: "", 1: BAD_ROLE_STATUS, 2: ""}


@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_job_service_client_rest(
    kind: str, service: ServiceProcess, sources: dict[str, str], bq: bigquery.Client, gcs: storage.Client
) -> None:
    client = aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=service.url),
    )
    Job = aiplatform_v1.BatchPredictionJob
    if kind == "bigquery":
        input_config = Job.InputConfig(
            instances_format="bigquery",
            bigquery_source=aiplatform_v1.BigQuerySource(input_uri=sources["bigquery"]),
        )
        output_config = Job.OutputConfig(
            predictions_format="bigquery",
            bigquery_destination=aiplatform_v1.BigQueryDestination(output_uri=sources["bq_out"]),
        )
    else:
        input_config = Job.InputConfig(
            instances_format="jsonl", gcs_source=aiplatform_v1.GcsSource(uris=[sources["gcs"]])
        )
        output_config = Job.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=aiplatform_v1.GcsDestination(output_uri_prefix=sources["gcs_out"]),
        )
    job = Job(
        display_name=unique(f"gapic_{kind}"), model="publishers/google/models/gemini-3.5-flash",
        input_config=input_config, output_config=output_config, labels={"via": "gapic"},
    )  # fmt: skip
    created = client.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job)
    assert created.name.startswith(f"projects/{PROJECT_NUMBER}/locations/{LOCATION}/batchPredictionJobs/")
    assert created.state == aiplatform_v1.JobState.JOB_STATE_PENDING
    done = wait_until(
        lambda: client.get_batch_prediction_job(name=created.name), lambda j: j.state in DOCUMENTED_STOP_STATES
    )
    assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert (done.completion_stats.successful_count, done.completion_stats.failed_count) == (2, 1)
    assert done.start_time and done.end_time
    listed = client.list_batch_prediction_jobs(
        request={"parent": PARENT, "filter": f'display_name="{job.display_name}" AND labels.via="gapic"'}
    )
    assert [item.name for item in listed] == [created.name]
    check_output(kind, json.loads(Job.to_json(done)), bq, gcs)
    with pytest.raises(exceptions.BadRequest):
        client.cancel_batch_prediction_job(name=created.name)
    client.delete_batch_prediction_job(name=created.name).result(timeout=30)
    with pytest.raises(exceptions.NotFound):
        client.get_batch_prediction_job(name=created.name)
    with pytest.raises(exceptions.NotFound):
        client.create_batch_prediction_job(
            parent=PARENT, batch_prediction_job=Job(
                display_name="x", model="publishers/google/models/gemini-nope",
                input_config=input_config, output_config=output_config,
            ),
        )  # fmt: skip


@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_aiplatform_high_level(
    kind: str, service: ServiceProcess, sources: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.1)  # the SDK polls every 5 s
    aiplatform.init(
        project=PROJECT, location=LOCATION, api_endpoint=service.url, credentials=AnonymousCredentials(),
        api_transport="rest",
    )  # fmt: skip
    if kind == "bigquery":
        args = {"bigquery_source": sources["bigquery"], "bigquery_destination_prefix": sources["bq_out"]}
    else:
        args = {"gcs_source": sources["gcs"], "gcs_destination_prefix": sources["gcs_out"],
                "instances_format": "jsonl", "predictions_format": "jsonl"}  # fmt: skip
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name=unique(f"hl_{kind}"), model_name="publishers/google/models/gemini-3.5-flash", **args
    )
    job.wait_for_completion()
    done = aiplatform.BatchPredictionJob(job.resource_name)
    assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert done.completion_stats.failed_count == 1
    listed = aiplatform.BatchPredictionJob.list(filter=f'display_name="{done.display_name}"')
    assert [item.resource_name for item in listed] == [job.resource_name]
    done.delete()


@pytest.mark.parametrize("api_version", ["v1", None])
@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_google_genai_batches(
    kind: str, api_version: str | None, service: ServiceProcess, sources: dict[str, str],
    bq: bigquery.Client, gcs: storage.Client,
) -> None:  # fmt: skip
    options = (
        types.HttpOptions(base_url=service.url, api_version=api_version)
        if api_version
        else types.HttpOptions(base_url=service.url)
    )
    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token="local"),
        http_options=options,
    )
    dest = sources["bq_out"] if kind == "bigquery" else sources["gcs_out"]
    name = unique(f"genai_{kind}")
    job = client.batches.create(
        model="gemini-3.5-flash",
        src=sources[kind],
        config=types.CreateBatchJobConfig(display_name=name, dest=dest),
    )
    assert job.state == types.JobState.JOB_STATE_PENDING
    done = wait_until(lambda: client.batches.get(name=job.name), lambda j: j.done)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.completion_stats.successful_count == 2 and done.completion_stats.failed_count == 1
    assert done.dest is not None
    listed = list(client.batches.list(config=types.ListBatchJobsConfig(filter=f'display_name="{name}"')))
    assert [item.name for item in listed] == [job.name]
    # genai rebuilds paths from the project id and the numeric id.
    assert client.batches.get(name=job.name.rsplit("/", 1)[1]).name == job.name
    with pytest.raises(genai.errors.ClientError) as info:
        client.batches.cancel(name=job.name)
    assert info.value.code == 400
    deleted = client.batches.delete(name=job.name)
    assert deleted.done is True and deleted.error is None
    with pytest.raises(genai.errors.ClientError):
        client.batches.get(name=job.name)


def test_google_genai_cancel_running_job(
    start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str
) -> None:
    slow = start_service("--fault-row-delay-s", "0.05", "--model-batch-size", "2", "--chunk-rows", "2")
    table = make_table(bq, dataset, [{"id": i, "request": request_for(f"q{i}")} for i in range(100)])
    client = genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION, credentials=Credentials(token="local"),
        http_options=types.HttpOptions(base_url=slow.url, api_version="v1"),
    )  # fmt: skip
    job = client.batches.create(
        model="gemini-3.5-flash",
        src=table,
        config=types.CreateBatchJobConfig(dest=f"bq://{PROJECT}.{dataset}"),
    )
    wait_until(lambda: client.batches.get(name=job.name), lambda j: j.state == types.JobState.JOB_STATE_RUNNING)
    client.batches.cancel(name=job.name)
    done = wait_until(lambda: client.batches.get(name=job.name), lambda j: j.done)
    assert done.state == types.JobState.JOB_STATE_CANCELLED
    assert done.error is not None and done.error.code == 1 and done.error.message == "CANCELED"
    slow.stop()
