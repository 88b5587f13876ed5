"""Job states (each of the client library's enum has one of ours), and progress output: bars on a terminal, lines
otherwise, counts only when the service reports them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import aiplatform_v1

from vertex_batch.job_client import snapshot_of
from vertex_batch.jobs import FAILED_STATES, SUCCESS_STATES, TERMINAL_STATES, JobSnapshot, JobState
from vertex_batch.progress import NO_COUNTS, Progress, clock_text, job_line

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("state", list(aiplatform_v1.JobState))
def test_every_client_state_has_a_name_of_ours(state: aiplatform_v1.JobState) -> None:
    ours = snapshot_of(aiplatform_v1.BatchPredictionJob(name="j", state=state)).state
    assert ours == JobState.parse(state.name) and ours.value == state.name.removeprefix("JOB_STATE_")


def test_end_states_partition() -> None:
    assert not SUCCESS_STATES & FAILED_STATES
    assert TERMINAL_STATES == SUCCESS_STATES | FAILED_STATES
    assert JobState.PAUSED in FAILED_STATES, "a paused batch job does not resume by itself"
    assert JobState.parse("") == JobState.UNSPECIFIED


def snapshot(state: JobState, ok: int = 0, failed: int = 0, seconds: float = 90.0) -> JobSnapshot:
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    end = start + timedelta(seconds=seconds) if state in TERMINAL_STATES else None
    return JobSnapshot(
        name="j", display_name="", state=state, successful=ok, failed=failed, start_time=start, end_time=end
    )


@pytest.mark.parametrize(
    ("state", "ok", "failed", "has", "lacks"),
    [
        (JobState.RUNNING, 0, 0, [NO_COUNTS, "running", "01:30 elapsed", "300 rows submitted"], ["0/300"]),
        (JobState.PENDING, 0, 0, [NO_COUNTS, "pending"], ["0/300"]),
        (JobState.RUNNING, 90, 10, ["100/300 rows (90 ok, 10 failed)", "ETA 03:00"], [NO_COUNTS]),
        (JobState.SUCCEEDED, 299, 1, ["succeeded 300/300 rows"], [NO_COUNTS, "ETA"]),
        (JobState.FAILED, 0, 0, ["failed 0/300 rows"], [NO_COUNTS]),
    ],
)
def test_plain_line(state: JobState, ok: int, failed: int, has: list[str], lacks: list[str]) -> None:
    line = job_line("m [attempt 1, chunk 1]", snapshot(state, ok, failed), 300, 90.0)
    assert line.startswith("m [attempt 1, chunk 1]: ")
    assert all(text in line for text in has), line
    assert not any(text in line for text in lacks), line


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (59.9, "00:59"), (61, "01:01"), (3725, "1:02:05")])
def test_clock_text(seconds: float, text: str) -> None:
    assert clock_text(seconds) == text


def test_plain_lines_are_throttled_but_end_states_always_print() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, interval=3600.0)
    for ok in (1, 2, 3):
        progress.job("m", snapshot(JobState.RUNNING, ok), 10)
    progress.job("m", snapshot(JobState.SUCCEEDED, 10), 10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "succeeded" in lines[-1]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_shows_a_bar_that_closes_when_the_job_ends() -> None:
    stream = Terminal()
    progress = Progress(stream=stream)
    progress.job("m", snapshot(JobState.RUNNING), 10)
    assert progress._bars and NO_COUNTS in stream.getvalue()
    progress.message("a message between bar updates")
    progress.job("m", snapshot(JobState.SUCCEEDED, 10), 10)
    assert not progress._bars
    out = stream.getvalue()
    assert "10/10" in out and "succeeded" in out and "a message between bar updates" in out


def test_elapsed_uses_the_jobs_own_clock_when_it_has_one() -> None:
    progress = Progress(stream=io.StringIO())
    assert progress.elapsed(snapshot(JobState.RUNNING, seconds=600)) >= 600
    bare = JobSnapshot(name="k", display_name="", state=JobState.QUEUED)
    assert progress.elapsed(bare) < 5


def test_snapshot_from_the_client_librarys_message() -> None:
    from google.cloud import aiplatform_v1

    job = aiplatform_v1.BatchPredictionJob(
        name="projects/p/locations/l/batchPredictionJobs/7",
        display_name="d",
        state=aiplatform_v1.JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
        completion_stats=aiplatform_v1.CompletionStats(successful_count=9, failed_count=1),
        output_info=aiplatform_v1.BatchPredictionJob.OutputInfo(
            bigquery_output_dataset="bq://p.ds", bigquery_output_table="out"
        ),
        labels={"a": "b"},
        input_config=aiplatform_v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=aiplatform_v1.GcsSource(uris=["gs://b/in/input-*.jsonl"])
        ),
    )
    snap = snapshot_of(job)
    assert (snap.state, snap.done, snap.succeeded, snap.state_name) == (
        JobState.PARTIALLY_SUCCEEDED,
        True,
        True,
        "PARTIALLY_SUCCEEDED",
    )
    assert (snap.successful, snap.failed, snap.output_table, snap.job_id) == (9, 1, "p.ds.out", "7")
    assert snap.input_uri == "gs://b/in/input-*.jsonl"
    bigquery = aiplatform_v1.BatchPredictionJob(
        input_config=aiplatform_v1.BatchPredictionJob.InputConfig(
            bigquery_source=aiplatform_v1.BigQuerySource(input_uri="bq://p.ds.t")
        )
    )
    assert snapshot_of(bigquery).input_uri == "bq://p.ds.t"
