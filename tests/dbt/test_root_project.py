"""The root project (package + demo) end to end on the BigQuery emulator, without the batch service:
seed and build, fabricate landed job output (successes, a bad-role row, 429 / 500 rows, MAX_TOKENS, a
safety block, an out-of-date answer), then check the predictions and flattened results."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dbt_harness import REPO, Dbt, Warehouse, new_dataset
from dbt_landing import (
    BAD_ROLE_STATUS,
    INTERNAL_STATUS,
    RESOURCE_EXHAUSTED_STATUS,
    Landed,
    land_sql,
    success,
)

from vertex_batch.catalog import catalog
from vertex_batch.identity import fingerprint, fingerprint_sql

RESULTS_COLUMNS = [
    ("review_id", "INT64"),
    ("product", "STRING"),
    ("rating", "INT64"),
    ("review_text", "STRING"),
    ("is_answered", "BOOL"),
    ("response_text", "STRING"),
    ("finish_reason", "STRING"),
    ("raw_finish_reason", "STRING"),
    ("prompt_tokens", "INT64"),
    ("candidate_tokens", "INT64"),
    ("thoughts_tokens", "INT64"),
    ("total_tokens", "INT64"),
    ("cached_content_tokens", "INT64"),
    ("cost_usd", "FLOAT64"),
    ("model_version", "STRING"),
    ("avg_logprobs", "FLOAT64"),
    ("safety_blocked", "BOOL"),
    ("status", "STRING"),
    ("is_success", "BOOL"),
    ("error_code", "INT64"),
    ("error_status", "STRING"),
    ("error_message", "STRING"),
    ("is_retryable", "BOOL"),
    ("processed_time", "TIMESTAMP"),
    ("batch_job_name", "STRING"),
    ("predicted_sentiment", "STRING"),
]
PREDICTIONS_COLUMNS = [
    ("review_id", "INT64"),
    ("request_fingerprint", "STRING"),
    ("request", "JSON"),
    ("response", "JSON"),
    ("status", "STRING"),
    ("processed_time", "TIMESTAMP"),
    ("batch_job_name", "STRING"),
    ("batch_attempt", "INT64"),
    ("landed_at", "TIMESTAMP"),
]

DEMO_MODEL = catalog().default_model  # the demo's request model names no model
FIRST_WAVE = [
    Landed(
        1, success("negative", prompt=29180, candidates=36, cached=2048), "", "2026-11-01 18:13:16.826+00", job="101"
    ),
    Landed(
        2,
        success(["Posi", "tive"], thoughts=12, thought_text="The review praises it."),
        "",
        "2026-11-01 18:13:17+00",
        job="101",
    ),
    Landed(3, success("neu", finish="MAX_TOKENS", candidates=8), "", "2026-11-01 18:13:18+00", job="101"),
    Landed(4, {}, RESOURCE_EXHAUSTED_STATUS, "2026-11-01 18:13:19+00", job="101"),
    Landed(5, success("positive"), "", "2026-11-01 18:13:20+00", job="101"),
    Landed(6, {}, INTERNAL_STATUS, "2026-11-01 18:13:21+00", job="101"),
    Landed(
        7,
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 20, "totalTokenCount": 20},
            "modelVersion": "gemini-3.5-flash-001",
        },
        "",
        "2026-11-01 18:13:22+00",
        job="101",
    ),
    Landed(8, success("positive"), "", "2026-11-01 18:13:23+00", job="101", fingerprint="0" * 64),
    Landed(300, {}, BAD_ROLE_STATUS, "2026-07-09 19:57:43.558+00", job="101"),
]
SECOND_WAVE = [
    Landed(4, success("neutral"), "", "2026-11-02 09:00:00+00", attempt=2, job="102"),
    Landed(5, {}, RESOURCE_EXHAUSTED_STATUS, "2026-11-02 09:00:01+00", attempt=2, job="102"),
    Landed(6, {}, INTERNAL_STATUS, "2026-11-02 09:00:02+00", attempt=2, job="102"),
]


@pytest.fixture(scope="module")
def dbt(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    return Dbt(REPO, new_dataset("vb_root"), Path(tmp_path_factory.mktemp("dbt_root")))


def results(warehouse: Warehouse, dbt: Dbt) -> dict[int, dict]:
    rows = warehouse.query(f"select * from `{warehouse.project}.{dbt.dataset}.demo_review_results`")
    return {row["review_id"]: row for row in rows}


def columns(warehouse: Warehouse, dbt: Dbt, table: str) -> list[tuple[str, str]]:
    rows = warehouse.query(
        f"select column_name, data_type from `{warehouse.project}.{dbt.dataset}.INFORMATION_SCHEMA.COLUMNS` "
        f"where table_name = '{table}' order by ordinal_position"
    )
    return [(row["column_name"], row["data_type"]) for row in rows]


def test_build_before_any_batch_run(dbt: Dbt, warehouse: Warehouse) -> None:
    result = dbt("build")
    # Review 300 carries the role `tester` on purpose: its role test warns and names the key.
    roles = next(uid for uid in result.statuses if "valid_request_roles" in uid)
    assert result.statuses[roles] == "warn"
    assert result.failures[roles] == 1
    assert result.status("demo_review_predictions") == "success"
    rows = results(warehouse, dbt)
    assert len(rows) == 300
    assert not any(row["is_answered"] for row in rows.values())
    assert all(row["response_text"] is None and row["is_success"] is None for row in rows.values())
    assert columns(warehouse, dbt, "demo_review_results") == RESULTS_COLUMNS
    assert columns(warehouse, dbt, "demo_review_predictions") == PREDICTIONS_COLUMNS


def test_requests_are_valid_gemini_requests(dbt: Dbt, warehouse: Warehouse) -> None:
    rows = warehouse.query(
        f"select review_id, request, to_json_string(request) as request_json, "
        f"{fingerprint_sql(DEMO_MODEL)} as request_fingerprint "
        f"from `{warehouse.project}.{dbt.dataset}.demo_review_requests` where review_id in (1, 300)"
    )
    by_key = {row["review_id"]: row for row in rows}
    request = by_key[1]["request"]
    assert request["contents"][0]["role"] == "user"
    assert request["contents"][0]["parts"][0]["text"].startswith("Review: Terrible hiking boots")
    assert request["systemInstruction"]["parts"][0]["text"].startswith("Classify the sentiment")
    assert request["generationConfig"] == {"temperature": 0, "maxOutputTokens": 8}
    assert by_key[300]["request"]["contents"][0]["role"] == "tester"
    # The identity contract: the SQL the runner renders equals the same hash computed in Python (the dbt macro
    # side is checked by test_landed_output_is_flattened: rows join their answers on it).
    for row in by_key.values():
        assert row["request_fingerprint"] == fingerprint(DEMO_MODEL, None, row["request_json"])


def test_landed_output_is_flattened(dbt: Dbt, warehouse: Warehouse) -> None:
    warehouse.run(
        land_sql(warehouse.project, dbt.dataset, "demo_review_requests", "review_id", FIRST_WAVE, create=True)
    )
    dbt("build", "--select", "demo_review_predictions+")
    rows = results(warehouse, dbt)
    assert len(rows) == 300

    first = rows[1]
    assert first["is_answered"] and first["is_success"]
    assert first["response_text"] == "negative" and first["predicted_sentiment"] == "negative"
    assert (first["finish_reason"], first["prompt_tokens"], first["candidate_tokens"]) == ("STOP", 29180, 36)
    assert (first["thoughts_tokens"], first["total_tokens"]) == (0, 29216)
    # Batch cost of the demo's model at the price in force when the row was processed, by hand: 27132 uncached
    # x input x 0.5 + 2048 cached x the cache price (no batch discount on top) + 36 x output x 0.5.
    price = catalog().get(DEMO_MODEL).price_at(date(2026, 11, 1))
    assert price is not None and price.cached_input is not None
    hand = (27132 * price.input * 0.5 + 2048 * price.cached_input + 36 * price.output * 0.5) / 1e6
    assert first["cached_content_tokens"] == 2048
    assert first["cost_usd"] == pytest.approx(hand, rel=1e-9)
    assert first["model_version"] == "gemini-3.5-flash-001"
    assert first["avg_logprobs"] == pytest.approx(-0.5782725546095107)
    assert first["safety_blocked"] is False and first["is_retryable"] is False
    assert first["error_code"] is None and first["error_message"] is None and first["status"] == ""
    assert first["batch_job_name"].endswith("/batchPredictionJobs/101")
    assert first["processed_time"].isoformat().startswith("2026-11-01T18:13:16.826")

    # Text parts are joined in order; the thought summary is left out.
    assert rows[2]["response_text"] == "Positive" and rows[2]["thoughts_tokens"] == 12
    assert rows[2]["predicted_sentiment"] == "positive"
    # Thoughts are billed as output: 29 prompt x input x 0.5 + (1 + 12) x output x 0.5.
    assert rows[2]["cost_usd"] == pytest.approx((29 * price.input + 13 * price.output) * 0.5 / 1e6, rel=1e-9)
    truncated = rows[3]
    assert (truncated["finish_reason"], truncated["response_text"], truncated["is_success"]) == (
        "MAX_TOKENS",
        "neu",
        True,
    )
    assert rows[3]["predicted_sentiment"] is None

    throttled = rows[4]
    assert (throttled["is_success"], throttled["error_code"], throttled["error_status"]) == (
        False,
        429,
        "RESOURCE_EXHAUSTED",
    )
    assert throttled["is_retryable"] is True and throttled["response_text"] is None
    assert throttled["cost_usd"] is None
    assert rows[6]["error_code"] == 500 and rows[6]["is_retryable"] is True

    blocked = rows[7]
    assert blocked["safety_blocked"] is True and blocked["is_success"] is True
    assert blocked["response_text"] is None and blocked["prompt_tokens"] == 20

    # An answer to an out-of-date request (other fingerprint) does not count for the current one.
    assert rows[8]["is_answered"] is False and rows[8]["status"] is None

    bad = rows[300]
    assert bad["is_answered"] and bad["is_success"] is False
    assert (bad["error_code"], bad["error_status"]) == (400, "INVALID_ARGUMENT")
    assert bad["error_message"] == "Please use a valid role: user, model."
    assert bad["is_retryable"] is False and bad["safety_blocked"] is False

    assert rows[9]["is_answered"] is False and rows[9]["is_success"] is None


def test_retries_never_replace_a_success(dbt: Dbt, warehouse: Warehouse) -> None:
    warehouse.run(
        land_sql(warehouse.project, dbt.dataset, "demo_review_requests", "review_id", SECOND_WAVE, create=False)
    )
    dbt("build", "--select", "demo_review_predictions+")
    rows = results(warehouse, dbt)
    # The 429 row succeeded on its second attempt.
    assert (rows[4]["is_success"], rows[4]["response_text"]) == (True, "neutral")
    assert rows[4]["batch_job_name"].endswith("/102")
    # A later failure does not replace the earlier success.
    assert (rows[5]["is_success"], rows[5]["response_text"]) == (True, "positive")
    assert rows[5]["batch_job_name"].endswith("/101")
    # Without a success, the latest failure is kept.
    assert (rows[6]["is_success"], rows[6]["batch_job_name"][-3:]) == (False, "102")
    predictions = warehouse.query(
        f"select review_id, request_fingerprint, batch_attempt from "
        f"`{warehouse.project}.{dbt.dataset}.demo_review_predictions`"
    )
    keys = [(row["review_id"], row["request_fingerprint"]) for row in predictions]
    assert len(keys) == len(set(keys)) == 9
    assert {row["review_id"]: row["batch_attempt"] for row in predictions}[4] == 2


def test_full_refresh_keeps_paid_answers(dbt: Dbt, warehouse: Warehouse) -> None:
    # Even with the landing table gone, --full-refresh leaves the predictions model alone.
    warehouse.run(f"drop table `{warehouse.project}.{dbt.dataset}.demo_review_requests__batch_output`")
    dbt("build", "--full-refresh", "--select", "demo_review_predictions+")
    rows = results(warehouse, dbt)
    assert sum(1 for row in rows.values() if row["is_answered"]) == 8
    assert rows[4]["response_text"] == "neutral"
