"""Embeddings request models end to end on the local stack (fast test backend): the demo's
demo_review_embeddings through the runner, an embeddings batch job, landing, flatten_embeddings and the
most-similar-reviews model; a rerun submits nothing and changed texts resubmit only those rows."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from tests.e2e.helpers import Env, copy_project, use_env
from vertex_batch.cli import main
from vertex_batch.demo import print_similar
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import LABEL_MODEL, LABEL_TABLE, table_label

SELECT = ("--select", "+demo_review_similar_reviews", "--vars", "{vertex_batch_demo_embeddings: true}")
DIMENSIONS = 64  # meta.vertex_batch.output_dimensionality of demo_review_embeddings
REVIEWS = 300


def build(project: Path, *extra: str) -> tuple[int, dict]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        dirs = ["--project-dir", str(project), "--profiles-dir", str(project / "profiles")]
        code = main(["build", *dirs, "--json", *SELECT, *extra])
    out = buffer.getvalue()
    return code, json.loads(out[out.index("{\n") :])


def embedding_jobs(env: Env) -> list:
    """Jobs of this test's embeddings request table (its dataset: the stack is shared by the session)."""
    labels = {LABEL_MODEL: "demo_review_embeddings", LABEL_TABLE: table_label(env.table("demo_review_embeddings"))}
    return JobClient(env.connections).find(labels)


def results(env: Env) -> dict[int, dict]:
    rows = env.warehouse.run(f"SELECT * FROM `{env.table('demo_review_embedding_results')}`")
    return {row["review_id"]: dict(row) for row in rows}


@pytest.fixture(scope="module")
def embedded(fake_stack, tmp_path_factory):
    """The demo project's embeddings step, built once on a fresh dataset; later tests build on its state."""
    project = copy_project(tmp_path_factory.mktemp("embeddings"))
    with pytest.MonkeyPatch.context() as patch:
        use_env(patch, fake_stack, "e2e_embeddings")
        code, report = build(project)
    return project, code, report


def test_every_review_gets_a_vector_of_the_requested_size(embedded, fake_stack, monkeypatch) -> None:
    _, code, report = embedded
    env = use_env(monkeypatch, fake_stack, "e2e_embeddings")
    assert code == 0, report
    (model,) = report["models"]
    assert model["request_model"] == "demo_review_embeddings"
    assert model["submitted_rows"] == REVIEWS and model["successful_rows"] == REVIEWS
    assert [job["state"] for job in report["jobs"]] == ["SUCCEEDED"]
    (job,) = embedding_jobs(env)
    assert job.state.name == "SUCCEEDED"

    rows = results(env)
    assert len(rows) == REVIEWS
    assert all(row["is_success"] and row["dimensions"] == DIMENSIONS for row in rows.values())
    assert all(len(row["embedding"]) == DIMENSIONS and row["token_count"] > 0 for row in rows.values())

    by_text: dict[str, list[float]] = {}
    for row in rows.values():
        assert by_text.setdefault(row["content"], row["embedding"]) == row["embedding"], "same text, same vector"
    assert len({tuple(vector) for vector in by_text.values()}) == len(by_text), "different texts, different vectors"

    similar = env.warehouse.run(f"SELECT * FROM `{env.table('demo_review_similar_reviews')}`")
    assert len(similar) == REVIEWS
    duplicated = {text for text in by_text if sum(row["content"] == text for row in rows.values()) > 1}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_similar(env.connections, env.dataset, 3)
    assert "most similar reviews" in out.getvalue() and out.getvalue().count(" ~ ") == 3
    for row in similar:
        assert -1.0 - 1e-9 <= row["cosine_similarity"] <= 1.0 + 1e-9
        if row["review_text"] in duplicated:
            assert row["similar_review_text"] == row["review_text"]
            assert row["cosine_similarity"] == pytest.approx(1.0)


def test_changed_texts_are_the_only_rows_embedded_again(embedded, fake_stack, monkeypatch) -> None:
    project, *_ = embedded
    env = use_env(monkeypatch, fake_stack, "e2e_embeddings")
    before = results(env)
    seed = project / "seeds" / "demo_reviews.csv"
    rows = list(csv.DictReader(seed.open()))
    changed = {int(row["review_id"]) for row in rows[::25]}
    for row in rows:
        if int(row["review_id"]) in changed:
            row["review_text"] += " Edited later."
    with seed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    code, report = build(project)
    assert code == 0
    (model,) = report["models"]
    assert model["submitted_rows"] == len(changed)
    after = results(env)
    assert all(row["is_success"] and row["dimensions"] == DIMENSIONS for row in after.values())
    for key, row in after.items():
        if key in changed:
            assert row["embedding"] != before[key]["embedding"]
        else:
            assert row["embedding"] == before[key]["embedding"]


def test_bigquery_path_for_a_dataset_in_the_job_region(fake_stack, tmp_path, monkeypatch) -> None:
    """A request model in the job's region goes through BigQuery IO: a `content` table in, `predictions` out."""
    from google.cloud import bigquery

    env = use_env(monkeypatch, fake_stack, "e2e_embeddings_regional")
    dataset = bigquery.Dataset(f"{env.config.project}.{env.dataset}")
    dataset.location = "us-central1"
    env.connections.bigquery_client().create_dataset(dataset, exists_ok=True)
    code, report = build(copy_project(tmp_path / "regional"))
    assert code == 0, report
    assert report["models"][0]["successful_rows"] == REVIEWS
    rows = results(env)
    assert len(rows) == REVIEWS and all(len(row["embedding"]) == DIMENSIONS for row in rows.values())
    (landed,) = env.warehouse.run(
        f"SELECT data_type FROM `{env.config.project}.{env.dataset}.INFORMATION_SCHEMA.COLUMNS` "
        "WHERE table_name = 'demo_review_embeddings__batch_output' AND column_name = 'predictions'"
    )
    assert landed["data_type"] == "STRING"  # as the BigQuery output of an embeddings job holds it


def test_dry_run_estimates_embeddings_without_submitting(fake_stack, tmp_path, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "e2e_embeddings_dry_run")
    code, report = build(copy_project(tmp_path / "dry"), "--dry-run")
    assert code == 0
    (model,) = report["models"]
    assert model["pending_rows"] == REVIEWS and model["estimated_input_tokens"] > 0
    assert model["estimated_output_tokens"] == 0 and model["submitted_rows"] == 0
    assert embedding_jobs(env) == []
