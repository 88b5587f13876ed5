"""End states as Vertex AI ends Gemini batch jobs: failed rows never fail a job; job-level failures
(missing bucket or dataset) end FAILED with production's code and message, after a successful create."""

from __future__ import annotations

import time

from google.cloud import bigquery, storage
from svc_helpers import (
    BAD_ROLE_STATUS,
    PROJECT,
    ServiceProcess,
    bq_body,
    gcs_body,
    gcs_output_lines,
    make_table,
    request_for,
    unique,
    upload_jsonl,
)

#: The documented polling loop stops only on these states.
DOC_LOOP_STOPS = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED"}


def bucket_message(bucket: str) -> str:
    return (
        f"Failed to get GCS bucket location for {bucket}. "
        "Please check that the bucket exists and permissions are set correctly."
    )


def test_documented_polling_loop_ends_on_a_job_with_failed_rows(
    service: ServiceProcess, gcs: storage.Client, bucket: str
) -> None:
    folder = unique("loop")
    uri = upload_jsonl(
        gcs, bucket, f"{folder}/in.jsonl", [{"request": request_for("ok")}, {"request": request_for("x", "tester")}]
    )
    status, job = service.create(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert status == 200
    deadline = time.monotonic() + 60
    while job["state"] not in DOC_LOOP_STOPS:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = service.get(job["name"])
    assert job["state"] == "JOB_STATE_SUCCEEDED" and "error" not in job
    assert job["completionStats"] == {"successfulCount": "1", "failedCount": "1"}
    assert sorted(line["status"] for line in gcs_output_lines(gcs, job)) == ["", BAD_ROLE_STATUS]


def test_every_row_failing_still_succeeds_on_gcs(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("allbad")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", [{"request": request_for("x", "tester")}] * 3)
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"failedCount": "3"}


def test_missing_output_bucket_fails_the_job_with_code_9(
    service: ServiceProcess, gcs: storage.Client, bucket: str
) -> None:
    uri = upload_jsonl(gcs, bucket, f"{unique('nobucket')}/in.jsonl", [{"request": request_for("hi")}])
    status, created = service.create(gcs_body(uri, "gs://no-such-bucket-here/out"))
    assert status == 200 and created["state"] == "JOB_STATE_PENDING"
    job = service.wait(created["name"])
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"] == {"code": 9, "message": bucket_message("no-such-bucket-here")}
    assert "completionStats" not in job


def test_missing_input_bucket_fails_the_job_with_code_9(service: ServiceProcess, bucket: str) -> None:
    job = service.run(gcs_body("gs://no-such-input-bucket/in.jsonl", f"gs://{bucket}/{unique('out')}"))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"] == {"code": 9, "message": bucket_message("no-such-input-bucket")}


def test_missing_output_dataset_fails_the_job_with_code_9(
    service: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    for destination in (f"bq://{PROJECT}.no_such_dataset", f"bq://{PROJECT}.no_such_dataset.t"):
        status, created = service.create(bq_body(table, destination))
        assert status == 200
        job = service.wait(created["name"])
        assert job["state"] == "JOB_STATE_FAILED"
        assert job["error"]["code"] == 9 and "no_such_dataset" in job["error"]["message"]
    assert not any(item.dataset_id == "no_such_dataset" for item in bq.list_datasets())
