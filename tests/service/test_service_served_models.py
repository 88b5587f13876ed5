"""What the service serves and refuses comes from the model catalog: publishers, lifecycle, locations, IO."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from vertex_batch.catalog import catalog, utc_today
from vertex_batch.local.service import served_models
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError

pytestmark = pytest.mark.unit

PROJECT, REGION = "local-project", "us-central1"
TODAY = date(2026, 12, 3)
BQ_IN = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://p.d.t"}}
GCS_IN = {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}}
GCS_OUT = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/out"}}


def refusal(model: str, location: str = REGION, today: date = TODAY) -> ApiError:
    with pytest.raises(ApiError) as info:
        served_models.resolve(model, PROJECT, location, today)
    return info.value


def test_catalog_models_are_served_by_every_name_form() -> None:
    for name in (
        "gemini-3.5-flash",
        "publishers/google/models/gemini-3.5-flash",
        f"projects/{PROJECT}/locations/{REGION}/publishers/google/models/gemini-3.5-flash@default",
    ):
        served = served_models.resolve(name, PROJECT, REGION, TODAY)
        assert (served.info.id, served.model_id) == ("gemini-3.5-flash", "gemini-3.5-flash")
    assert served_models.resolve("gemini-3.5-flash", PROJECT, REGION, TODAY).resource == (
        "publishers/google/models/gemini-3.5-flash"
    )
    claude = served_models.resolve("publishers/anthropic/models/claude-sonnet-5-5@20261001", PROJECT, "us-east5", TODAY)
    assert (claude.info.family, claude.model_id) == ("claude", "claude-sonnet-5-5")


def test_unknown_models_and_wrong_publishers_are_not_found() -> None:
    error = refusal("publishers/google/models/gemini-does-not-exist")
    assert (error.code, error.status, error.message) == (
        404, "NOT_FOUND", "The PublisherModel gemini-does-not-exist does not exist."
    )  # fmt: skip
    assert refusal("publishers/anthropic/models/gemini-3.5-flash").code == 404
    assert refusal("claude-sonnet-5-5", "us-east5").code == 404  # a bare id means publishers/google
    assert refusal(f"projects/{PROJECT}/locations/{REGION}/models/123").message.startswith("The Model ")


def test_lifecycle_follows_the_catalog_dates() -> None:
    retiring = catalog().get("gemini-2.5-flash")
    assert retiring.retirement == date(2026, 10, 20) and retiring.access_blocked == date(2026, 9, 20)
    assert served_models.resolve("gemini-2.5-flash", PROJECT, REGION, date(2026, 9, 19)).info is retiring
    blocked = refusal("gemini-2.5-flash", today=date(2026, 10, 1))
    assert blocked.code == 404 and blocked.message.startswith(
        f"Publisher Model `projects/{PROJECT}/locations/{REGION}/publishers/google/models/gemini-2.5-flash` was "
        "not found or your project does not have access to it."
    )
    retired = refusal("gemini-2.5-flash-001", today=date(2026, 10, 20))
    assert retired.message == served_models.no_access(PROJECT, REGION, "google", "gemini-2.5-flash-001").message
    assert retired.message.endswith(f"For more information, see: {served_models.MODEL_VERSIONS_URL}")


def test_today_is_a_service_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VERTEX_LOCAL_TODAY", "2026-10-01")
    config = ServiceConfig(state_dir=tmp_path)
    assert config.lifecycle_today() == date(2026, 10, 1)
    with pytest.raises(ApiError):
        served_models.resolve("gemini-2.5-flash", PROJECT, REGION, config.lifecycle_today())
    monkeypatch.delenv("VERTEX_LOCAL_TODAY")
    assert ServiceConfig(state_dir=tmp_path).lifecycle_today() == utc_today()
    with pytest.raises(ValidationError, match="today"):
        ServiceConfig(state_dir=tmp_path, today="soon")


def test_locations_follow_the_catalog() -> None:
    live = [model for model in catalog().models if model.status(TODAY) == "available" and model.batch_io]
    # A model the catalog lists no regions for (``regions == ()``: global and multi-region only) is refused
    # in a region with production's 404; one whose regions are unknown (None) is not refused anywhere.
    global_only = next(model for model in live if model.regions == ())
    error = refusal(f"publishers/{global_only.publisher}/models/{global_only.id}", REGION)
    assert (
        error.code == 404
        and error.message == served_models.no_access(PROJECT, REGION, global_only.publisher, global_only.id).message
    )
    unknown = next(model for model in live if model.regions is None)
    name = f"publishers/{unknown.publisher}/models/{unknown.id}"
    assert served_models.resolve(name, PROJECT, "asia-south1", TODAY).info is unknown
    listed = next(model for model in live if model.regions)
    assert served_models.resolve(listed.id, PROJECT, listed.regions[0], TODAY).info is listed
    assert refusal(listed.id, "asia-south2").code == 404
    for location in ("global", "us", "eu"):
        for model in live:
            name = f"publishers/{model.publisher}/models/{model.id}"
            if model.served_in(location):
                assert served_models.resolve(name, PROJECT, location, TODAY).info is model
            else:
                assert refusal(name, location).code == 404, (model.id, location)
    tuned = refusal(f"projects/{PROJECT}/locations/global/models/123", "global")
    assert (tuned.code, tuned.status) == (400, "INVALID_ARGUMENT") and "base models" in tuned.message


def test_io_the_model_or_the_location_does_not_take_is_refused() -> None:
    gemini = served_models.resolve("gemini-3.5-flash", PROJECT, "global", TODAY)
    served_models.check_io(gemini, "global", GCS_IN, GCS_OUT)
    with pytest.raises(ApiError, match="not supported at the global endpoint"):
        served_models.check_io(gemini, "global", BQ_IN, GCS_OUT)
    embedding = served_models.resolve("gemini-embedding-001", PROJECT, REGION, TODAY)
    served_models.check_io(embedding, REGION, GCS_IN, GCS_OUT)
    with pytest.raises(ApiError, match="BigQuery tables are not supported for Gemini Embedding 001"):
        served_models.check_io(embedding, REGION, BQ_IN, GCS_OUT)


def test_request_limits_come_from_the_catalog() -> None:
    info = catalog().get("gemini-embedding-001")
    assert served_models.request_limit(info, 10_000_000) == info.max_rows_per_job == 1_000_000
    assert served_models.request_limit(info, 50) == 50
    undocumented = next(model for model in catalog().models if model.max_rows_per_job is None)
    assert served_models.request_limit(undocumented, 1234) == 1234  # the service's own limit
