"""The README's "Using it in your dbt project" example, copied verbatim into a fresh dbt project whose profile
says ``location: US``, run on the local stack (which refuses BigQuery batch IO in multi-region datasets, as
production does) with the fast test backend: the first run answers every row, a rerun submits nothing, and
changing one prompt or the model resubmits exactly the rows it changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import Env, subprocess_env, use_env
from tests.e2e.readme_project import readme_commands, readme_files, write_project, write_reviews
from vertex_batch.catalog import catalog
from vertex_batch.regions import default_gcs_prefix
from vertex_batch.staging_bucket import storage_client

REVIEWS = [
    (1, "Great boots, very comfortable."),
    (2, "Terrible mat, it tore in a week."),
    (3, "It is fine for the price."),
    (4, "Love it, works perfectly."),
    (5, "Broke on the first day."),
]
CLI = Path(sys.executable).with_name("vertex-batch")


def run(project: Path, env: Env, command: str) -> subprocess.CompletedProcess[str]:
    """A README command line (``vertex-batch ...``), run in the project folder as a user would."""
    argv = command.split()
    assert argv[0] == "vertex-batch"
    return subprocess.run(
        [str(CLI), *argv[1:]], cwd=project, env=subprocess_env(env), capture_output=True, text=True, timeout=600
    )


def build_json(project: Path, env: Env) -> dict:
    done = run(project, env, "vertex-batch build --json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


def submitted(report: dict) -> int:
    (model,) = [model for model in report["models"] if model["request_model"] == "review_requests"]
    return model["submitted_rows"]


def results(env: Env) -> dict[int, dict]:
    rows = env.warehouse.run(f"SELECT * FROM `{env.table('review_results')}`")
    return {row["review_id"]: dict(row) for row in rows}


@pytest.fixture(scope="module")
def readme(fake_stack, tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("readme"), REVIEWS)
    with pytest.MonkeyPatch.context() as patch:
        env = use_env(patch, fake_stack, "readme_example")
        yield project, env


def test_readme_shows_a_complete_project() -> None:
    files = readme_files()
    assert set(files) == {
        "packages.yml",
        "models/review_requests.sql",
        "models/review_predictions.sql",
        "models/review_results.sql",
    }
    assert "request_fingerprint" not in files["models/review_requests.sql"]
    assert "vertex-batch build" in readme_commands() and "vertex-batch doctor" in readme_commands()


def test_first_run_answers_every_row_through_the_gcs_path(readme) -> None:
    project, env = readme
    done = run(project, env, "vertex-batch build")  # verbatim from the README
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert env.warehouse.dataset_location(f"{env.config.project}.readme_example") == "US"
    assert "GCS JSONL" in done.stdout + done.stderr, "the progress output states the IO plan"
    rows = results(env)
    assert sorted(rows) == [review_id for review_id, _ in REVIEWS]
    assert all(row["is_answered"] and row["is_success"] and row["response_text"] for row in rows.values())
    assert all(row["cost_usd"] > 0 for row in rows.values()), "every answered row is priced from the catalog"
    assert {row["review_text"] for row in rows.values()} == {text for _, text in REVIEWS}, "passthrough joined back"
    landing = env.warehouse.columns(env.table("review_requests__batch_output"))
    assert "review_text" not in {field.name for field in landing}, "only key, request and fingerprint are staged"
    staging = storage_client(env.connections)
    bucket = default_gcs_prefix(env.config.project, "us-central1").removeprefix("gs://").split("/")[0]
    assert staging.lookup_bucket(bucket) is not None, "the default staging bucket was created"
    staged = list(staging.list_blobs(bucket, prefix="vertex-batch/review_requests/"))  # the bucket is shared
    assert not staged, "staged files are removed after landing"


def test_dry_run_states_the_plan(readme) -> None:
    project, env = readme
    done = run(project, env, "vertex-batch build --dry-run")  # verbatim from the README
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    output = done.stdout + done.stderr
    assert "review_requests" in output and "GCS JSONL" in output and "us-central1" in output


def test_doctor_reports_every_check(readme) -> None:
    project, env = readme
    done = run(project, env, "vertex-batch doctor")  # verbatim from the README
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    lines = done.stdout.strip().splitlines()
    assert all(line.startswith("[") for line in lines), lines
    names = " ".join(lines)
    for check in ("credentials", "Vertex AI API in us-central1", "model gemini-3.5-flash", "review_requests locations"):
        assert check in names
    assert any(line.startswith("[skip] Vertex AI Service Agent") for line in lines)


def test_rerun_submits_nothing(readme) -> None:
    project, env = readme
    assert submitted(build_json(project, env)) == 0


def test_changing_one_prompt_resubmits_that_row_only(readme) -> None:
    project, env = readme
    changed = [(review_id, text + " Edited." if review_id == 3 else text) for review_id, text in REVIEWS]
    write_reviews(project, changed)
    before = results(env)
    assert submitted(build_json(project, env)) == 1
    after = results(env)
    assert after[3]["is_answered"] and after[3]["batch_job_name"] != before[3]["batch_job_name"]
    assert all(after[key]["batch_job_name"] == before[key]["batch_job_name"] for key in (1, 2, 4, 5))


def test_changing_the_model_resubmits_every_row_of_that_model(readme) -> None:
    project, env = readme
    model = project / "models" / "review_requests.sql"
    model.write_text(model.read_text().replace("'gemini-3.5-flash'", "'gemini-3.5-flash-lite'"))
    before = results(env)
    assert submitted(build_json(project, env)) == len(REVIEWS)
    after = results(env)
    assert all(row["is_answered"] for row in after.values())
    assert all(after[key]["batch_job_name"] != before[key]["batch_job_name"] for key in after)


def test_a_retired_model_is_refused_before_anything_is_submitted(readme) -> None:
    project, env = readme
    model = project / "models" / "review_requests.sql"
    current = model.read_text()
    retired = next(m for m in catalog().of_family("gemini") if m.status() == "retired" and m.replacement)
    before = {row["batch_job_name"] for row in results(env).values()}
    try:
        model.write_text(current.replace("'gemini-3.5-flash-lite'", f"'{retired.id}'"))
        done = run(project, env, "vertex-batch build")
    finally:
        model.write_text(current)
    assert done.returncode == 2, done.stderr[-2000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error and retired.id in error[0] and retired.replacement in error[0] and "nothing was submitted" in error[0]
    assert "Traceback" not in done.stderr
    assert {row["batch_job_name"] for row in results(env).values()} == before


def test_the_example_runs_on_the_global_endpoint(readme) -> None:
    project, env = readme
    done = run(project, env, "vertex-batch build --location global --full-refresh-predictions")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    output = done.stdout + done.stderr
    assert "job location global" in output and "global endpoint read and write Cloud Storage" in output
    rows = results(env)
    assert all("/locations/global/" in row["batch_job_name"] and row["is_success"] for row in rows.values())
