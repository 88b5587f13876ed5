"""Defaults come from one settings object: meta over vars over defaults; the CLI's flags and help read it."""

from __future__ import annotations

import pytest

from vertex_batch.catalog import catalog
from vertex_batch.cli import build_parser, meta_defaults_help
from vertex_batch.errors import ConfigurationError, RequestTableError
from vertex_batch.report import EXIT_RUNNING
from vertex_batch.request_models import BatchSettings
from vertex_batch.settings import RequestModelDefaults, RunSettings

pytestmark = pytest.mark.unit
DEFAULT = catalog().default_model


@pytest.mark.parametrize(
    ("meta", "dbt_vars", "expected"),
    [
        ({}, {}, {"model": DEFAULT, "max_rows_per_job": 200_000, "max_attempts": 3, "input": "bigquery"}),
        ({}, {"vertex_batch_model": "gemini-2.5-flash"}, {"model": "gemini-2.5-flash"}),
        ({"model": DEFAULT}, {"vertex_batch_model": "gemini-2.5-flash"}, {"model": DEFAULT}),
        ({"model": "text-embedding-005", "max_rows_per_job": 50_000}, {}, {"max_rows_per_job": 30_000}),
        ({}, {"vertex_batch_max_rows_per_job": 1000}, {"max_rows_per_job": 1000}),
        ({}, {"vertex_batch_max_attempts": "5"}, {"max_attempts": 5}),
        ({"max_attempts": 1}, {"vertex_batch_max_attempts": 5}, {"max_attempts": 1}),
        (
            {},
            {"vertex_batch_input": "gcs", "vertex_batch_gcs_prefix": "gs://b/x"},
            {"input": "gcs", "gcs_prefix": "gs://b/x"},
        ),
        ({"gcs_prefix": "gs://mine"}, {"vertex_batch_gcs_prefix": "gs://b/x"}, {"gcs_prefix": "gs://mine"}),
        ({}, {"vertex_batch_unrelated": 1}, {"model": DEFAULT}),
    ],
)
def test_meta_over_vars_over_defaults(meta: dict, dbt_vars: dict, expected: dict) -> None:
    settings = BatchSettings.from_meta("m", {"key": "id", **meta}, RequestModelDefaults.from_vars(dbt_vars))
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(
    ("dbt_vars", "message"),
    [
        ({"vertex_batch_max_rows_per_job": 0}, "vertex_batch_max_rows_per_job"),
        ({"vertex_batch_max_attempts": 0}, "vertex_batch_max_attempts"),
        ({"vertex_batch_input": "s3"}, "vertex_batch_input"),
    ],
)
def test_a_bad_var_is_one_line_naming_it(dbt_vars: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RequestModelDefaults.from_vars(dbt_vars)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({}, "key is missing"),
        ({"key": "id", "max_rows_per_job": 0}, "max_rows_per_job"),
        ({"key": "id", "destination_dataset": "elsewhere"}, "landing table lives beside the request model"),
    ],
)
def test_bad_meta_is_one_line_naming_the_key(meta: dict, message: str) -> None:
    with pytest.raises(RequestTableError, match=message):
        BatchSettings.from_meta("m", meta)


def test_a_model_the_catalog_does_not_know_needs_its_family() -> None:
    with pytest.raises(RequestTableError, match="not in the model catalog"):
        BatchSettings.from_meta("m", {"key": "id", "model": "my-tuned-model"})
    tuned = BatchSettings.from_meta("m", {"key": "id", "model": "projects/p/locations/l/models/7", "family": "gemini"})
    assert (tuned.family, tuned.kind, tuned.info) == ("gemini", "generate", None)
    with pytest.raises(RequestTableError, match="is a gemini model"):
        BatchSettings.from_meta("m", {"key": "id", "model": DEFAULT, "family": "claude"})


def test_run_settings_pick_local_or_cloud_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (RunSettings().poll(local=True), RunSettings().poll(local=False)) == (1.0, 30.0)
    assert (RunSettings().backoff(local=True), RunSettings().backoff(local=False)) == (2.0, 60.0)
    monkeypatch.setenv("VERTEX_BATCH_POLL_SECONDS", "7")
    monkeypatch.setenv("VERTEX_BATCH_MAX_CONCURRENT_JOBS", "9")
    assert RunSettings().poll(local=True) == 7.0 and RunSettings().max_concurrent_jobs == 9
    assert RunSettings(poll_seconds=2).poll(local=False) == 2.0, "a flag beats the environment"


def test_help_lists_every_default_from_the_settings() -> None:
    text = meta_defaults_help()
    for name, field in RequestModelDefaults.model_fields.items():
        assert f"  {name}: " in text
        default = field.get_default(call_default_factory=True)
        if default is not None:
            assert f"(default {default})" in text
    help_text = build_parser()._subparsers._group_actions[0].choices["build"].format_help()
    assert "jobs in flight at once (default 4)" in help_text
    assert "max_attempts" in help_text


@pytest.mark.parametrize(
    ("argv", "checks"),
    [
        (["submit"], {"command": "submit", "json": False}),
        (["submit", "--json", "-s", "tag:x"], {"json": True, "select": ["tag:x"]}),
        (["resume"], {"command": "resume", "run": None, "wait": False}),
        (["resume", "--run", "r1", "--wait"], {"run": "r1", "wait": True}),
        (["build", "--max-cost", "5", "--max-concurrent-jobs", "2"], {"max_cost": 5.0, "max_concurrent_jobs": 2}),
    ],
)
def test_scheduler_commands_parse(argv: list[str], checks: dict) -> None:
    args = build_parser().parse_args(argv)
    for name, value in checks.items():
        assert getattr(args, name) == value


def test_resume_help_states_the_still_running_exit_code() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["resume"].format_help()
    assert str(EXIT_RUNNING) in " ".join(build_parser().format_help().split()) or str(EXIT_RUNNING) in help_text


def test_project_vars_as_dbt_resolves_them_for_the_package(tmp_path) -> None:
    """Root project vars (global, then scoped to vertex_batch), then --vars: what the runner reads for defaults."""
    from vertex_batch.dbt_graph import DbtProject

    (tmp_path / "dbt_project.yml").write_text(
        "name: p\nvars:\n  vertex_batch_model: gemini-a\n  vertex_batch_max_attempts: 2\n"
        "  vertex_batch:\n    vertex_batch_model: gemini-b\n"
    )
    project = DbtProject(project_dir=tmp_path, vars="{vertex_batch_max_attempts: 7}")
    defaults = RequestModelDefaults.from_vars(project.project_vars())
    assert (defaults.model, defaults.max_attempts) == ("gemini-b", 7)
    assert DbtProject(project_dir=tmp_path / "missing").project_vars() == {}


def test_models_lists_the_catalog_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from vertex_batch.cli import main

    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    current = [model for model in catalog().models if model.status() != "retired"]
    assert [entry["id"] for entry in listed] == [model.id for model in current]
    for entry in listed:
        assert {"id", "publisher", "kind", "status", "retirement", "replacement", "prices", "flex"} <= set(entry)
        assert entry["status"] in ("available", "preview", "retiring")
    assert main(["models", "--json", "--all"]) == 0
    everything = json.loads(capsys.readouterr().out)
    retired = [entry for entry in everything if entry["status"] == "retired"]
    assert retired and all(entry["retirement"] for entry in retired)
    assert main(["models"]) == 0 and "model catalog checked" in capsys.readouterr().out
