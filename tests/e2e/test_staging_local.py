"""Staging on the BigQuery emulator: a job input holds only the key, ``request`` (as JSON) and its fingerprint,
whatever else the request model has (ARRAY, STRUCT or DATETIME columns a job would refuse)."""

from __future__ import annotations

from tests.e2e.helpers import use_env
from vertex_batch.identity import fingerprint


def test_staged_input_is_key_request_and_fingerprint_only(fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "staging_us")
    warehouse = env.warehouse
    warehouse.client.create_dataset(f"{env.config.project}.staging_us", exists_ok=True)
    table = env.table("wide_requests")
    warehouse.execute(
        f'CREATE TABLE `{table}` AS SELECT 1 AS id, \'{{"contents": [{{"role": "user", "parts": '
        '[{"text": "hi"}]}]}\' AS request, [1, 2] AS tags, STRUCT(\'a\' AS x) AS extra, '
        "DATETIME '2026-11-30 07:00:00' AS seen_at, 'old' AS request_fingerprint"
    )
    warehouse.check_request_table(table, ["id"])
    pending = warehouse.pending_sql(
        table, env.table("wide_requests__batch_output"), ["id"], 3, model="gemini-3.5-flash-lite"
    )
    (staged,) = warehouse.stage(pending, ["id"], env.table("wide_requests__batch_input_t"), 1, 100)
    columns = {field.name: field.field_type for field in warehouse.columns(staged)}
    assert columns == {"id": "INTEGER", "request": "JSON", "request_fingerprint": "STRING"}
    (row,) = warehouse.run(
        f"SELECT s.request_fingerprint, TO_JSON_STRING(r.request) AS raw, s.request FROM `{staged}` s "
        f"JOIN `{table}` r USING (id)"
    )
    assert row["request"]["contents"][0]["parts"][0]["text"] == "hi"
    assert row["request_fingerprint"] == fingerprint("gemini-3.5-flash-lite", None, row["raw"]) != "old"
