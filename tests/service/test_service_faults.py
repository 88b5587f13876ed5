"""Fault injection: failed API calls, failed rows in Vertex's format, lost create replies; and the queue delay
that holds new batch jobs PENDING."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, bigquery
from svc_helpers import (
    ONLINE_MODEL,
    PARENT,
    PROJECT,
    ServiceProcess,
    bq_body,
    call,
    make_table,
    output_rows,
    request_for,
    unique,
)

from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.faults import Faults

QUEUE_DELAY_S = 2.0

RETRYABLE = {
    "Too Many Requests": (429, "RESOURCE_EXHAUSTED"),
    "Service Unavailable": (503, "UNAVAILABLE"),
    "Internal Server Error": (500, "INTERNAL"),
}


@pytest.mark.unit
def test_row_faults_are_fixed_per_job_and_row_with_a_seed() -> None:
    faults = Faults(ServiceConfig(fault_row_error_rate=0.5, fault_seed=3))
    first = [faults.row_error("1", row) for row in range(50)]
    assert first == [faults.row_error("1", row) for row in range(50)]
    assert first != [faults.row_error("2", row) for row in range(50)]
    assert 5 < sum(status is not None for status in first) < 45


def test_api_and_row_faults(start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str) -> None:
    service = start_service("--fault-api-error-rate", "0.3", "--fault-row-error-rate", "0.4", "--fault-seed", "5")
    assert all(call("GET", f"{service.url}/healthz")[0] == 200 for _ in range(10))
    answers = [call("GET", service.jobs_url()) for _ in range(60)]
    codes = {status for status, _ in answers}
    assert codes == {200, 429, 503}
    for status, body in answers:
        if status != 200:
            assert body["error"]["code"] == status
            assert body["error"]["status"] == {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}[status]
    table = make_table(bq, dataset, [{"id": i, "request": request_for(f"q{i}")} for i in range(60)])
    body = bq_body(table, f"bq://{PROJECT}.{dataset}")
    while (created := service.create(body))[0] != 200:
        assert created[0] in (429, 503)
    name = created[1]["name"]
    while True:
        status, job = call("GET", f"{service.url}/v1/{name}")
        if status == 200 and job["state"] not in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
            break
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    rows = output_rows(bq, job)
    failed = [row for row in rows if row["status"]]
    assert 5 < len(failed) < 55 and len(rows) == 60
    for row in failed:
        reason, _, body_text = row["status"].partition(": ")
        error = json.loads(body_text)["error"]
        assert (error["code"], error["status"]) == RETRYABLE[reason]
        assert row["response"] == {}
    service.stop()


@pytest.mark.unit
def test_call_faults_follow_the_seed_and_the_rates() -> None:
    config = ServiceConfig(fault_create_lost_reply_rate=0.5, flex_throttle_rate=0.3, fault_seed=11)
    draws = [
        [(f.create_reply_lost(), f.flex_throttled()) for _ in range(200)] for f in (Faults(config), Faults(config))
    ]
    assert draws[0] == draws[1]
    assert 60 < sum(lost for lost, _ in draws[0]) < 140 and 30 < sum(flex for _, flex in draws[0]) < 90
    quiet = Faults(ServiceConfig())
    assert not any(quiet.create_reply_lost() or quiet.flex_throttled() or quiet.api_error() for _ in range(50))


@pytest.fixture(scope="module")
def queued(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    """Every create's reply is lost, and new jobs wait ``QUEUE_DELAY_S`` in the queue."""
    return start_service("--fault-create-lost-reply-rate", "1", "--queue-delay-s", str(QUEUE_DELAY_S))


def job_client(service: ServiceProcess) -> aiplatform_v1.JobServiceClient:
    return aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(), transport="rest", client_options=ClientOptions(api_endpoint=service.url)
    )


def create_with_lost_reply(
    client: aiplatform_v1.JobServiceClient, table: str, dataset: str
) -> aiplatform_v1.BatchPredictionJob:
    """Create a job whose reply is lost, then find it as a runner must: by its display name."""
    Job = aiplatform_v1.BatchPredictionJob
    job = Job(
        display_name=unique("lost_reply"),
        model=f"publishers/google/models/{ONLINE_MODEL}",
        input_config=Job.InputConfig(
            instances_format="bigquery", bigquery_source=aiplatform_v1.BigQuerySource(input_uri=table)
        ),
        output_config=Job.OutputConfig(
            predictions_format="bigquery",
            bigquery_destination=aiplatform_v1.BigQueryDestination(output_uri=f"bq://{PROJECT}.{dataset}"),
        ),
    )
    with pytest.raises(exceptions.ServiceUnavailable, match="The service is currently unavailable"):
        client.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job)
    (made,) = client.list_batch_prediction_jobs(
        request={"parent": PARENT, "filter": f'display_name="{job.display_name}"'}
    )
    return made


def test_a_create_whose_reply_is_lost_made_exactly_one_job(
    queued: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    client = job_client(queued)
    table = make_table(bq, dataset, [{"id": i, "request": request_for(f"q{i}")} for i in range(2)])
    made = create_with_lost_reply(client, table, dataset)
    assert made.state == aiplatform_v1.JobState.JOB_STATE_PENDING
    job = queued.wait(made.name, timeout=60)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and len(output_rows(bq, job)) == 2
    waited = made.create_time.timestamp()
    started = client.get_batch_prediction_job(name=made.name).start_time.timestamp()
    assert started - waited >= QUEUE_DELAY_S


def test_a_job_cancelled_in_the_queue_is_cancelled_at_once(
    queued: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    client = job_client(queued)
    made = create_with_lost_reply(client, make_table(bq, dataset, [{"id": 0, "request": request_for("q")}]), dataset)
    client.cancel_batch_prediction_job(name=made.name)
    job = client.get_batch_prediction_job(name=made.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_CANCELLED and not job.start_time
    time.sleep(QUEUE_DELAY_S + 0.5)  # past the hold: the worker must leave it cancelled
    job = client.get_batch_prediction_job(name=made.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_CANCELLED and not job.start_time
