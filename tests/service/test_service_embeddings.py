"""The embeddings path of the local service: production's output shape, parameters and row errors."""

from __future__ import annotations

import json

import pytest

from vertex_batch.catalog import catalog
from vertex_batch.local.backends.embedding import DIMENSIONS
from vertex_batch.local.backends.embedding_fake import FakeEmbeddingBackend
from vertex_batch.local.service import embeddings, served_models
from vertex_batch.local.service.embeddings import EmbeddingInstance

pytestmark = pytest.mark.unit

MODEL = embeddings.embedding_model(catalog().get("text-embedding-005"))
BACKEND = FakeEmbeddingBackend()


def _error(status: str) -> dict[str, object]:
    reason, _, body = status.partition(": ")
    assert reason == "Bad Request"
    return json.loads(body)["error"]


def test_output_row_shapes_follow_the_documented_example() -> None:
    (outcome,) = embeddings.embed_rows([{"content": "Best recipe for banana bread:"}], BACKEND, MODEL)
    line = embeddings.jsonl_row({"content": "Best recipe for banana bread:", "id": 7}, outcome)
    assert list(line) == ["instance", "predictions", "status"]
    assert line["instance"] == {"content": "Best recipe for banana bread:", "id": 7}
    assert line["status"] == ""
    (prediction,) = line["predictions"]
    assert list(prediction) == ["embeddings"]
    assert list(prediction["embeddings"]) == ["statistics", "values"]
    statistics = prediction["embeddings"]["statistics"]
    assert statistics == {"token_count": 6, "truncated": False}
    assert len(prediction["embeddings"]["values"]) == 768
    assert all(isinstance(value, float) for value in prediction["embeddings"]["values"])

    columns = [{"name": "id", "type": "INT64"}, {"name": "content", "type": "STRING"}]
    row = embeddings.bigquery_row({"id": 7, "content": "Best recipe for banana bread:"}, columns, outcome)
    assert list(row) == ["id", "content", "predictions", "status"]
    assert json.loads(row["predictions"]) == line["predictions"]
    assert [field.name for field in embeddings.OUTPUT_COLUMNS] == ["predictions", "status"]


def test_output_dimensionality_cuts_values_from_the_end() -> None:
    rows = [{"content": "Give a short description of a machine learning model:"}]
    (full,) = embeddings.embed_rows(rows, BACKEND, MODEL)
    (cut,) = embeddings.embed_rows(rows, BACKEND, MODEL, {"outputDimensionality": 16})
    (snake,) = embeddings.embed_rows(rows, BACKEND, MODEL, {"output_dimensionality": "16"})
    values = full.predictions[0]["embeddings"]["values"]
    assert cut.predictions[0]["embeddings"]["values"] == values[:16]
    assert snake.predictions == cut.predictions


@pytest.mark.parametrize("value", [0, 769, 1.5, "many", True])
def test_invalid_output_dimensionality_fails_every_row(value: object) -> None:
    outcomes = embeddings.embed_rows(
        [{"content": "a"}, {"content": "b"}], BACKEND, MODEL, {"outputDimensionality": value}
    )
    assert [outcome.predictions for outcome in outcomes] == [[], []]
    error = _error(outcomes[0].status)
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert "outputDimensionality" in str(error["message"])


def test_auto_truncate() -> None:
    long_row = [{"content": " ".join(["word"] * 2100)}]
    (silent,) = embeddings.embed_rows(long_row, BACKEND, MODEL)
    assert silent.ok
    assert silent.predictions[0]["embeddings"]["statistics"] == {"token_count": 2048, "truncated": True}
    (refused,) = embeddings.embed_rows(long_row, BACKEND, MODEL, {"autoTruncate": False})
    assert not refused.ok and refused.predictions == []
    assert "2100" in str(_error(refused.status)["message"])
    (short,) = embeddings.embed_rows([{"content": "short"}], BACKEND, MODEL, {"autoTruncate": False})
    assert short.ok


def test_bad_rows_fail_alone_with_400() -> None:
    rows = [
        {"content": "fine"},
        {"content": None},
        {"content": "   "},
        {"content": 5},
        {"content": "x", "task_type": "SUMMARIZE"},
        {"content": "x", "title": 3},
        {"other": "no content"},
    ]
    outcomes = embeddings.embed_rows(rows, BACKEND, MODEL)
    assert [outcome.ok for outcome in outcomes] == [True] + [False] * 6
    for outcome in outcomes[1:]:
        assert _error(outcome.status)["status"] == "INVALID_ARGUMENT"


def test_task_type_and_title_change_the_vector_default_task_does_not() -> None:
    def vector(row: dict[str, object]) -> list[float]:
        (outcome,) = embeddings.embed_rows([row], BACKEND, MODEL)
        return outcome.predictions[0]["embeddings"]["values"]

    plain = vector({"content": "hiking boots"})
    assert vector({"content": "hiking boots", "task_type": "RETRIEVAL_QUERY"}) == plain
    assert vector({"content": "hiking boots", "taskType": "retrieval_query", "title": None}) == plain
    document = vector({"content": "hiking boots", "task_type": "RETRIEVAL_DOCUMENT"})
    assert document != plain
    assert vector({"content": "hiking boots", "task_type": "RETRIEVAL_DOCUMENT", "title": "Boots"}) != document
    assert EmbeddingInstance("c", "CLUSTERING", "ignored").model_input == "task: CLUSTERING\nc"


def test_backend_failure_fails_the_rows_with_500() -> None:
    class Broken:
        model_version = "broken"
        dimensions = 768

        def embed(self, texts: object, max_tokens: int) -> list[object]:
            raise RuntimeError("out of memory")

    outcomes = embeddings.embed_rows([{"content": "a"}, {"content": None}], Broken(), MODEL)  # type: ignore[arg-type]
    assert outcomes[0].status.startswith("Internal Server Error: ")
    assert outcomes[1].status.startswith("Bad Request: ")


def test_model_facts_come_from_the_catalog() -> None:
    """Vector size, input limit and rows per job are the catalog's; a size the catalog lacks is the backend's."""
    for info in catalog().of_family("text-embedding"):
        model = embeddings.embedding_model(info)
        assert model.dimensions == (info.dimensions or DIMENSIONS)
        if info.context_window:
            assert model.max_input_tokens == info.context_window
        if info.max_rows_per_job:
            assert served_models.request_limit(info, info.max_rows_per_job + 1) == info.max_rows_per_job
        assert served_models.request_limit(info, 50) == 50
