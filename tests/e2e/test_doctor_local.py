"""``vertex-batch doctor``'s checks against the local stack: every check answers in one line, IAM is skipped."""

from __future__ import annotations

import pytest
from google.cloud import bigquery

from tests.e2e.helpers import use_env
from vertex_batch.catalog import catalog
from vertex_batch.checks import Check, exit_code
from vertex_batch.doctor import Doctor
from vertex_batch.request_models import BatchSettings, RequestModel
from vertex_batch.staging_bucket import planner_for, storage_client


def request_model(env, dataset: str, location: str, **meta: object) -> RequestModel:
    client = env.connections.bigquery_client()
    table_id = f"{env.config.project}.{dataset}.requests"
    client.create_dataset(
        bigquery.Dataset(f"{env.config.project}.{dataset}")
        if location is None
        else _dataset(env.config.project, dataset, location),
        exists_ok=True,
    )
    client.query(f"CREATE OR REPLACE TABLE `{table_id}` AS SELECT 1 AS id, PARSE_JSON('{{}}') AS request").result()
    settings = BatchSettings.from_meta("requests", {"key": ["id"], **meta})
    return RequestModel(name=f"requests_{dataset}", table_id=table_id, settings=settings, alias="requests")


def _dataset(project: str, dataset: str, location: str) -> bigquery.Dataset:
    ds = bigquery.Dataset(f"{project}.{dataset}")
    ds.location = location
    return ds


def doctor_for(env) -> Doctor:
    connections = env.connections
    return Doctor(
        connections, planner_for(connections), connections.bigquery_client, lambda: storage_client(connections)
    )


def test_doctor_reports_every_check_on_the_local_stack(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "doctor_us")
    models = [request_model(env, "doctor_us", "US"), request_model(env, "doctor_regional", "us-central1")]
    checks = doctor_for(env).run(models)
    lines = [check.line() for check in checks]
    print("\n".join(lines))
    by_name = {check.name: check for check in checks}
    assert all("\n" not in line for line in lines)
    assert by_name["credentials"].status == "ok" and "anonymous" in by_name["credentials"].detail
    assert by_name["Vertex AI API in us-central1"].status == "ok"
    assert by_name["model gemini-3.5-flash in us-central1"].status == "ok"
    (catalog,) = [check for check in checks if check.name.startswith("model gemini-3.5-flash (catalog checked")]
    assert catalog.status == "ok" and "secondary source" in catalog.detail, "doctor notes where a price comes from"
    us, regional = by_name["requests_doctor_us locations"], by_name["requests_doctor_regional locations"]
    assert us.status == "ok" and "GCS JSONL" in us.detail and "multi-region" in us.detail
    assert regional.status == "ok" and "BigQuery IO" in regional.detail
    bucket = next(check for check in checks if check.name.startswith("bucket gs://"))
    assert bucket.status in ("ok", "warning") and "us-central1" in bucket.detail
    assert by_name["Vertex AI Service Agent"].status == "skipped"
    assert exit_code(checks) == 0


def test_doctor_blocks_on_an_unknown_model_and_an_impossible_region(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "doctor_bad")
    models = [request_model(env, "doctor_bad", "EU", model="gemini-does-not-exist", family="gemini")]
    checks = doctor_for(env).run(models, option="us-central1")
    by_name = {check.name: check for check in checks}
    located = by_name["requests_doctor_bad locations"]
    assert located.blocking and "--location europe-west4" in located.detail
    assert exit_code(checks) == 2
    regional = [
        request_model(env, "doctor_bad_regional", "us-central1", model="gemini-does-not-exist", family="gemini")
    ]
    model_check = by_name_of(doctor_for(env).run(regional))["model gemini-does-not-exist in us-central1"]
    assert model_check.blocking and "gemini-does-not-exist" in model_check.detail


def test_doctor_names_the_replacement_of_a_retired_model_and_moves_global_only_models(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "doctor_lifecycle")
    retired = next(m for m in catalog().of_family("gemini") if m.status() == "retired" and m.replacement)
    regionless = next(m for m in catalog().of_family("gemini") if m.regions == () and "us" in m.multi_region_endpoints)
    models = [
        request_model(env, "doctor_retired", "us-central1", model=retired.id),
        request_model(env, "doctor_regionless", "US", model=regionless.id),
    ]
    checks = doctor_for(env).run(models)
    lines = "\n".join(check.line() for check in checks)
    print(lines)
    (verdict,) = [c for c in checks if c.name.startswith(f"model {retired.id} (catalog")]
    assert verdict.blocking and retired.replacement in verdict.detail and str(retired.retirement) in verdict.detail
    located = by_name_of(checks)["requests_doctor_regionless locations"]
    assert "job location us" in located.detail and "not served for batch in us-central1" in located.detail


def by_name_of(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.mark.unit
def test_check_lines_and_exit_codes() -> None:
    ok, problem = Check("a", "ok", "fine"), Check("b", "problem", "do this")
    assert ok.line() == "[  ok] a: fine" and problem.line() == "[FAIL] b: do this"
    assert exit_code([ok]) == 0 and exit_code([ok, problem]) == 2
