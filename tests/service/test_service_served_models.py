"""What the service serves and refuses comes from the model catalog: publishers, lifecycle, locations, IO."""

from __future__ import annotations

from datetime import date

import pytest

from vertex_batch.catalog import catalog
from vertex_batch.local.service import served_models
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
    assert retired.message == "The PublisherModel gemini-2.5-flash-001 does not exist."


def test_today_is_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(served_models.TODAY_ENV, "2026-10-01")
    assert served_models.service_today() == date(2026, 10, 1)
    with pytest.raises(ApiError):
        served_models.resolve("gemini-2.5-flash", PROJECT, REGION)
    monkeypatch.setenv(served_models.TODAY_ENV, "soon")
    with pytest.raises(ValueError, match="VERTEX_LOCAL_TODAY"):
        served_models.service_today()


def test_locations_follow_the_catalog() -> None:
    assert refusal("gemini-3.5-flash", "asia-south1").code == 404
    assert refusal("publishers/anthropic/models/claude-sonnet-5-5", REGION).code == 404
    for location in ("global", "us", "eu"):
        assert served_models.resolve("gemini-3.5-flash", PROJECT, location, TODAY).info.id == "gemini-3.5-flash"
        assert refusal("text-embedding-005", location).code == 404  # no global or multi-region endpoint
    assert served_models.resolve("gemini-embedding-2", PROJECT, "eu", TODAY).info.family == "gemini-embedding"
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
