"""Cloud Storage input and output: JSONL lines, echoed keys, wildcards, bad files, mixed destinations."""

from __future__ import annotations

import json

from google.cloud import bigquery, storage
from svc_helpers import (
    PROJECT,
    ServiceProcess,
    bq_body,
    gcs_body,
    gcs_output_lines,
    make_table,
    output_rows,
    request_for,
    unique,
    upload_jsonl,
)


def test_wildcards_echoed_keys_and_output_lines(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("wild")
    upload_jsonl(gcs, bucket, f"{folder}/a.jsonl", [{"id": 1, "request": request_for("one"), "tag": "x"}])
    upload_jsonl(gcs, bucket, f"{folder}/b.jsonl", [{"request": request_for("two"), "id": 2}, ""])
    upload_jsonl(gcs, bucket, f"{folder}/skip.txt", [{"request": request_for("never")}])
    job = service.run(gcs_body([f"gs://{bucket}/{folder}/*.jsonl"], f"gs://{bucket}/{folder}/out/"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "2"}
    assert job["outputInfo"]["gcsOutputDirectory"].startswith(f"gs://{bucket}/{folder}/out/prediction-model-")
    lines = sorted(gcs_output_lines(gcs, job), key=lambda line: line["id"])
    assert [line["id"] for line in lines] == [1, 2]
    assert list(lines[0]) == ["request", "response", "status", "processed_time", "id", "tag"]
    assert lines[0]["request"] == request_for("one") and lines[0]["tag"] == "x"


def test_malformed_jsonl_fails_with_code_3(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("bad")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", [{"request": request_for("ok")}, "{broken"])
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 3
    assert job["error"]["message"].startswith("Failed to import data. Line 2 of")
    missing = service.run(gcs_body(f"gs://{bucket}/{folder}/none-*.jsonl", f"gs://{bucket}/{folder}/out"))
    assert missing["state"] == "JOB_STATE_FAILED" and missing["error"]["code"] == 3
    no_request = upload_jsonl(gcs, bucket, f"{folder}/norequest.jsonl", [{"prompt": "x"}])
    job = service.run(gcs_body(no_request, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_FAILED" and "request" in job["error"]["message"]


def test_text_file_parts_are_read_from_storage(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("text")
    gcs.bucket(bucket).blob(f"{folder}/doc.txt").upload_from_string("The local stack is fast.")
    part = {"fileData": {"fileUri": f"gs://{bucket}/{folder}/doc.txt", "mimeType": "text/plain"}}
    missing = {"fileData": {"fileUri": f"gs://{bucket}/{folder}/missing.txt", "mimeType": "text/plain"}}
    lines = [
        {"request": {"contents": [{"role": "user", "parts": [{"text": "Summarise"}, part]}]}},
        {"request": {"contents": [{"role": "user", "parts": [{"text": "Summarise"}, missing]}]}},
    ]
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", lines)
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    ok, bad = sorted(gcs_output_lines(gcs, job), key=lambda line: line["status"])
    assert ok["status"] == "" and ok["response"]["usageMetadata"]["promptTokenCount"] > 1
    assert bad["status"].startswith("Bad Request: ") and "Cannot read the file" in bad["status"]


def test_jsonl_input_to_bigquery_output(
    service: ServiceProcess, gcs: storage.Client, bucket: str, bq: bigquery.Client, dataset: str
) -> None:
    folder = unique("mixed")
    uri = upload_jsonl(
        gcs, bucket, f"{folder}/in.jsonl",
        [{"request": request_for("a"), "key": "k1", "n": 1},
         {"request": request_for("b", role="bot"), "key": "k2"}],
    )  # fmt: skip
    body = gcs_body(uri, "gs://unused")
    body["outputConfig"] = {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": f"bq://{PROJECT}.{dataset}"},
    }
    job = service.run(body)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    rows = sorted(output_rows(bq, job), key=lambda row: row["key"])
    assert [(row["key"], row["n"], row["status"] == "") for row in rows] == [
        ("k1", 1, True),
        ("k2", None, False),
    ]
    assert rows[0]["request"] == request_for("a")


def test_bigquery_input_to_jsonl_output(
    service: ServiceProcess, gcs: storage.Client, bucket: str, bq: bigquery.Client, dataset: str
) -> None:
    table = make_table(bq, dataset, [{"id": 7, "request": request_for("hi")}])
    body = bq_body(table, "bq://unused")
    body["outputConfig"] = {
        "predictionsFormat": "jsonl",
        "gcsDestination": {"outputUriPrefix": f"gs://{bucket}/{unique('bq2gcs')}"},
    }
    job = service.run(body)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    (line,) = gcs_output_lines(gcs, job)
    assert line["id"] == 7 and line["request"] == request_for("hi") and line["status"] == ""
    assert json.loads(json.dumps(line["response"]))["candidates"][0]["content"]["role"] == "model"
