"""The integration_tests project after a batch run: it installs the package from ../, builds text,
multimodal and structured-output requests, and `vertex-batch build` on the local stack (fast test backend)
turns them into typed, flattened results. A second build submits nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import storage

from tests.e2e.helpers import REPO, Env, running_stack, use_env
from vertex_batch.dbt_graph import DbtProject
from vertex_batch.local.gemini import TEXT_ONLY_MESSAGE, batch_model_version
from vertex_batch.progress import Progress
from vertex_batch.report import EXIT_PARTIAL
from vertex_batch.runner import BuildOptions, BuildReport, Runner
from vertex_batch.settings import RequestModelDefaults, RunSettings
from vertex_batch.wiring import CloudBackends

PROJECT = REPO / "integration_tests"
REQUEST_MODELS = ("multimodal_requests", "structured_requests", "text_requests")


def seed_rows(name: str) -> int:
    """Rows of a seed CSV of the project (one line each, after the header)."""
    return len((PROJECT / "seeds" / f"{name}.csv").read_text().strip().splitlines()) - 1


QUESTIONS = seed_rows("data_questions")
DOCUMENTS = seed_rows("data_documents")


@dataclass(frozen=True)
class Built:
    """The stack's environment after the first and the second build."""

    env: Env
    first: BuildReport
    second: BuildReport

    def rows(self, sql: str) -> list[dict[str, object]]:
        return [dict(row) for row in self.env.warehouse.run(sql)]

    def results(self, model: str, key: str) -> list[dict[str, object]]:
        return self.rows(f"SELECT * FROM `{self.env.table(model)}` ORDER BY {key}")

    def column_types(self, model: str) -> dict[str, str]:
        dataset = f"`{self.env.config.project}.{self.env.dataset}`"
        return {
            row["column_name"]: row["data_type"]
            for row in self.rows(
                f"SELECT column_name, data_type FROM {dataset}.INFORMATION_SCHEMA.COLUMNS WHERE table_name = '{model}'"
            )
        }


def upload_project_files(env: Env) -> None:
    """Put the project's Cloud Storage objects (integration_tests/gcs/<bucket>/<object>) on the emulator."""
    client = storage.Client(project=env.config.project, credentials=env.connections.credentials)
    root = PROJECT / "gcs"
    for path in sorted(root.glob("*/**/*")):
        if not path.is_file():
            continue
        bucket_name, name = path.relative_to(root).as_posix().split("/", 1)
        bucket = client.lookup_bucket(bucket_name) or client.create_bucket(bucket_name)
        bucket.blob(name).upload_from_filename(str(path), content_type="text/plain")


def build(target_root: Path) -> BuildReport:
    """``vertex-batch build`` of integration_tests, in place, with its target folders under ``target_root``."""
    dbt = DbtProject(project_dir=PROJECT, profiles_dir=REPO / "profiles", quiet=True, target_root=target_root)
    options = BuildOptions.resolve(RunSettings(poll_seconds=0.5, retry_backoff_seconds=0.2), local=True)
    return Runner(dbt, options, CloudBackends(), Progress(enabled=False)).build()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with pytest.MonkeyPatch.context() as patch, running_stack(tmp_path_factory.mktemp("stack")) as stack:
        env = use_env(patch, stack, "e2e_integration")
        upload_project_files(env)
        target_root = tmp_path_factory.mktemp("target")
        first = build(target_root)
        second = build(target_root)
        yield Built(env=env, first=first, second=second)


def test_first_build_answers_every_request_model(built: Built) -> None:
    by_model = {model.request_model: model for model in built.first.models}
    assert sorted(by_model) == list(REQUEST_MODELS)
    assert by_model["text_requests"].submitted_rows == QUESTIONS
    assert by_model["structured_requests"].submitted_rows == QUESTIONS
    assert by_model["multimodal_requests"].submitted_rows == DOCUMENTS
    assert (by_model["text_requests"].failed_rows, by_model["structured_requests"].failed_rows) == (0, 0)
    assert by_model["multimodal_requests"].failed_rows == 2, "the image and the video rows"
    assert built.first.exit_code == EXIT_PARTIAL, "permanently failed rows, no failed job"
    assert {job["state"] for job in built.first.jobs} <= {"SUCCEEDED"}


def test_text_results_are_answered_and_typed(built: Built) -> None:
    rows = built.results("text_results", "question_id")
    assert len(rows) == QUESTIONS
    for row in rows:
        assert row["is_answered"] and row["is_success"], row
        assert isinstance(row["response_text"], str) and row["response_text"].strip()
        assert row["finish_reason"] == "STOP"
        assert row["prompt_tokens"] > 0 and row["candidate_tokens"] > 0
        assert row["total_tokens"] == row["prompt_tokens"] + row["candidate_tokens"] + row["thoughts_tokens"]
        assert row["model_version"] == batch_model_version(RequestModelDefaults().model)
        assert row["error_code"] is None and row["error_message"] is None
    types = built.column_types("text_results")
    assert (types["response_text"], types["prompt_tokens"], types["is_success"]) == ("STRING", "INT64", "BOOL")


def test_multimodal_files_the_local_model_cannot_read_fail_per_row(built: Built) -> None:
    rows = {row["doc_id"]: row for row in built.results("multimodal_results", "doc_id")}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    for doc_id in (3, 4):  # image/jpeg, video/mp4
        row = rows[doc_id]
        assert row["is_answered"] and row["is_success"] is False, row
        assert (row["error_code"], row["error_status"]) == (400, "INVALID_ARGUMENT")
        assert row["error_message"] == TEXT_ONLY_MESSAGE.format(mime=row["mime_type"])
        assert row["is_retryable"] is False and row["response_text"] is None
    for doc_id in (1, 2, 5):  # text/plain files read from Cloud Storage, and a text-only request
        row = rows[doc_id]
        assert row["is_success"] and row["response_text"], row
        assert row["error_code"] is None
    assert rows[5]["file_uri"] is None
    assert rows[1]["prompt_tokens"] > rows[5]["prompt_tokens"], "the file's text is part of the prompt"
    assert built.column_types("multimodal_results")["error_code"] == "INT64"


def test_structured_results_have_typed_columns(built: Built) -> None:
    rows = built.results("structured_results", "question_id")
    assert len(rows) == QUESTIONS
    for row in rows:
        assert row["is_success"] and row["parse_error"] is False, row
        assert isinstance(row["answer"], str) and row["answer"]
        assert isinstance(row["confidence"], float) and 0 <= row["confidence"] <= 1
        assert row["finish_reason"] == "STOP" and row["response_text"].startswith("{")
    types = built.column_types("structured_results")
    assert (types["answer"], types["confidence"], types["parse_error"]) == ("STRING", "FLOAT64", "BOOL")


def test_ledger_has_one_landed_job_per_request_model(built: Built) -> None:
    ledger = built.rows(
        f"SELECT request_model, state, landed, rows_submitted FROM `{built.env.table('vertex_batch_jobs')}` "
        "ORDER BY request_model"
    )
    assert [row["request_model"] for row in ledger] == list(REQUEST_MODELS)
    assert all(row["landed"] for row in ledger)
    assert {row["state"] for row in ledger} <= {"SUCCEEDED"}
    assert [row["rows_submitted"] for row in ledger] == [DOCUMENTS, QUESTIONS, QUESTIONS]


def test_second_build_submits_nothing(built: Built) -> None:
    assert built.second.jobs == []
    assert [model.submitted_rows for model in built.second.models] == [0, 0, 0]
    assert built.second.exit_code == 0
    predictions = built.rows(f"SELECT COUNT(*) AS n FROM `{built.env.table('text_predictions')}`")
    assert predictions[0]["n"] == QUESTIONS, "the rebuild kept the accumulated answers, once each"
