"""The demo's embeddings models on the BigQuery emulator, without the batch service: build before any run,
fabricate landed embeddings output as a BigQuery embeddings job writes it (``predictions`` as JSON text, the
identity rendered by vertex_batch.identity), then check the flattened vectors and the most similar reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dbt_harness import REPO, Dbt, Warehouse, new_dataset
from google.cloud import bigquery

from vertex_batch.catalog import catalog
from vertex_batch.identity import embedding_fingerprint_sql
from vertex_batch.local.backends.embedding_fake import FakeEmbeddingBackend
from vertex_batch.local.service import embeddings
from vertex_batch.request_models import embedding_parameters

EMBEDDINGS = ("--vars", "{vertex_batch_demo_embeddings: true}")  # the demo's embeddings step
META = {"model": "text-embedding-005", "output_dimensionality": 64}
COLUMNS = [{"name": "review_id"}, {"name": "content"}, {"name": "task_type"}]
LANDED_AT = "2026-11-30T07:00:00Z"
JOB = "projects/100000000001/locations/us-central1/batchPredictionJobs/{}"
EMPTY_STATUS = 'Bad Request: {"error": {"code": 400, "message": "The content is empty.", "status": "INVALID_ARGUMENT"}}'


@pytest.fixture(scope="module")
def dbt(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    return Dbt(REPO, new_dataset("vb_embed"), Path(tmp_path_factory.mktemp("dbt_embed")))


def table(warehouse: Warehouse, dbt: Dbt, name: str) -> str:
    return f"`{warehouse.project}.{dbt.dataset}.{name}`"


def test_build_before_any_batch_run(dbt: Dbt, warehouse: Warehouse) -> None:
    dbt("build", "--select", "+demo_review_similar_reviews", *EMBEDDINGS)
    rows = warehouse.query(f"select * from {table(warehouse, dbt, 'demo_review_embedding_results')}")
    assert len(rows) == 300
    assert not any(row["is_answered"] for row in rows)
    assert all(row["embedding"] == [] and row["dimensions"] == 0 for row in rows)
    assert warehouse.query(f"select count(*) as n from {table(warehouse, dbt, 'demo_review_similar_reviews')}") == [
        {"n": 0}
    ]


def land(warehouse: Warehouse, dbt: Dbt) -> None:
    """Embed every review with the fake backend as the service does, except review 2 (failed) and review 3
    (answered for older content), and append the rows to the landing table."""
    requests = warehouse.query(
        f"select review_id, content, task_type, "
        f"{embedding_fingerprint_sql(META['model'], embedding_parameters(META), ['task_type'])} as request_fingerprint "
        f"from {table(warehouse, dbt, 'demo_review_embeddings')} where review_id != 4 order by review_id"
    )
    params = {"outputDimensionality": 64}
    outcomes = embeddings.embed_rows(
        requests, FakeEmbeddingBackend(), embeddings.embedding_model(catalog().get(META["model"])), params
    )
    landed = []
    for request, outcome in zip(requests, outcomes, strict=True):
        row = embeddings.bigquery_row(
            request, [{"name": "review_id"}, {"name": "content"}, {"name": "task_type"}], outcome
        )
        row["request_fingerprint"] = request["request_fingerprint"]
        if request["review_id"] == 2:
            row["predictions"], row["status"] = "[]", EMPTY_STATUS
        if request["review_id"] == 3:
            row["request_fingerprint"] = "0" * 64
        landed.append(
            {**row, "batch_job_name": JOB.format(31), "batch_attempt": 1, "landed_at": "2026-11-30T07:00:00Z"}
        )
    schema = [
        bigquery.SchemaField("review_id", "INT64"),
        bigquery.SchemaField("content", "STRING"),
        bigquery.SchemaField("task_type", "STRING"),
        bigquery.SchemaField("request_fingerprint", "STRING"),
        bigquery.SchemaField("predictions", "STRING"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("batch_job_name", "STRING"),
        bigquery.SchemaField("batch_attempt", "INT64"),
        bigquery.SchemaField("landed_at", "TIMESTAMP"),
    ]
    target = f"{warehouse.project}.{dbt.dataset}.demo_review_embeddings__batch_output"
    config = bigquery.LoadJobConfig(schema=schema, source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON)
    warehouse.client.load_table_from_json(landed, target, job_config=config).result()


def test_landed_embeddings_are_flattened_and_compared(dbt: Dbt, warehouse: Warehouse) -> None:
    land(warehouse, dbt)
    dbt("build", "--select", "demo_review_embedding_predictions+", *EMBEDDINGS)
    rows = {
        row["review_id"]: row
        for row in warehouse.query(f"select * from {table(warehouse, dbt, 'demo_review_embedding_results')}")
    }
    assert len(rows) == 300
    answered = [row for key, row in rows.items() if key not in (2, 3, 4)]
    assert all(row["is_answered"] and row["is_success"] for row in answered)
    assert all(row["dimensions"] == 64 and len(row["embedding"]) == 64 for row in answered)
    assert all(row["token_count"] > 0 and row["truncated"] is False for row in answered)
    assert rows[2]["is_success"] is False and rows[2]["error_code"] == 400 and rows[2]["embedding"] == []
    assert rows[3]["is_answered"] is False and rows[4]["is_answered"] is False

    by_text: dict[str, list[float]] = {}
    for row in answered:
        vector = by_text.setdefault(row["content"], row["embedding"])
        assert vector == row["embedding"], "identical texts must have identical vectors"
    assert len({tuple(vector) for vector in by_text.values()}) == len(by_text), "different texts, different vectors"

    similar = warehouse.query(f"select * from {table(warehouse, dbt, 'demo_review_similar_reviews')}")
    assert {row["review_id"] for row in similar} == {row["review_id"] for row in answered}
    for row in similar:
        left, right = rows[row["review_id"]]["embedding"], rows[row["similar_review_id"]]["embedding"]
        expected = float(np.dot(left, right) / (np.linalg.norm(left) * np.linalg.norm(right)))
        assert row["cosine_similarity"] == pytest.approx(expected, abs=1e-9)
        if row["review_text"] == row["similar_review_text"]:
            assert row["cosine_similarity"] == pytest.approx(1.0)

    predictions = warehouse.query(
        f"select predictions from {table(warehouse, dbt, 'demo_review_embedding_predictions')} where review_id = 1"
    )
    assert isinstance(predictions[0]["predictions"], list)
    assert json.loads(json.dumps(predictions[0]["predictions"]))[0]["embeddings"]["statistics"]["truncated"] is False
