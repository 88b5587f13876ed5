"""The integration_tests dbt project on the BigQuery emulator: it installs the package from ../, checks every
macro against expected seeds, validates request models of each kind, and proves that the validation tests
fail on deliberately invalid requests and name their keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt_harness import INTEGRATION_DIR, Dbt, Warehouse, new_dataset

BAD_REQUESTS = ["--selector", "bad_requests", "--vars", "{vertex_batch_it_bad_requests: true}"]


@pytest.fixture(scope="module")
def dbt(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    runner = Dbt(INTEGRATION_DIR, new_dataset("vb_it"), Path(tmp_path_factory.mktemp("dbt_it")))
    runner("deps")
    return runner


def test_macros_match_expected_values(dbt: Dbt) -> None:
    result = dbt("build")
    # The package's demo models, seed and unit tests stay out of a project that installs it.
    assert not [uid for uid in result.statuses if uid.split(".")[1] == "vertex_batch"]
    tests = [uid for uid in result.statuses if uid.startswith("test.")]
    assert len(tests) > 40
    assert all(result.statuses[uid] == "pass" for uid in tests)
    assert not any("bad_requests" in uid for uid in result.statuses)


def test_request_models_are_well_formed(dbt: Dbt, warehouse: Warehouse) -> None:
    rows = warehouse.query(
        f"select doc_id, request from `{warehouse.project}.{dbt.dataset}.multimodal_requests` order by doc_id"
    )
    parts = rows[0]["request"]["contents"][0]["parts"]
    assert parts[0]["text"].startswith("How many days")
    assert parts[1] == {
        "fileData": {"fileUri": "gs://vertex-batch-it/docs/returns_policy.txt", "mimeType": "text/plain"}
    }
    structured = warehouse.query(
        f"select request from `{warehouse.project}.{dbt.dataset}.structured_requests` limit 1"
    )[0]["request"]
    assert structured["generationConfig"]["responseMimeType"] == "application/json"
    assert structured["generationConfig"]["responseSchema"]["type"] == "OBJECT"


def test_validation_tests_fail_on_bad_requests(dbt: Dbt, warehouse: Warehouse) -> None:
    result = dbt("build", *BAD_REQUESTS, expect_success=False)
    assert result.status("bad_requests") == "success"
    failed = {
        uid.split(".")[2]: result.failures[uid] for uid, status in result.statuses.items() if uid.startswith("test.")
    }
    assert all(result.statuses[uid] == "fail" for uid in result.statuses if uid.startswith("test."))

    def by_test(prefix: str) -> int:
        return next(count for name, count in failed.items() if name.startswith(prefix))

    assert by_test("vertex_batch_valid_request_roles") == 1
    assert by_test("vertex_batch_non_empty_request_contents") == 3
    assert by_test("vertex_batch_request_size") == 1
    assert by_test("vertex_batch_unique_request_key") == 1
    assert by_test("vertex_batch_valid_response_schema") == 3

    audit = f"`{warehouse.project}.{dbt.dataset}_dbt_test__audit`"

    def rows(table_prefix: str) -> dict[int, str]:
        table = next(
            row["table_name"]
            for row in warehouse.query(f"select table_name from {audit}.INFORMATION_SCHEMA.TABLES")
            if row["table_name"].startswith(table_prefix)
        )
        return {row["bad_id"]: row["problem"] for row in warehouse.query(f"select * from {audit}.`{table}`")}

    assert rows("vertex_batch_valid_request_roles") == {1: "contents[0].role is tester, not one of: user, model"}
    empty = rows("vertex_batch_non_empty_request_contents")
    assert set(empty) == {2, 3, 9}
    assert empty[2].startswith("contents is missing, empty or not an array")
    assert empty[3] == "contents[0].parts[0] has no text or data"
    assert rows("vertex_batch_request_size")[4].endswith("bytes, more than 1000")
    assert rows("vertex_batch_unique_request_key") == {5: "key (bad_id) appears 2 times"}
    schema = rows("vertex_batch_valid_response_schema")
    assert schema[6] == "responseSchema has no type"
    assert schema[7] == "responseSchema property answer has no type"
    assert schema[8].startswith("responseSchema needs responseMimeType")
