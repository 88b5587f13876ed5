"""Output as Vertex AI writes it: rows in no particular order, only whole prediction files in the output
directory, per-modality token counts, ``modelVersion`` shaped like production's, live counts for Cloud
Storage output."""

from __future__ import annotations

import time
from collections.abc import Callable

from google.cloud import storage
from svc_helpers import ServiceProcess, gcs_body, gcs_output_lines, request_for, unique, upload_jsonl

ROWS = 50  # the shared service refuses jobs over 50 requests


def lines(count: int) -> list[dict[str, object]]:
    return [{"id": i, "request": request_for(f"question {i}")} for i in range(count)]


def run_ids(service: ServiceProcess, gcs: storage.Client, bucket: str) -> list[int]:
    folder = unique("order")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", lines(ROWS))
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    return [line["id"] for line in gcs_output_lines(gcs, job)]


def test_rows_come_in_no_particular_order(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    ids = run_ids(service, gcs, bucket)
    assert sorted(ids) == list(range(ROWS)) and ids != list(range(ROWS))


def test_debug_flag_keeps_input_order(
    start_service: Callable[..., ServiceProcess], gcs: storage.Client, bucket: str
) -> None:
    service = start_service("--keep-input-order")
    assert run_ids(service, gcs, bucket) == list(range(ROWS))
    service.stop()


def test_usage_metadata_and_model_version(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("usage")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", lines(1))
    (line,) = gcs_output_lines(gcs, service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out")))
    response = line["response"]
    assert response["modelVersion"] == "gemini-3.5-flash@default"
    usage = response["usageMetadata"]
    assert usage["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
    assert usage["candidatesTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["candidatesTokenCount"]}]


def test_output_directory_holds_only_whole_files_and_gcs_counts_are_live(
    start_service: Callable[..., ServiceProcess], gcs: storage.Client, bucket: str
) -> None:
    slow = start_service(
        "--fault-row-delay-s", "0.01", "--model-batch-size", "4", "--chunk-rows", "8", "--chunk-seconds", "0.2"
    )
    folder = unique("transient")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", lines(ROWS))
    status, created = slow.create(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert status == 200
    seen: set[str] = set()
    live_counts = []
    deadline = time.monotonic() + 60
    while (job := slow.get(created["name"]))["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
        assert time.monotonic() < deadline
        if "outputInfo" in job:
            directory = job["outputInfo"]["gcsOutputDirectory"].removeprefix(f"gs://{bucket}/")
            seen |= {blob.name.removeprefix(directory) for blob in gcs.list_blobs(bucket, prefix=directory)}
        if "completionStats" in job and job["state"] == "JOB_STATE_RUNNING":
            live_counts.append(int(job["completionStats"].get("successfulCount", 0)))
        time.sleep(0.05)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert seen == {"/predictions.jsonl"}
    assert any(0 < count < ROWS for count in live_counts)
    assert not list(gcs.list_blobs(bucket, prefix=".vertex-batch-staging/"))
    slow.stop()
