"""Job lifecycle on a slowed-down service: progress, cancel, delete, snapshots, expiry, crash recovery."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery, storage
from svc_helpers import (
    PROJECT,
    ServiceProcess,
    bq_body,
    call,
    gcs_body,
    gcs_output_lines,
    make_table,
    output_rows,
    request_for,
    unique,
    upload_jsonl,
)

# 20 ms per row, 4 rows per model batch, a write every 8 rows: ~6 s for 300 rows.
SLOW = (
    "--fault-row-delay-s",
    "0.02",
    "--model-batch-size",
    "4",
    "--chunk-rows",
    "8",
    "--chunk-seconds",
    "0.5",
)


@pytest.fixture(scope="module")
def slow(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service(*SLOW, "--workers", "1")


def rows(count: int) -> list[dict[str, object]]:
    return [{"id": i, "request": request_for(f"question {i}")} for i in range(count)]


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def written(bq: bigquery.Client, job: dict[str, Any]) -> int:
    """Rows already in a BigQuery job's output table (its ``completionStats`` appear only at the end)."""
    if "outputInfo" not in job:
        return 0
    try:
        return len(output_rows(bq, job))
    except NotFound:
        return 0


def done_count(job: dict[str, object]) -> int:
    stats = job.get("completionStats") or {}
    assert isinstance(stats, dict)
    return int(stats.get("successfulCount", 0)) + int(stats.get("failedCount", 0))


def test_progress_cancel_keeps_completed_rows_and_pending_cancel(
    slow: ServiceProcess, bq: bigquery.Client, dataset: str
) -> None:
    table = make_table(bq, dataset, rows(300))
    status, first = slow.create(bq_body(table, f"bq://{PROJECT}.{dataset}", name="long"))
    assert status == 200
    status, queued = slow.create(bq_body(table, f"bq://{PROJECT}.{dataset}", name="queued"))
    assert status == 200
    running = slow.wait(first["name"], states={"JOB_STATE_RUNNING"})
    assert "startTime" in running and "endTime" not in running
    wait_for(lambda: written(bq, slow.get(first["name"])) >= 16)
    progress = slow.get(first["name"])
    # "Live progress" is not supported for BigQuery output: counts appear only when the job ends.
    assert progress["state"] == "JOB_STATE_RUNNING" and "completionStats" not in progress
    assert slow.get(queued["name"])["state"] == "JOB_STATE_PENDING"
    assert call("DELETE", f"{slow.url}/v1/{first['name']}")[0] == 400

    assert call("POST", f"{slow.url}/v1/{queued['name']}:cancel")[0] == 200
    cancelled_pending = slow.get(queued["name"])
    assert cancelled_pending["state"] == "JOB_STATE_CANCELLED"
    assert cancelled_pending["error"] == {"code": 1, "message": "CANCELED"}

    assert call("POST", f"{slow.url}/v1/{first['name']}:cancel", {}) == (200, {})
    assert slow.get(first["name"])["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    job = slow.wait(first["name"])
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert job["error"] == {"code": 1, "message": "CANCELED"}
    assert "endTime" in job
    out = output_rows(bq, job)
    assert 16 <= len(out) < 300
    # A cancelled job keeps and counts the rows it completed.
    assert job["completionStats"] == {
        "successfulCount": str(len(out)),
        "incompleteCount": str(300 - len(out)),
    }
    assert "completionStats" not in cancelled_pending
    # Rows come in no particular order (as from Vertex; the emulator reads tables unordered too), so the
    # kept rows are some input rows, each once, not necessarily the first ones.
    ids = [row["id"] for row in out]
    assert len(set(ids)) == len(ids) and set(ids) <= set(range(300))
    assert all(row["status"] == "" for row in out)
    assert call("POST", f"{slow.url}/v1/{first['name']}:cancel")[0] == 400
    assert call("DELETE", f"{slow.url}/v1/{first['name']}")[0] == 200


def test_job_works_on_a_snapshot_of_its_input(slow: ServiceProcess, bq: bigquery.Client, dataset: str) -> None:
    table = make_table(bq, dataset, rows(40))
    status, created = slow.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert status == 200
    wait_for(lambda: written(bq, slow.get(created["name"])) >= 4)
    bq.insert_rows_json(
        table.removeprefix("bq://"), [{"id": 1000 + i, "request": request_for("late")} for i in range(5)]
    )
    job = slow.wait(created["name"])
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert sorted(row["id"] for row in output_rows(bq, job)) == list(range(40))


def test_expiry_in_queue_and_while_running(
    start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str
) -> None:
    # 400 rows take 8 s; the run timeout leaves room for reading the input on a busy machine.
    service = start_service(*SLOW, "--workers", "1", "--run-timeout-s", "3", "--queue-timeout-s", "0.5")
    table = make_table(bq, dataset, rows(400))
    _, running = service.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    _, queued = service.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    job = service.wait(running["name"])
    # Time limits end FAILED with DEADLINE_EXCEEDED (code 4), a state every official client treats as
    # finished; completed rows are kept and counted.
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 4
    completed = done_count(job)
    assert 0 < completed < 400
    assert int(job["completionStats"]["incompleteCount"]) == 400 - completed
    assert len(output_rows(bq, job)) == completed
    expired = service.wait(queued["name"])
    assert expired["state"] == "JOB_STATE_FAILED" and "startTime" not in expired
    assert expired["error"]["code"] == 4 and "completionStats" not in expired
    service.stop()


@pytest.mark.slow
def test_kill_9_mid_job_then_restart_writes_every_row_once(
    start_service: Callable[..., ServiceProcess],
    bq: bigquery.Client,
    dataset: str,
    gcs: storage.Client,
    bucket: str,
) -> None:
    service = start_service(*SLOW, "--workers", "2")
    table = make_table(bq, dataset, rows(300))
    _, bq_job = service.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    folder = unique("crash")
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", rows(250))
    _, gcs_job = service.create(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    wait_for(lambda: written(bq, service.get(bq_job["name"])) >= 40 and done_count(service.get(gcs_job["name"])) >= 40)
    before_kill = service.get(bq_job["name"])
    service.kill()
    assert 0 < len(output_rows(bq, before_kill)) < 300
    service.start()
    bq_done = service.wait(bq_job["name"], timeout=90)
    gcs_done = service.wait(gcs_job["name"], timeout=90)
    assert bq_done["state"] == gcs_done["state"] == "JOB_STATE_SUCCEEDED"
    assert bq_done["completionStats"] == {"successfulCount": "300"}
    assert gcs_done["completionStats"] == {"successfulCount": "250"}
    assert sorted(row["id"] for row in output_rows(bq, bq_done)) == list(range(300))
    assert sorted(line["id"] for line in gcs_output_lines(gcs, gcs_done)) == list(range(250))
    service.stop()
