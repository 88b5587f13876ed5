"""BigQuery input and output: schema, pass-through columns, destinations, per-row errors, import failures."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json

import pytest
from google.cloud import bigquery
from svc_helpers import (
    BAD_ROLE_STATUS,
    PROJECT,
    ServiceProcess,
    bq_body,
    make_table,
    output_rows,
    request_for,
    unique,
)

S = bigquery.SchemaField


def test_output_schema_and_pass_through_columns(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    schema = [
        S("id", "INT64"), S("label", "STRING"), S("request", "STRING"), S("score", "FLOAT64"),
        S("ok", "BOOL"), S("amount", "NUMERIC"), S("day", "DATE"), S("at", "TIMESTAMP"), S("raw", "BYTES"),
        S("meta", "JSON"),
    ]  # fmt: skip
    rows = [
        {
            "id": i, "label": f"row {i}", "request": json.dumps(request_for(f"question {i}", temperature=0)),
            "score": i / 2, "ok": i % 2 == 0, "amount": "12.34", "day": "2024-05-06",
            "at": "2024-05-06T07:08:09.123456Z", "raw": base64.b64encode(b"\x00\x01").decode(),
            "meta": {"k": [i, {"Nested": True}]},
        }
        for i in range(3)
    ]  # fmt: skip
    table = make_table(bq, dataset, rows, schema)
    destination = f"bq://{PROJECT}.{dataset}.{unique('out')}"
    job = service.run(bq_body(table, destination))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "3"}
    assert job["outputInfo"] == {
        "bigqueryOutputDataset": f"bq://{PROJECT}.{dataset}",
        "bigqueryOutputTable": destination.rsplit(".", 1)[1],
    }
    out_schema = bq.get_table(destination.removeprefix("bq://")).schema
    assert [(field.name, field.field_type) for field in out_schema] == [
        ("id", "INTEGER"), ("label", "STRING"), ("request", "STRING"), ("score", "FLOAT"), ("ok", "BOOLEAN"),
        ("amount", "NUMERIC"), ("day", "DATE"), ("at", "TIMESTAMP"), ("raw", "BYTES"), ("meta", "JSON"),
        ("response", "JSON"), ("status", "STRING"), ("processed_time", "TIMESTAMP"),
    ]  # fmt: skip
    out = sorted(output_rows(bq, job), key=lambda row: row["id"])
    for source, row in zip(rows, out, strict=True):
        assert row["label"] == source["label"] and row["request"] == source["request"]
        assert row["score"] == source["score"] and row["ok"] == source["ok"]
        assert row["amount"] == decimal.Decimal("12.34") and row["day"] == dt.date(2024, 5, 6)
        assert row["at"] == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
        assert row["raw"] == b"\x00\x01" and row["meta"] == source["meta"]
        assert row["status"] == "" and row["response"]["candidates"][0]["finishReason"] == "STOP"
        assert isinstance(row["processed_time"], dt.datetime)


def test_bad_rows_among_good_rows(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    schema = [S("id", "INT64"), S("request", "STRING")]
    requests = [
        json.dumps(request_for("good one")),
        json.dumps(request_for("Explain how AI works in a few words", role="tester")),
        "{this is not json",
        json.dumps([1, 2, 3]),
        json.dumps({"contents": []}),
        json.dumps(
            {"contents": [{"role": "user", "parts": [{"inlineData": {"data": "AA", "mimeType": "image/png"}}]}]}
        ),
        json.dumps({**request_for("two please"), "generationConfig": {"candidateCount": 2}}),
        None,
        json.dumps(request_for("good two", maxOutputTokens=2)),
    ]
    table = make_table(bq, dataset, [{"id": i, "request": r} for i, r in enumerate(requests)], schema)
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "2", "failedCount": "7"}
    out = {row["id"]: row for row in output_rows(bq, job)}
    assert sorted(out) == list(range(len(requests)))
    assert out[1]["status"] == BAD_ROLE_STATUS and out[1]["response"] == {}
    for index in (2, 3, 4, 5, 6, 7):
        reason, _, body = out[index]["status"].partition(": ")
        assert reason == "Bad Request"
        assert json.loads(body)["error"]["code"] == 400 and json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
        assert out[index]["response"] == {}
    assert "text-only" in out[5]["status"]
    assert out[8]["status"] == "" and out[8]["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_every_row_failing_still_succeeds(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": i, "request": request_for("x", role="system")} for i in range(2)])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"failedCount": "2"}
    assert {row["status"] for row in output_rows(bq, job)} == {BAD_ROLE_STATUS}


def test_destination_forms(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert job["outputInfo"]["bigqueryOutputDataset"] == f"bq://{PROJECT}.{dataset}"
    assert job["outputInfo"]["bigqueryOutputTable"].startswith("predictions_")
    assert len(output_rows(bq, job)) == 1
    job = service.run(bq_body(table, f"bq://{PROJECT}"))
    assert job["outputInfo"]["bigqueryOutputDataset"].startswith(f"bq://{PROJECT}.prediction_model_")
    assert job["outputInfo"]["bigqueryOutputTable"] == "predictions"
    assert len(output_rows(bq, job)) == 1


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ([S("id", "INT64"), S("prompt", "JSON")], "no column named request"),
        ([S("request", "JSON"), S("tags", "STRING", mode="REPEATED")], "ARRAY"),
        ([S("request", "JSON"), S("s", "RECORD", fields=[S("a", "INT64")])], "RECORD"),
        ([S("request", "JSON"), S("when", "DATETIME")], "DATETIME"),
        ([S("request", "JSON"), S("where", "GEOGRAPHY")], "GEOGRAPHY"),
        ([S("request", "JSON"), S("span", "RANGE", range_element_type="DATE")], "RANGE"),
        ([S("request", "JSON"), S("Status", "STRING")], "Status"),
        ([S("request", "JSON"), S("status", "STRING")], "status"),
        ([S("request", "JSON"), S("response", "JSON")], "response"),
        ([S("request", "INT64")], "must be JSON or STRING"),
    ],
)
def test_unusable_input_fails_the_job_with_code_3(
    service: ServiceProcess,
    bq: bigquery.Client,
    dataset: str,
    schema: list[bigquery.SchemaField],
    needle: str,
) -> None:
    table = make_table(bq, dataset, [], schema)
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 3 and job["error"]["message"].startswith("Failed to import data.")
    assert needle in job["error"]["message"] and "details" not in job["error"]
    assert "completionStats" not in job


def test_missing_input_table_fails_the_job(service: ServiceProcess, dataset: str) -> None:
    job = service.run(bq_body(f"bq://{PROJECT}.{dataset}.does_not_exist", f"bq://{PROJECT}.{dataset}"))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"] == {
        "code": 3,
        "message": f"Failed to import data. The input table bq://{PROJECT}.{dataset}.does_not_exist was not found.",
    }
