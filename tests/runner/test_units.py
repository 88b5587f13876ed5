"""Pure-logic parts of the runner: manifest reading, waves, settings, costs, retry classification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vertex_batch.catalog import catalog
from vertex_batch.costs import Usage, estimate_input_tokens, model_cost
from vertex_batch.errors import RequestTableError
from vertex_batch.jobs import label_value
from vertex_batch.manifest import Manifest
from vertex_batch.report import BuildReport, ModelReport
from vertex_batch.request_models import BatchSettings
from vertex_batch.transient_errors import is_retryable_row_status

pytestmark = pytest.mark.unit

BAD_ROLE = (
    'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
    '"status": "INVALID_ARGUMENT"}}'
)
RATE_LIMITED = (
    'Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}'
)


def _node(name: str, deps: list[str], meta: dict | None = None) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "database": "p",
        "schema": "ds",
        "alias": name,
        "depends_on": {"nodes": deps},
        "config": {"meta": meta or {}},
    }


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    nodes = {
        "seed.x.reviews": {"resource_type": "seed", "name": "reviews"},
        "model.x.requests_a": _node("requests_a", ["seed.x.reviews"], {"vertex_batch": {"key": ["id"]}}),
        "model.x.answers_a": _node("answers_a", ["model.x.requests_a"]),
        "model.x.requests_b": _node("requests_b", ["model.x.answers_a"], {"vertex_batch": {"key": "id"}}),
        "model.x.requests_c": _node("requests_c", ["seed.x.reviews"], {"vertex_batch": {"key": ["id"]}}),
        "model.x.report": _node("report", ["model.x.requests_b"]),
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": nodes, "child_map": {}}))
    return Manifest.load(path)


def test_request_models_are_models_with_meta(manifest: Manifest) -> None:
    names = [node.name for node in manifest.request_models()]
    assert names == ["requests_a", "requests_b", "requests_c"]
    assert manifest.models["model.x.requests_a"].table_id == "p.ds.requests_a"
    assert [n.name for n in manifest.request_models({"model.x.requests_c"})] == ["requests_c"]


def test_second_llm_step_goes_in_a_later_wave(manifest: Manifest) -> None:
    waves = manifest.waves(manifest.request_models())
    assert [[node.name for node in wave] for wave in waves] == [["requests_a", "requests_c"], ["requests_b"]]


def test_batch_settings_defaults_and_errors() -> None:
    settings = BatchSettings.from_meta("m", {"key": "id"})
    assert settings.key == ("id",)
    assert settings.model == catalog().default_model
    assert settings.max_rows_per_job == catalog().get(settings.model).max_rows_per_job
    with pytest.raises(RequestTableError, match="key is missing"):
        BatchSettings.from_meta("m", {})
    with pytest.raises(RequestTableError, match=r"input: Input should be .bigquery. or .gcs."):
        BatchSettings.from_meta("m", {"key": "id", "input": "s3"})


def test_costs_use_the_lane_share() -> None:
    info = catalog().get("publishers/google/models/gemini-3.5-flash")
    price = info.price_at(catalog().checked)
    assert price is not None
    usage = Usage(prompt=1_000_000)
    assert model_cost(info, usage, catalog().checked) == pytest.approx(price.input * info.discounts.batch)
    assert model_cost(info, usage, catalog().checked, "online") == pytest.approx(price.input)
    assert catalog().find("no-such-model") is None
    assert estimate_input_tokens(400) == 100


def test_retryable_row_statuses() -> None:
    assert is_retryable_row_status(RATE_LIMITED)
    assert is_retryable_row_status(
        'Service Unavailable: {"error": {"code": 503, "message": "x", "status": "UNAVAILABLE"}}'
    )
    assert not is_retryable_row_status(BAD_ROLE)
    assert not is_retryable_row_status("")


def test_label_values_are_valid_google_labels() -> None:
    assert label_value("Demo.Review-Requests!") == "demo_review-requests_"
    assert len(label_value("x" * 100)) == 63


def test_exit_codes() -> None:
    report = BuildReport(run_id="r", dry_run=False)
    assert report.exit_code == 0
    report.models.append(ModelReport(request_model="m", table="t", failed_rows=1))
    assert report.exit_code == 3
    report.jobs.append({"state": "FAILED"})
    assert report.exit_code == 1
    assert json.loads(json.dumps(report.to_json()))["exit_code"] == 1
