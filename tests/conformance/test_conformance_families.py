"""The official clients, unchanged, with every model family: google-genai's ``client.batches`` and
google-cloud-aiplatform's ``BatchPredictionJob.submit`` with a Claude model and with open models
(chat completions) on BigQuery and on JSONL, and a Gemini embedding job through google-genai. Each job
carries one row its family refuses and ends SUCCEEDED with that row counted as failed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conformance_helpers import EAST, LOCATION, PROJECT, jsonl_rows, unique
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, bigquery, storage
from google.cloud.aiplatform import jobs
from google.cloud.aiplatform_v1 import JobState
from google.cloud.bigquery import SchemaField as S
from google.genai import types
from google.oauth2.credentials import Credentials

from vertex_batch.local.service.family_claude import claude_status
from vertex_batch.local.stack import StackConfig

MESSAGES_BODY = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 20}
CHAT_LINE = {"method": "POST", "url": "/v1/chat/completions"}


@dataclass(frozen=True)
class Flavor:
    """One family's model, location and input rows (the first one refused)."""

    model: str
    location: str
    schema: tuple[S, ...]
    lines: tuple[dict[str, Any], ...]

    def upload(self, kind: str, bq: bigquery.Client, gcs: storage.Client, dataset: str, bucket: str) -> tuple[str, str]:
        """A new input (table or JSONL file) with this flavor's rows, and where to write the output."""
        name = unique("family")
        if kind == "bigquery":
            table_id = f"{PROJECT}.{dataset}.{name}"
            bq.create_table(bigquery.Table(table_id, schema=list(self.schema)))
            config = bigquery.LoadJobConfig(schema=list(self.schema), source_format="NEWLINE_DELIMITED_JSON")
            bq.load_table_from_json(list(self.lines), table_id, job_config=config).result()
            return f"bq://{table_id}", f"bq://{PROJECT}.{dataset}"
        text = "".join(json.dumps(line) + "\n" for line in self.lines)
        gcs.bucket(bucket).blob(f"{name}/in.jsonl").upload_from_string(text)
        return f"gs://{bucket}/{name}/in.jsonl", f"gs://{bucket}/{name}/out"


CLAUDE = Flavor(
    "publishers/anthropic/models/claude-sonnet-5-5@20261001",
    EAST,
    (S("custom_id", "STRING"), S("request", "JSON")),
    (
        {"custom_id": "bad", "request": {**MESSAGES_BODY, "messages": [{"role": "tester", "content": "Hi"}]}},
        {"custom_id": "good", "request": {**MESSAGES_BODY, "messages": [{"role": "user", "content": "Hi"}]}},
    ),
)
CHAT_SCHEMA = (S("custom_id", "STRING"), S("method", "STRING"), S("url", "STRING"), S("body", "JSON"))
CHAT_LINES = (
    {**CHAT_LINE, "custom_id": "bad", "body": {"messages": [{"role": "tester", "content": "Hi"}]}},
    {**CHAT_LINE, "custom_id": "good", "body": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 9}},
)
GPT_OSS = Flavor("publishers/openai/models/gpt-oss-120b-maas", LOCATION, CHAT_SCHEMA, CHAT_LINES)
LLAMA = Flavor("publishers/meta/models/llama-4-maverick-17b-128e-instruct-maas", EAST, CHAT_SCHEMA, CHAT_LINES)


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def assert_claude_rows(rows: list[dict[str, Any]]) -> None:
    by_id = {row["custom_id"]: row for row in rows}
    assert by_id["bad"]["status"] == claude_status(400, "messages.0.role: Input should be 'user' or 'assistant'")
    message = json_value(by_id["good"]["response"])
    assert by_id["good"]["status"] == "" and message["type"] == "message" and message["content"][-1]["text"]


def assert_chat_rows(rows: list[dict[str, Any]]) -> None:
    by_id = {row["custom_id"]: row for row in rows}
    assert json_value(by_id["bad"]["error"])["code"] == 400 and not by_id["bad"]["response"]
    completion = json_value(by_id["good"]["response"])
    assert by_id["good"].get("error") is None and completion["choices"][0]["message"]["content"]


# -- google-genai ------------------------------------------------------------------------------
def genai_client(stack: StackConfig, location: str) -> genai.Client:
    options = types.HttpOptions(base_url=stack.vertex_url, api_version="v1")
    return genai.Client(
        vertexai=True, project=PROJECT, location=location, credentials=Credentials(token="local"), http_options=options
    )


def genai_run(client: genai.Client, model: str, source: str, dest: str) -> types.BatchJob:
    job = client.batches.create(model=model, src=source, config=types.CreateBatchJobConfig(dest=dest))
    deadline = time.monotonic() + 60
    while not job.done:
        assert time.monotonic() < deadline, job.state
        time.sleep(0.1)
        job = client.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.error is None, job.error
    return job


def genai_rows(job: types.BatchJob, bq: bigquery.Client, gcs: storage.Client) -> list[dict[str, Any]]:
    assert job.dest is not None
    if job.dest.bigquery_uri:
        return [dict(row.items()) for row in bq.list_rows(job.dest.bigquery_uri.removeprefix("bq://"))]
    bucket, _, prefix = (job.dest.gcs_uri or "").removeprefix("gs://").partition("/")
    return jsonl_rows(blob.download_as_text() for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/"))


@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_claude_through_google_genai(
    kind: str, stack: StackConfig, bq: bigquery.Client, gcs: storage.Client, east_dataset: str, bucket: str
) -> None:
    source, destination = CLAUDE.upload(kind, bq, gcs, east_dataset, bucket)
    dest = f"{destination}.{unique('out')}" if kind == "bigquery" else destination
    job = genai_run(genai_client(stack, EAST), CLAUDE.model, source, dest)
    assert job.completion_stats is not None
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 1)
    assert_claude_rows(genai_rows(job, bq, gcs))


def test_open_model_through_google_genai(
    stack: StackConfig, bq: bigquery.Client, gcs: storage.Client, east_dataset: str, bucket: str
) -> None:
    source, destination = LLAMA.upload("gcs", bq, gcs, east_dataset, bucket)
    job = genai_run(genai_client(stack, EAST), LLAMA.model, source, destination)
    assert job.completion_stats is not None and job.completion_stats.failed_count == 1
    assert_chat_rows(genai_rows(job, bq, gcs))


def test_gemini_embeddings_through_google_genai(
    stack: StackConfig, bq: bigquery.Client, gcs: storage.Client, bucket: str
) -> None:
    lines = [
        {"key": "good", "request": {"content": {"parts": [{"text": "banana bread"}]}}},
        {"key": "bad", "request": {"content": {"parts": [{"text": "x"}]}, "config": {"task_type": "CLUSTERING"}}},
    ]
    name = unique("gembed")
    gcs.bucket(bucket).blob(f"{name}/in.jsonl").upload_from_string("".join(json.dumps(line) + "\n" for line in lines))
    client = genai_client(stack, LOCATION)
    with pytest.raises(ValueError, match=r"does not support batches\.create_embeddings"):
        client.batches.create_embeddings(model="gemini-embedding-001", src={"file_name": "files/x"})
    job = genai_run(client, "gemini-embedding-001", f"gs://{bucket}/{name}/in.jsonl", f"gs://{bucket}/{name}/out")
    assert job.completion_stats is not None and job.completion_stats.failed_count == 1
    by_key = {row["key"]: row for row in genai_rows(job, bq, gcs)}
    assert len(by_key["good"]["response"]["embedding"]["values"]) == 3072 and by_key["good"]["status"] == ""
    assert 'Unknown name \\"config\\"' in by_key["bad"]["status"]


# -- google-cloud-aiplatform -----------------------------------------------------------------------
@pytest.fixture
def sdk(stack: StackConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.1)
    yield


def aiplatform_run(stack: StackConfig, flavor: Flavor, source: str, destination: str) -> list[dict[str, Any]]:
    """Submit through the SDK, wait with its own poll, read the rows through ``iter_outputs()``."""
    aiplatform.init(
        project=PROJECT, location=flavor.location, api_endpoint=stack.vertex_url,
        credentials=AnonymousCredentials(), api_transport="rest",
    )  # fmt: skip
    if source.startswith("bq://"):
        io = {"bigquery_source": source, "bigquery_destination_prefix": destination}
    else:
        io = {"gcs_source": source, "gcs_destination_prefix": destination, "instances_format": "jsonl",
              "predictions_format": "jsonl"}  # fmt: skip
    job = aiplatform.BatchPredictionJob.submit(job_display_name=unique("family"), model_name=flavor.model, **io)
    job.wait_for_completion()
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 1)
    outputs = list(job.iter_outputs())
    if job.output_info.bigquery_output_table:
        return [dict(row.items()) for row in outputs]
    return jsonl_rows(blob.download_as_text() for blob in outputs if blob.name.endswith(".jsonl"))


@pytest.mark.parametrize("kind", ["bigquery", "gcs"])
def test_open_model_through_aiplatform(
    kind: str, sdk: None, stack: StackConfig, bq: bigquery.Client, gcs: storage.Client, dataset: str, bucket: str
) -> None:
    assert_chat_rows(aiplatform_run(stack, GPT_OSS, *GPT_OSS.upload(kind, bq, gcs, dataset, bucket)))


def test_claude_through_aiplatform(
    sdk: None, stack: StackConfig, bq: bigquery.Client, gcs: storage.Client, east_dataset: str, bucket: str
) -> None:
    assert_claude_rows(aiplatform_run(stack, CLAUDE, *CLAUDE.upload("gcs", bq, gcs, east_dataset, bucket)))
