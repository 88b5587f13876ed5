"""Fault injection: failed API calls, failed rows in Vertex's format, settings from the environment."""

from __future__ import annotations

import json
from collections.abc import Callable

from google.cloud import bigquery
from svc_helpers import PROJECT, ServiceProcess, bq_body, call, make_table, output_rows, request_for

from vertex_batch.local.service.config import FaultConfig
from vertex_batch.local.service.faults import Faults, fault_config_from_env

RETRYABLE = {
    "Too Many Requests": (429, "RESOURCE_EXHAUSTED"),
    "Service Unavailable": (503, "UNAVAILABLE"),
    "Internal Server Error": (500, "INTERNAL"),
}


def test_settings_from_environment() -> None:
    env = {
        "VERTEX_LOCAL_FAULT_API_ERROR_RATE": "0.1", "VERTEX_LOCAL_FAULT_ROW_ERROR_RATE": "0.2",
        "VERTEX_LOCAL_FAULT_ROW_DELAY_S": "0.5", "VERTEX_LOCAL_FAULT_SEED": "9",
    }  # fmt: skip
    assert fault_config_from_env(env) == FaultConfig(0.1, 0.2, 0.5, 9)
    assert not fault_config_from_env({}).enabled


def test_row_faults_are_fixed_per_job_and_row_with_a_seed() -> None:
    faults = Faults(FaultConfig(row_error_rate=0.5, seed=3))
    first = [faults.row_error("1", row) for row in range(50)]
    assert first == [faults.row_error("1", row) for row in range(50)]
    assert first != [faults.row_error("2", row) for row in range(50)]
    assert 5 < sum(status is not None for status in first) < 45


def test_api_and_row_faults(start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str) -> None:
    service = start_service("--fault-api-error-rate", "0.3", "--fault-row-error-rate", "0.4", "--fault-seed", "5")
    assert all(call("GET", f"{service.url}/healthz")[0] == 200 for _ in range(10))
    answers = [call("GET", service.jobs_url()) for _ in range(60)]
    codes = {status for status, _ in answers}
    assert codes == {200, 429, 503}
    for status, body in answers:
        if status != 200:
            assert body["error"]["code"] == status
            assert body["error"]["status"] == {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}[status]
    table = make_table(bq, dataset, [{"id": i, "request": request_for(f"q{i}")} for i in range(60)])
    body = bq_body(table, f"bq://{PROJECT}.{dataset}")
    while (created := service.create(body))[0] != 200:
        assert created[0] in (429, 503)
    name = created[1]["name"]
    while True:
        status, job = call("GET", f"{service.url}/v1/{name}")
        if status == 200 and job["state"] not in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
            break
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    rows = output_rows(bq, job)
    failed = [row for row in rows if row["status"]]
    assert 5 < len(failed) < 55 and len(rows) == 60
    for row in failed:
        reason, _, body_text = row["status"].partition(": ")
        error = json.loads(body_text)["error"]
        assert (error["code"], error["status"]) == RETRYABLE[reason]
        assert row["response"] == {}
    service.stop()
