"""The runner's wiring under failure, end to end: a SIGKILLed runner re-attaches, Ctrl-C cancels and keeps
completed rows, and more rows than one job takes run as several jobs. Retry rounds, their timing and the
concurrency cap are covered by the unit tests over fakes (tests/unit/test_job_loop.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO, Env, copy_project, running_stack, subprocess_env, use_env
from vertex_batch.dbt_graph import DbtProject
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import LABEL_MODEL, LABEL_TABLE, JobSnapshot, JobState, table_label
from vertex_batch.progress import Progress
from vertex_batch.runner import BuildOptions, BuildReport, Runner
from vertex_batch.settings import RunSettings
from vertex_batch.wiring import CloudBackends

SCALE_PROJECT = REPO / "tests" / "e2e" / "scale_project"
DEMO_ROWS = 300


def run_build(project: Path, vars_yaml: str | None = None, **options: object) -> BuildReport:
    dbt = DbtProject(project_dir=project, profiles_dir=REPO / "profiles", quiet=True, vars=vars_yaml)
    settings = RunSettings(poll_seconds=0.5, retry_backoff_seconds=0.2)
    build_options = BuildOptions.resolve(settings, local=True, **options)
    return Runner(dbt, build_options, CloudBackends(), Progress(enabled=False)).build()


def demo_jobs(env: Env) -> list[JobSnapshot]:
    """Jobs of this test's demo request table, newest first."""
    labels = {
        LABEL_MODEL: "demo_review_requests",
        LABEL_TABLE: table_label(env.table("demo_review_requests")),
    }
    return JobClient(env.connections).find(labels)


def start_runner(project: Path, env: Env) -> subprocess.Popen:
    """``vertex-batch build`` in its own process, whose leases last 8 s: a SIGKILLed one is taken over soon."""
    command = [
        sys.executable,
        "-m",
        "vertex_batch.cli",
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project / "profiles"),
        "--poll-seconds",
        "0.5",
    ]
    variables = {**subprocess_env(env), "VERTEX_BATCH_LEASE_SECONDS": "8"}
    return subprocess.Popen(command, env=variables, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def rows_written(env: Env, job: JobSnapshot) -> int:
    """Rows the running job has answered so far: its live counts on the Cloud Storage path, else the rows in its
    BigQuery output (Vertex AI reports no live counts for BigQuery output, and neither does the service)."""
    if job.successful + job.failed:
        return job.successful + job.failed
    client = env.warehouse.client
    tables = [
        t.table_id for t in client.list_tables(f"{env.config.project}.{env.dataset}") if "__batch_job_" in t.table_id
    ]
    return sum(env.warehouse.count(env.table(table)) for table in tables)


def wait_running(env: Env, at_least: int, timeout: float = 120.0) -> JobSnapshot:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = demo_jobs(env)
        if jobs and jobs[0].state == JobState.RUNNING and rows_written(env, jobs[0]) >= at_least:
            return jobs[0]
        time.sleep(0.3)
    raise AssertionError(f"no running job with {at_least} rows written within {timeout} s: {demo_jobs(env)}")


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    """Rows take 30 ms each, so a 300-row job runs long enough (9 s) to be interrupted."""
    with running_stack(
        tmp_path_factory.mktemp("slow"),
        "fake-fast-test",
        "--fault-row-delay-s",
        "0.03",
        "--chunk-rows",
        "16",
        "--chunk-seconds",
        "0.5",
    ) as stack:
        yield stack


def test_sigkilled_runner_reattaches_to_its_job(slow_stack, tmp_path, monkeypatch) -> None:
    project = copy_project(tmp_path / "kill")
    env = use_env(monkeypatch, slow_stack, "e2e_sigkill")
    runner = start_runner(project, env)
    try:
        job = wait_running(env, at_least=16)
    finally:
        runner.kill()
        runner.wait()
    assert runner.returncode == -signal.SIGKILL

    report = run_build(project)
    assert [entry["name"] for entry in report.jobs] == [job.name], "the rerun attached instead of submitting"
    assert [j.name for j in demo_jobs(env)] == [job.name], "no second job was created"
    landing = env.warehouse.run(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT review_id) AS keys "
        f"FROM `{env.table('demo_review_requests__batch_output')}`"
    )[0]
    assert (landing["n"], landing["keys"]) == (DEMO_ROWS, DEMO_ROWS), "every row exactly once"
    results = env.warehouse.run(f"SELECT COUNTIF(is_success) AS ok FROM `{env.table('demo_review_results')}`")[0]
    assert results["ok"] == DEMO_ROWS - 1


def test_ctrl_c_cancels_and_keeps_completed_rows(slow_stack, tmp_path, monkeypatch) -> None:
    project = copy_project(tmp_path / "interrupt")
    env = use_env(monkeypatch, slow_stack, "e2e_ctrl_c")
    runner = start_runner(project, env)
    try:
        wait_running(env, at_least=32)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 130, err.decode()
    assert "cancelling 1 job(s)" in err.decode()
    (job,) = demo_jobs(env)
    assert job.state == JobState.CANCELLED
    landed = env.warehouse.count(env.table("demo_review_requests__batch_output"))
    assert 32 <= landed < DEMO_ROWS, "the rows completed before the cancel are kept, the rest are not"
    ledger = env.warehouse.run(f"SELECT state, landed FROM `{env.table('vertex_batch_jobs')}`")
    assert [(row["state"], row["landed"]) for row in ledger] == [("CANCELLED", True)]

    # The next run submits only what the cancelled job did not answer.
    report = run_build(project)
    assert report.models[0].submitted_rows == DEMO_ROWS - landed


def test_more_rows_than_one_job_takes_run_as_several_jobs(slow_stack, monkeypatch) -> None:
    """Chunking and the concurrency cap through the real clients (the unit tests cover the logic)."""
    env = use_env(monkeypatch, slow_stack, "e2e_chunks")
    report = run_build(SCALE_PROJECT, "{scale_rows: 90, scale_rows_per_job: 30}", max_concurrent_jobs=2)
    assert sorted(job["rows"] for job in report.jobs) == [30, 30, 30]
    assert all(job["state"] == "SUCCEEDED" for job in report.jobs)
    landing = env.warehouse.run(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS keys FROM `{env.table('scale_requests__batch_output')}`"
    )[0]
    assert (landing["n"], landing["keys"]) == (90, 90)
    results = env.warehouse.run(f"SELECT COUNTIF(is_success) AS ok FROM `{env.table('scale_results')}`")[0]
    assert results["ok"] == 90
    assert report.exit_code == 0
