"""Never pay twice, never lose a row, at the edges, end to end on the local stack (fast test backend): a request
model with duplicate and NULL keys is refused before any job; two ``resume --wait`` on one run make one set of
jobs and land every row once; creates whose replies are all lost still make exactly one job per chunk; nothing
staged is left behind. The logic behind each is covered over fakes in tests/unit (test_prechecks, test_leases,
test_create_once, test_footprint)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO, Env, chaos_module, running_stack, subprocess_env, use_env
from vertex_batch.cli import main
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import LABEL_CHUNK, LABEL_MODEL, LABEL_TABLE, JobSnapshot, table_label
from vertex_batch.lease_table import LEASE_TABLE

chaos = chaos_module()

DIRTY_SQL = """{{ config(materialized='table', meta={'vertex_batch': {'key': ['request_id'],
    'model': var('chaos_model')}}) }}
select request_id, {{ vertex_batch.gemini_request(prompt='prompt') }} as request
from unnest([struct(1 as request_id, 'a' as prompt), struct(2, 'b'), struct(2, 'c'), struct(3, 'd'), struct(3, 'e'),
    struct(cast(null as int64), 'f'), struct(4, 'g')])
"""


def project(tmp_path: Path, rows: int, per_job: int) -> Path:
    return chaos.chaos_project(tmp_path / "project", models=1, rows=rows, rows_per_job=per_job, max_attempts=3)


def cli(project_dir: Path, command: str, *extra: str) -> int:
    return main([command, "--project-dir", str(project_dir), "--profiles-dir", str(REPO / "profiles"), *extra])


def jobs_of(env: Env, name: str) -> list[JobSnapshot]:
    return JobClient(env.connections).find({LABEL_MODEL: name, LABEL_TABLE: table_label(env.table(name))})


def landed(env: Env, name: str) -> tuple[int, int]:
    row = env.warehouse.run(
        f"SELECT COUNTIF(status = '') AS ok, COUNT(DISTINCT request_id) AS keys FROM `{env.table(name)}__batch_output`"
    )[0]
    return row["ok"], row["keys"]


def work_tables(env: Env, name: str) -> list[str]:
    dataset = f"{env.config.project}.{env.dataset}"
    return env.warehouse.tables(dataset, f"{name}__batch_input_") + env.warehouse.tables(dataset, f"{name}__batch_job_")


def test_duplicate_and_null_keys_are_refused_before_any_job(fake_stack, tmp_path, monkeypatch, capsys) -> None:
    env = use_env(monkeypatch, fake_stack, "e2e_edges_dirty")
    folder = project(tmp_path, rows=5, per_job=5)
    (folder / "models" / "dirty_requests.sql").write_text(DIRTY_SQL)
    code = cli(folder, "build", "--select", "dirty_requests")
    err = capsys.readouterr().err
    assert code == 2, err
    (line,) = [text for text in err.splitlines() if text.startswith("error: request model dirty_requests")]
    assert "2 duplicate key(s) on 4 rows (e.g. 2, 3)" in line and "1 row(s) with a NULL key" in line
    assert "Traceback" not in err
    assert jobs_of(env, "dirty_requests") == [] and work_tables(env, "dirty_requests") == []


def test_two_resumes_at_once_make_one_set_of_jobs(fake_stack, tmp_path, monkeypatch, capsys) -> None:
    env = use_env(monkeypatch, fake_stack, "e2e_edges_two")
    folder = project(tmp_path, rows=40, per_job=10)
    assert cli(folder, "submit") == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    command = [sys.executable, "-m", "vertex_batch.cli", "resume", "--wait", "--run", run_id, "--poll-seconds", "0.5"]
    command += ["--project-dir", str(folder), "--profiles-dir", str(REPO / "profiles")]
    both = [subprocess.Popen(command, env=subprocess_env(env), stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(process.wait(timeout=600), process.stderr.read()) for process in both]  # type: ignore[union-attr]
    assert sorted(code for code, _ in outcomes) in ([0, 0], [0, 75]), outcomes
    assert not any("Traceback" in err for _, err in outcomes)
    chunks = Counter(job.labels[LABEL_CHUNK] for job in jobs_of(env, "chaos_requests_1"))
    assert chunks == Counter({"1": 1, "2": 1, "3": 1, "4": 1}), "one job per chunk"
    assert landed(env, "chaos_requests_1") == (40, 40), "every row once"
    assert work_tables(env, "chaos_requests_1") == [], "nothing staged is left"
    leases = env.table(LEASE_TABLE)
    assert env.warehouse.run(f"SELECT COUNT(*) FROM `{leases}`")[0][0] == 0, "no lease is left"
    targets = [path for path in (folder / "target" / "vertex_batch").iterdir() if path.is_dir()]
    assert len(targets) <= 8, "dbt target folders stay a few"


@pytest.fixture(scope="module")
def lost_reply_stack(tmp_path_factory):
    """Every create makes its job, then answers 503 as if the reply were lost."""
    fault = ("--fault-create-lost-reply-rate", "1")
    with running_stack(tmp_path_factory.mktemp("lost"), "fake-fast-test", *fault) as stack:
        yield stack


def test_lost_create_replies_still_make_one_job_per_chunk(lost_reply_stack, tmp_path, monkeypatch, capsys) -> None:
    env = use_env(monkeypatch, lost_reply_stack, "e2e_edges_lost")
    folder = project(tmp_path, rows=30, per_job=10)
    assert cli(folder, "build", "--poll-seconds", "0.5") == 0
    assert "its reply was lost, found by its labels" in capsys.readouterr().err
    chunks = Counter(job.labels[LABEL_CHUNK] for job in jobs_of(env, "chaos_requests_1"))
    assert chunks == Counter({"1": 1, "2": 1, "3": 1}), "exactly one job per chunk"
    assert landed(env, "chaos_requests_1") == (30, 30), "all rows once"
