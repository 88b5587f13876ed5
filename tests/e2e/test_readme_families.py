"""The README's "Every model family" example, copied verbatim into a fresh dbt project (profile ``location: US``)
and run on the local stack with the fast test backend: one question asked of a Gemini, a Claude and an open model
through ``prompt_request``, plus a Gemini embedding request model. Every row is answered in its family's format,
the three results union by position, a rerun submits nothing and changing one request model's model re-asks
only its rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import Env, subprocess_env, use_env
from tests.e2e.readme_project import readme_files, write_project
from vertex_batch.catalog import catalog

SECTION = "## Every model family"
REVIEWS = [(1, "Great boots, very comfortable."), (2, "Terrible mat, it tore in a week."), (3, "It is fine.")]
GENERATING = {"sentiment_gemini": "gemini", "sentiment_claude": "claude", "sentiment_gpt_oss": "chat-completions"}
EMBEDDING = "review_vectors"
EMBEDDING_RESULTS = "review_vector_results"
CLI = Path(sys.executable).with_name("vertex-batch")


def build(project: Path, env: Env) -> dict[str, int]:
    """``vertex-batch build --json`` in the project; rows submitted per request model."""
    done = subprocess.run(
        [str(CLI), "build", "--json"],
        cwd=project,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{") :])
    return {model["request_model"]: model["submitted_rows"] for model in report["models"]}


def rows(env: Env, table: str) -> list[dict]:
    return [dict(row) for row in env.warehouse.run(f"SELECT * FROM `{env.table(table)}` ORDER BY review_id")]


def model_of(project: Path, request_model: str) -> str:
    text = (project / "models" / f"{request_model}.sql").read_text()
    return text.split("'model': '", 1)[1].split("'", 1)[0]


@pytest.fixture(scope="module")
def families(fake_stack, tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("families"), REVIEWS, section=SECTION)
    with pytest.MonkeyPatch.context() as patch:
        env = use_env(patch, fake_stack, "readme_families")
        first = build(project, env)
        yield project, env, first


def test_the_section_shows_one_request_model_per_family() -> None:
    files = readme_files(SECTION)
    for name, family in GENERATING.items():
        assert "vertex_batch.prompt_request(" in files[f"models/{name}.sql"]
        model = files[f"models/{name}.sql"].split("'model': '", 1)[1].split("'", 1)[0]
        assert catalog().get(model).family == family
    vectors = files[f"models/{EMBEDDING}.sql"]
    assert catalog().get(vectors.split("'model': '", 1)[1].split("'", 1)[0]).family == "gemini-embedding"
    assert "union all" in files["models/sentiment_by_family.sql"]


def test_every_family_answers_every_row(families) -> None:
    _, env, first = families
    assert first == {name: len(REVIEWS) for name in [*GENERATING, EMBEDDING]}
    for name in GENERATING:
        answered = rows(env, f"{name}_results")
        assert [row["review_id"] for row in answered] == [review_id for review_id, _ in REVIEWS]
        for row in answered:
            assert row["is_success"] and row["response_text"], (name, row)
            assert row["prompt_tokens"] > 0 and row["candidate_tokens"] > 0 and row["total_tokens"] > 0, (name, row)
            assert row["finish_reason"] in ("STOP", "MAX_TOKENS") and row["raw_finish_reason"], (name, row)
            assert row["cost_usd"] > 0 and row["model_version"], (name, row)
    vectors = rows(env, EMBEDDING_RESULTS)
    assert all(row["is_success"] and len(row["embedding"]) == row["dimensions"] > 0 for row in vectors)
    assert all(row["token_count"] > 0 and row["cost_usd"] > 0 for row in vectors)


def test_the_three_results_union_by_position(families) -> None:
    env = families[1]
    shapes = {
        name: [(field.name, field.field_type) for field in env.warehouse.columns(env.table(f"{name}_results"))]
        for name in GENERATING
    }
    assert len({tuple(shape) for shape in shapes.values()}) == 1, shapes
    union = rows(env, "sentiment_by_family")
    assert sorted({row["family"] for row in union}) == ["claude", "gemini", "gpt-oss"]
    assert len(union) == len(GENERATING) * len(REVIEWS) and all(row["is_success"] for row in union)


def test_each_family_lands_in_its_own_shape(families) -> None:
    env = families[1]
    landed = {
        name: {field.name for field in env.warehouse.columns(env.table(f"{name}__batch_output"))}
        for name in [*GENERATING, EMBEDDING]
    }
    assert "custom_id" not in landed["sentiment_gemini"]
    assert {"custom_id", "review_id", "request_fingerprint", "response", "status"} <= landed["sentiment_claude"]
    assert {"custom_id", "id", "error", "status", "processed_time"} <= landed["sentiment_gpt_oss"]
    claude = rows(env, "sentiment_claude__batch_output")
    assert all(row["request"]["anthropic_version"] == "vertex-2023-10-16" for row in claude)
    assert len({row["custom_id"] for row in claude}) == len(REVIEWS)
    vectors = rows(env, f"{EMBEDDING}__batch_output")
    assert all(row["request"]["content"]["parts"][0]["text"] for row in vectors)


def test_changing_one_models_model_reasks_only_its_rows(families) -> None:
    project, env, _ = families
    path = project / "models" / "sentiment_claude.sql"
    current = model_of(project, "sentiment_claude")
    other = next(m.id for m in catalog().of_family("claude") if m.id != current and m.status() == "available")
    before = {name: rows(env, f"{name}_results") for name in GENERATING}
    path.write_text(path.read_text().replace(f"'{current}'", f"'{other}'"))
    # A rerun: the other models' rows, the embeddings included, are not asked again.
    assert build(project, env) == {**dict.fromkeys([*GENERATING, EMBEDDING], 0), "sentiment_claude": len(REVIEWS)}
    after = {name: rows(env, f"{name}_results") for name in GENERATING}
    assert all(row["model_version"] == other and row["is_success"] for row in after["sentiment_claude"])
    for name in ("sentiment_gemini", "sentiment_gpt_oss"):
        assert [row["batch_job_name"] for row in after[name]] == [row["batch_job_name"] for row in before[name]]
