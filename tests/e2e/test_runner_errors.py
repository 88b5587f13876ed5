"""Clear, one-line errors for what users get wrong: each names the problem and the fix, never a traceback."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import REPO, copy_project, use_env
from tests.unit.macro_render import package_macros
from tests.unit.status_corpus import STATUSES
from vertex_batch.cli import main
from vertex_batch.connections import Connections
from vertex_batch.errors import ConfigurationError, JobError, RequestTableError
from vertex_batch.identity import sql_string
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import JobSpec
from vertex_batch.transient_errors import retryable_status_sql

SCALE_PROJECT = REPO / "tests" / "e2e" / "scale_project"


def build_scale(capsys: pytest.CaptureFixture[str], vars_yaml: str) -> tuple[int, str]:
    code = main(
        ["build", "--project-dir", str(SCALE_PROJECT), "--profiles-dir", str(REPO / "profiles"), "--vars", vars_yaml]
    )
    return code, capsys.readouterr().err


def test_unknown_model_is_one_line_with_the_fix(fake_stack, monkeypatch, capsys) -> None:
    use_env(monkeypatch, fake_stack, "e2e_unknown_model")
    code, err = build_scale(capsys, "{scale_rows: 5, scale_model: gemini-does-not-exist}")
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "gemini-does-not-exist" in line and "not in the model catalog" in line and "vertex-batch models" in line
    assert "Traceback" not in err


def test_request_table_without_request_column(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "e2e_no_request")
    env.warehouse.client.create_dataset(env.dataset, exists_ok=True)
    env.warehouse.run(f"CREATE OR REPLACE TABLE `{env.table('prompts')}` AS SELECT 1 AS id, 'hi' AS prompt")
    with pytest.raises(RequestTableError, match=r"has no column request: .*build `request`"):
        env.warehouse.check_request_table(env.table("prompts"), ["id"])
    env.warehouse.run(
        f"CREATE OR REPLACE TABLE `{env.table('reserved')}` AS "
        "SELECT 1 AS id, JSON '{}' AS request, 'x' AS request_fingerprint, 'x' AS status"
    )
    with pytest.raises(RequestTableError, match="reserves; rename them"):
        env.warehouse.check_request_table(env.table("reserved"), ["id"])


def test_existing_destination_and_wrong_region_are_refused(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "e2e_refusals")
    env.warehouse.client.create_dataset(env.dataset, exists_ok=True)
    env.warehouse.run(
        f"CREATE OR REPLACE TABLE `{env.table('requests')}` AS SELECT 1 AS id, "
        'JSON \'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}\' AS request'
    )
    env.warehouse.run(f"CREATE OR REPLACE TABLE `{env.table('taken')}` AS SELECT 1 AS id")
    spec = JobSpec(
        display_name="t",
        model="gemini-3.5-flash",
        input_uri=f"bq://{env.table('requests')}",
        output_uri=f"bq://{env.table('taken')}",
        labels={},
    )
    with pytest.raises(JobError, match=r"was refused: .*already exists"):
        JobClient(env.connections).create(spec)

    elsewhere = Connections(
        project=env.config.project,
        location="moon-central9",
        bigquery_endpoint=env.config.bigquery_url,
        vertex_endpoint=env.config.vertex_url,
    )
    with pytest.raises(JobError) as refused:
        JobClient(elsewhere).create(spec)
    assert "moon-central9" in str(refused.value)


def test_missing_credentials_say_how_to_log_in(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.delenv("VERTEX_BATCH_API_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="gcloud auth application-default login"):
        _ = Connections(project="p").credentials


def test_failed_validation_stops_before_submitting(fake_stack, tmp_path, monkeypatch, capsys) -> None:
    project = copy_project(tmp_path / "strict")
    docs = project / "models" / "demo" / "_demo_models.yml"
    docs.write_text(docs.read_text().replace("severity: warn", "severity: error"))
    env = use_env(monkeypatch, fake_stack, "e2e_validation")
    code = main(["build", "--project-dir", str(project), "--profiles-dir", str(project / "profiles")])
    err = capsys.readouterr().err
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "dbt build failed" in line and "valid_request_roles" in line
    assert not env.warehouse.exists(env.table("vertex_batch_jobs")), "nothing was submitted"


def test_retryable_rule_agrees_in_bigquery(fake_stack, monkeypatch) -> None:
    """The status corpus through BigQuery: the is_retryable macro's SQL and the runner's SQL give the same answers."""
    env = use_env(monkeypatch, fake_stack, "e2e_status_rule")
    macros = package_macros("_internal/helpers.sql", "responses/status.sql")
    corpus = " UNION ALL ".join(f"SELECT {sql_string(status)} AS status" for status, _ in STATUSES)
    rows = env.warehouse.run(
        f"SELECT status, {macros.is_retryable('status')} AS macro, {retryable_status_sql('status')} AS runner "
        f"FROM ({corpus})"
    )
    expected = dict(STATUSES)
    assert len(rows) == len(STATUSES)
    for row in rows:
        assert (row["status"], row["macro"]) == (row["status"], expected[row["status"]])
        assert (row["status"], row["runner"]) == (row["status"], expected[row["status"]])
