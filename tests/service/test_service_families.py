"""Batch jobs of every model family through the REST API: Claude, chat completions (open models) and Gemini
embeddings on BigQuery and JSONL, Gemini rows with the newest request fields, and the catalog's lifecycle."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from google.cloud import bigquery, storage
from google.cloud.bigquery import SchemaField as S
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

from vertex_batch.catalog import catalog
from vertex_batch.local.service.family_claude import claude_status

CLAUDE = "publishers/anthropic/models/claude-sonnet-5-5@20261001"
GPT_OSS = "publishers/openai/models/gpt-oss-120b-maas"
EAST = "us-east5"
BAD_CLAUDE_STATUS = claude_status(400, "messages.0.role: Input should be 'user' or 'assistant'")


def claude_lines() -> list[dict[str, Any]]:
    request = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 20}
    return [
        {"custom_id": "bad", "request": {**request, "messages": [{"role": "tester", "content": "Hi"}]}},
        {"custom_id": "good", "request": {**request, "messages": [{"role": "user", "content": "Hi"}]}},
    ]


def chat_lines() -> list[dict[str, Any]]:
    line = {"method": "POST", "url": "/v1/chat/completions"}
    return [
        {**line, "custom_id": "bad", "body": {"messages": [{"role": "tester", "content": "Hi"}]}},
        {**line, "custom_id": "good", "body": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 9}},
    ]


def by_custom_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["custom_id"]: row for row in rows}


def assert_claude_rows(rows: dict[str, dict[str, Any]]) -> None:
    assert rows["bad"]["status"] == BAD_CLAUDE_STATUS
    good = rows["good"]
    message = good["response"] if isinstance(good["response"], dict) else json.loads(good["response"])
    assert good["status"] == "" and message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][-1]["type"] == "text" and message["stop_reason"] in ("end_turn", "max_tokens")
    assert message["usage"]["input_tokens"] > 0 and message["model"] == "claude-sonnet-5-5"


def test_claude_jobs_on_bigquery_and_jsonl(
    service: ServiceProcess, bq: bigquery.Client, gcs: storage.Client, east_dataset: str, bucket: str
) -> None:
    lines = claude_lines()
    table = make_table(bq, east_dataset, lines, [S("custom_id", "STRING"), S("request", "JSON"), S("n", "INT64")])
    job = service.run({**bq_body(table, f"bq://{PROJECT}.{east_dataset}"), "model": CLAUDE}, location=EAST)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"] == {
        "successfulCount": "1",
        "failedCount": "1",
    }
    rows = output_rows(bq, job)
    assert list(rows[0]) == ["custom_id", "request", "n", "response", "status", "processed_time"]
    assert_claude_rows(by_custom_id(rows))

    uri = upload_jsonl(gcs, bucket, f"{unique('claude')}/in.jsonl", lines)
    job = service.run({**gcs_body(uri, f"gs://{bucket}/{unique('claude_out')}"), "model": CLAUDE}, location=EAST)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"]["failedCount"] == "1"
    assert_claude_rows(by_custom_id(gcs_output_lines(gcs, job)))
    # A location the catalog does not serve Claude at: production's 404.
    elsewhere = next(where for where in ("global", "us", "eu") if not catalog().get(CLAUDE).served_in(where))
    status, error = service.create({**gcs_body(uri, f"gs://{bucket}/x"), "model": CLAUDE}, location=elsewhere)
    assert status == 404 and "was not found or your project does not have access to it" in error["error"]["message"]


def assert_chat_rows(rows: dict[str, dict[str, Any]]) -> None:
    bad, good = rows["bad"], rows["good"]
    error = bad["error"] if isinstance(bad["error"], dict) else json.loads(bad["error"])
    assert error["code"] == 400 and error["message"].startswith('Invalid value: "tester".') and not bad["response"]
    completion = good["response"] if isinstance(good["response"], dict) else json.loads(good["response"])
    assert good.get("error") is None and completion["object"] == "chat.completion" and good["id"]
    assert completion["choices"][0]["finish_reason"] in ("stop", "length")
    assert completion["choices"][0]["message"]["role"] == "assistant"
    assert completion["usage"]["prompt_tokens"] > 0 and completion["usage"]["completion_tokens"] > 0


def test_chat_completions_jobs_on_bigquery_and_jsonl(
    service: ServiceProcess, bq: bigquery.Client, gcs: storage.Client, dataset: str, bucket: str
) -> None:
    lines = chat_lines()
    schema = [S("custom_id", "STRING"), S("method", "STRING"), S("url", "STRING"), S("body", "JSON")]
    job = service.run(
        {**bq_body(make_table(bq, dataset, lines, schema), f"bq://{PROJECT}.{dataset}"), "model": GPT_OSS}
    )
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"] == {
        "successfulCount": "1",
        "failedCount": "1",
    }
    rows = output_rows(bq, job)
    assert list(rows[0]) == ["custom_id", "body", "id", "response", "error"]  # method and url are dropped
    assert_chat_rows(by_custom_id(rows))

    uri = upload_jsonl(gcs, bucket, f"{unique('chat')}/in.jsonl", lines)
    job = service.run({**gcs_body(uri, f"gs://{bucket}/{unique('chat_out')}"), "model": GPT_OSS})
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"]["failedCount"] == "1"
    output = gcs_output_lines(gcs, job)
    assert all(set(line) == {"custom_id", "body", "id", "response", "error"} for line in output)
    assert_chat_rows(by_custom_id(output))


def test_gemini_embedding_jobs_read_jsonl_only(
    service: ServiceProcess, bq: bigquery.Client, gcs: storage.Client, dataset: str, bucket: str
) -> None:
    model = "publishers/google/models/gemini-embedding-001"
    lines = [
        {"key": "a", "request": {"content": {"parts": [{"text": "banana bread"}]}}},
        {"key": "b", "request": {"content": {"parts": [{"text": "x"}]}, "embed_content_config": {"task": "X"}}},
    ]
    uri = upload_jsonl(gcs, bucket, f"{unique('gembed')}/in.jsonl", lines)
    job = service.run({**gcs_body(uri, f"gs://{bucket}/{unique('gembed_out')}"), "model": model})
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"] == {
        "successfulCount": "1",
        "failedCount": "1",
    }
    rows = {line["key"]: line for line in gcs_output_lines(gcs, job)}
    values = rows["a"]["response"]["embedding"]["values"]
    assert rows["a"]["status"] == "" and len(values) == 3072 and abs(float(np.linalg.norm(values)) - 1) < 1e-6
    assert 'Unknown name \\"task\\"' in rows["b"]["status"] and rows["b"]["response"] == {}
    table = make_table(bq, dataset, [{"id": 1, "content": "x"}], [S("id", "INT64"), S("content", "STRING")])
    status, error = service.create({**bq_body(table, f"bq://{PROJECT}.{dataset}"), "model": model})
    assert status == 400 and "BigQuery tables are not supported" in error["error"]["message"]


def test_gemini_rows_take_the_newest_request_fields(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    thinking = {"thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": True}}
    lines = [
        {"request": {**request_for("Hi", **thinking), "serviceTier": "flex"}},
        {"request": request_for("Hi", mediaResolution="MEDIA_RESOLUTION_LOW", responseModalities=["TEXT"])},
        {"request": request_for("Hi", thinkingConfig={"thinkingLevel": "ULTRA"})},
    ]
    uri = upload_jsonl(gcs, bucket, f"{unique('newest')}/in.jsonl", lines)
    job = service.run(gcs_body(uri, f"gs://{bucket}/{unique('newest_out')}"))
    rows = sorted(gcs_output_lines(gcs, job), key=lambda line: json.dumps(line["request"]))
    by_level = {json.dumps(row["request"]): row for row in rows}
    level = by_level[json.dumps(lines[0]["request"])]
    assert level["status"] == "" and level["response"]["usageMetadata"]["thoughtsTokenCount"] > 0
    assert level["response"]["candidates"][0]["content"]["parts"][0].get("thought") is True
    assert by_level[json.dumps(lines[1]["request"])]["status"] == ""
    assert "thinking_level" in by_level[json.dumps(lines[2]["request"])]["status"]


def test_lifecycle_uses_the_services_today(
    start_service: Callable[..., ServiceProcess], gcs: storage.Client, bucket: str
) -> None:
    """A month before its retirement, gemini-2.5-flash is refused to projects that never used it."""
    service = start_service(env={"VERTEX_LOCAL_TODAY": "2026-10-01"})
    uri = upload_jsonl(gcs, bucket, f"{unique('old')}/in.jsonl", [{"request": request_for("Hi")}])
    body = {**gcs_body(uri, f"gs://{bucket}/{unique('old_out')}"), "model": "publishers/google/models/gemini-2.5-flash"}
    status, error = service.create(body)
    assert status == 404 and error["error"]["status"] == "NOT_FOUND"
    assert "gemini-2.5-flash` was not found or your project does not have access to it" in error["error"]["message"]
    assert service.create({**body, "model": "publishers/google/models/gemini-3.5-flash"})[0] == 200
