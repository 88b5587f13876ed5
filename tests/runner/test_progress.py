"""Progress lines: rows done, failures, elapsed time from the job's own clock and an ETA."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from vertex_batch.jobs import JobSnapshot, JobState
from vertex_batch.progress import Progress

pytestmark = pytest.mark.unit


def test_plain_lines_report_rows_elapsed_and_eta() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, interval=0.0)
    start = datetime.now(UTC) - timedelta(seconds=90)
    progress.job(
        "m [attempt 1, chunk 1]",
        JobSnapshot(name="j", display_name="", state=JobState.RUNNING, successful=90, failed=10, start_time=start),
        rows=300,
    )
    line = stream.getvalue().strip()
    assert line.startswith("m [attempt 1, chunk 1]: running 100/300 rows (90 ok, 10 failed), 01:30 elapsed")
    assert "ETA 03:00" in line


def test_disabled_progress_prints_nothing() -> None:
    stream = io.StringIO()
    Progress(stream=stream, enabled=False).job("m", JobSnapshot(name="j", display_name="", state=JobState.RUNNING), 1)
    assert stream.getvalue() == ""
