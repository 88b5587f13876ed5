"""The runner end to end on the local stack (fast test backend): dbt → batch job → landing → flattened models.

A thin smoke layer that proves the wiring (first run, ledger commands, submit/resume from the README). The
loop's logic is covered by tests/unit, reruns and changed prompts by tests/e2e/test_readme_example.py, the
dry run and the budget by tests/e2e/test_cost_cli_local.py, the IO paths by tests/e2e/test_staging_local.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO, Env, copy_project, subprocess_env, use_env
from vertex_batch.cli import main
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import LABEL_MODEL, LABEL_RUN, LABEL_TABLE, table_label
from vertex_batch.regions import default_gcs_prefix
from vertex_batch.staging_bucket import storage_client

BAD_ROLE_MESSAGE = "Please use a valid role: user, model."
DEMO_ROWS = 300


def build(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(
        [
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project / "profiles"),
            "--json",
            *extra,
        ]
    )
    out = capsys.readouterr().out
    return code, json.loads(out[out.index("{") :]) if "{" in out else {}


def model_jobs(env: Env) -> list:
    """Jobs of this test's demo request table (its dataset), newest first."""
    labels = {LABEL_MODEL: "demo_review_requests", LABEL_TABLE: table_label(env.table("demo_review_requests"))}
    return JobClient(env.connections).find(labels)


@pytest.fixture(scope="module")
def demo(fake_stack, tmp_path_factory):
    """The demo project, built once on a fresh dataset; later tests build on its state."""
    project = copy_project(tmp_path_factory.mktemp("demo"))
    with pytest.MonkeyPatch.context() as patch:
        use_env(patch, fake_stack, "e2e_demo")
        code, report = main_build(project)
    return project, code, report


def main_build(project: Path) -> tuple[int, dict]:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["build", "--project-dir", str(project), "--profiles-dir", str(project / "profiles"), "--json"])
    out = buffer.getvalue()
    return code, json.loads(out[out.index("{") :])


def test_first_run_answers_every_row_and_flattens(demo, fake_stack, monkeypatch) -> None:
    _, code, report = demo
    env = use_env(monkeypatch, fake_stack, "e2e_demo")
    assert code == 3, "one row has an invalid role on purpose: partial success"
    (model,) = report["models"]
    assert model["submitted_rows"] == DEMO_ROWS
    assert (model["successful_rows"], model["failed_rows"]) == (DEMO_ROWS - 1, 1)
    assert [job["state"] for job in report["jobs"]] == ["SUCCEEDED"]

    rows = env.warehouse.run(
        f"SELECT review_id, response_text, finish_reason, prompt_tokens, total_tokens, model_version, "
        f"is_success, error_code, error_status, error_message FROM `{env.table('demo_review_results')}`"
    )
    assert len(rows) == DEMO_ROWS
    ok = [row for row in rows if row["is_success"]]
    failed = [row for row in rows if not row["is_success"]]
    assert len(ok) == DEMO_ROWS - 1
    assert all(row["response_text"] and row["model_version"] for row in ok)
    assert all(row["prompt_tokens"] > 0 and row["total_tokens"] >= row["prompt_tokens"] for row in ok)
    (bad,) = failed
    assert (bad["error_code"], bad["error_status"], bad["error_message"]) == (
        400,
        "INVALID_ARGUMENT",
        BAD_ROLE_MESSAGE,
    )

    landing = env.warehouse.run(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT review_id) AS keys "
        f"FROM `{env.table('demo_review_requests__batch_output')}`"
    )[0]
    assert (landing["n"], landing["keys"]) == (DEMO_ROWS, DEMO_ROWS)
    ledger = env.warehouse.run(f"SELECT state, rows_submitted, landed FROM `{env.table('vertex_batch_jobs')}`")
    assert [(r["state"], r["rows_submitted"], r["landed"]) for r in ledger] == [("SUCCEEDED", DEMO_ROWS, True)]
    # One price table for SQL and Python: the flattened rows' cost_usd sums to the ledger's exact job cost.
    (spent,) = env.warehouse.run(f"SELECT SUM(actual_cost_usd) FROM `{env.table('vertex_batch_jobs')}`")[0]
    (flattened,) = env.warehouse.run(f"SELECT SUM(cost_usd) FROM `{env.table('demo_review_results')}`")[0]
    assert spent > 0 and flattened == pytest.approx(spent, rel=1e-9)
    assert model["actual_cost_usd"] == pytest.approx(spent, rel=1e-9)


def test_status_and_cancel_read_the_ledger(demo, fake_stack, monkeypatch, capsys) -> None:
    project, _, report = demo
    use_env(monkeypatch, fake_stack, "e2e_demo")
    dbt_args = ["--project-dir", str(project), "--profiles-dir", str(project / "profiles")]
    assert main(["status", *dbt_args, "--run", report["run_id"], "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["run_id"] == report["run_id"]
    assert [(job["state"], job["rows"], job["landed"]) for job in status["jobs"]] == [("SUCCEEDED", DEMO_ROWS, True)]
    assert status["cost"]["spent_usd"] > 0
    assert set(status["cost"]["by_request_model"]) == {"demo_review_requests"}
    assert main(["cancel", *dbt_args, "--run", report["run_id"]]) == 0
    assert "nothing to cancel" in capsys.readouterr().out


def readme_block(section: str) -> str:
    """The first bash block of a README section, verbatim."""
    text = (REPO / "README.md").read_text()
    start = text.index(section)
    body = text[start : text.find("\n## ", start + len(section))]
    return re.search(r"```bash\n(.*?)```", body, re.S).group(1)


def test_scheduler_commands_land_every_row_once(fake_stack, tmp_path, monkeypatch) -> None:
    """The README's scheduler block, run verbatim: submit, submit again, resume, resume --wait."""
    project = copy_project(tmp_path / "scheduler")
    env = use_env(monkeypatch, fake_stack, "e2e_scheduler")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    script = readme_block("## Running from a scheduler")
    done = subprocess.run(
        ["bash", "-c", "set -u\n" + script],
        cwd=project,
        env={**subprocess_env(env), "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 3), done.stderr[-3000:]
    (job,) = model_jobs(env)  # the second submit created no job
    bucket, folder = default_gcs_prefix(env.config.project, "us-central1").removeprefix("gs://").split("/", 1)
    prefix = f"{folder}/demo_review_requests/{job.labels[LABEL_RUN]}/"
    assert not list(storage_client(env.connections).list_blobs(bucket, prefix=prefix)), "staged files removed"
    landing = env.warehouse.run(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT review_id) AS keys "
        f"FROM `{env.table('demo_review_requests__batch_output')}`"
    )[0]
    assert (landing["n"], landing["keys"]) == (DEMO_ROWS, DEMO_ROWS), "every row landed once"
    results = env.warehouse.run(f"SELECT COUNTIF(is_success) AS ok FROM `{env.table('demo_review_results')}`")[0]
    assert results["ok"] == DEMO_ROWS - 1, "resume built the downstream models"

    code = main(["resume", "--project-dir", str(project), "--json"])
    assert code == 0, "nothing left to do"
    assert env.warehouse.count(env.table("demo_review_requests__batch_output")) == DEMO_ROWS
