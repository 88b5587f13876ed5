"""The Flex lane end to end on the local stack, whose batch jobs wait 60 s in the queue (VERTEX_LOCAL_QUEUE_DELAY_S)
as production's small jobs wait minutes: a small delta is answered through Flex PayGo calls in seconds, lands as a
batch job's rows would (same columns, same status text, the batch price), a ``batch`` lane still waits in the
queue, and a runner killed during a Flex wave leaves every row landed once after a rerun."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO, Env, running_stack, subprocess_env, use_env
from vertex_batch.catalog import catalog
from vertex_batch.costs import Usage, model_cost
from vertex_batch.dbt_graph import DbtProject
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import LABEL_TABLE, JobState, table_label
from vertex_batch.landing import BATCH_OUTPUT_COLUMNS
from vertex_batch.local.gemini import VALID_ROLE_MESSAGE, row_status
from vertex_batch.progress import Progress
from vertex_batch.runner import BuildOptions, BuildReport, Runner
from vertex_batch.settings import RunSettings
from vertex_batch.wiring import CloudBackends

MODEL = "gemini-3.5-flash"
BAD_ROW = 40  # its request has the role "robot": production's 400 INVALID_ARGUMENT
FILES = {
    "dbt_project.yml": """name: flex_lane
version: "1.0.0"
config-version: 2
profile: vertex_batch
model-paths: ["models"]
vars:
  rows: 40
  variant: ""
  variant_every: 13
""",
    "packages.yml": f"packages:\n  - local: {REPO}\n",
    "models/flex_requests.sql": f"""{{{{ config(materialized='table', meta={{'vertex_batch': {{'key': ['request_id'],
    'model': '{MODEL}'}}}}) }}}}
with prompts as (
    select request_id, concat('Is item ', cast(request_id as string), ' in stock?',
        if(mod(request_id, {{{{ var('variant_every') }}}}) = 0, '{{{{ var("variant") }}}}', '')) as prompt
    from unnest(generate_array(1, {{{{ var('rows') }}}})) as request_id
), requests as (
    select request_id, {{{{ vertex_batch.gemini_request(prompt='prompt',
        role="if(request_id = {BAD_ROW}, 'robot', 'user')",
        generation_config={{'temperature': 0, 'max_output_tokens': 8}}) }}}} as request
    from prompts
)
select *, {{{{ vertex_batch.request_fingerprint('request') }}}} as request_fingerprint from requests
""",
    "models/flex_predictions.sql": """{{ config(materialized='incremental', incremental_strategy='merge',
    unique_key=['request_id', 'request_fingerprint'], full_refresh=false) }}
{{ vertex_batch.accumulate_predictions(ref('flex_requests'), key=['request_id']) }}
""",
    "models/flex_results.sql": """{{ config(materialized='table') }}
{{ vertex_batch.flatten_predictions(ref('flex_requests'), ref('flex_predictions'), key=['request_id']) }}
""",
}


@pytest.fixture(scope="module")
def queued_stack(tmp_path_factory):
    """Batch jobs wait 60 s in the queue; each online call takes 0.1 s (4 at once), so a Flex wave of 200 rows
    lasts long enough to be killed."""
    env = {"VERTEX_LOCAL_QUEUE_DELAY_S": "60", "VERTEX_LOCAL_FAULT_ROW_DELAY_S": "0.1"}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("VERTEX_BATCH_LANE", raising=False)  # the lane each request model says (auto)
        with running_stack(tmp_path_factory.mktemp("queued"), "fake-fast-test", env=env) as stack:
            yield stack


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("flex_project")
    for relative, text in FILES.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def build(project: Path, vars_yaml: str | None = None, **options: object) -> BuildReport:
    dbt = DbtProject(project_dir=project, profiles_dir=REPO / "profiles", quiet=True, vars=vars_yaml)
    settings = RunSettings(poll_seconds=0.5, retry_backoff_seconds=0.2)
    return Runner(dbt, BuildOptions.resolve(settings, local=True, **options), CloudBackends(), Progress()).build()


def table_jobs(env: Env) -> list:
    return JobClient(env.connections).find({LABEL_TABLE: table_label(env.table("flex_requests"))})


def landing(env: Env) -> list[dict]:
    return [dict(row) for row in env.warehouse.run(f"SELECT * FROM `{env.table('flex_requests__batch_output')}`")]


def test_a_small_delta_is_answered_through_flex_in_seconds_at_the_batch_price(queued_stack, project, monkeypatch):
    env = use_env(monkeypatch, queued_stack, "e2e_flex_delta")
    first = build(project)
    assert (first.models[0].lane, first.models[0].submitted_rows, first.exit_code) == ("flex", 40, 3)

    started = time.monotonic()
    second = build(project, '{variant: " Answer in one word."}')
    took = time.monotonic() - started
    (model,) = second.models
    assert (model.lane, model.submitted_rows, model.successful_rows) == ("flex", 3, 3), model
    # Not a timing claim (benchmarks/small_delta.py measures it): the build ends before a batch job would leave
    # the 60 s queue, because no batch job was made.
    assert took < 60, f"3 edited rows took {took:.1f} s"
    assert table_jobs(env) == [], "no batch job: nothing waited in the 60 s queue"

    rows = landing(env)
    key_columns = ["request_id", "request", "request_fingerprint"]
    assert list(rows[0]) == key_columns + [name for name, _ in BATCH_OUTPUT_COLUMNS], "a batch job's columns"
    assert len({(row["request_id"], row["request_fingerprint"]) for row in rows}) == len(rows) == 43
    delta = [row for row in rows if row["batch_job_name"].startswith(f"flex/{second.run_id}/flex_requests/a1/")]
    assert sorted(row["request_id"] for row in delta) == [13, 26, 39]
    (bad,) = [row for row in rows if row["request_id"] == BAD_ROW]
    assert bad["status"] == row_status(400, VALID_ROLE_MESSAGE, "INVALID_ARGUMENT"), "a batch row's status text"
    assert bad["response"] is None

    flattened = env.warehouse.run(f"SELECT * FROM `{env.table('flex_results')}`")
    results = {row["request_id"]: dict(row) for row in flattened}
    assert (results[BAD_ROW]["is_success"], results[BAD_ROW]["error_message"]) == (False, VALID_ROLE_MESSAGE)
    info = catalog().get(MODEL)
    for row in delta:
        response = json.loads(row["response"]) if isinstance(row["response"], str) else row["response"]
        usage = Usage.from_metadata(response["usageMetadata"])
        batch_price = model_cost(info, usage, row["processed_time"].astimezone(UTC).date(), "batch")
        assert results[row["request_id"]]["cost_usd"] == pytest.approx(batch_price, rel=1e-9) and batch_price > 0
        assert results[row["request_id"]]["is_success"]
    ledger = env.warehouse.run(f"SELECT * FROM `{env.table('vertex_batch_jobs')}` WHERE run_id = '{second.run_id}'")
    assert ledger and all(entry["landed"] and entry["job_name"].startswith("flex/") for entry in ledger)
    spent = sum(entry["actual_cost_usd"] for entry in ledger)
    assert spent == pytest.approx(sum(results[row["request_id"]]["cost_usd"] for row in delta), rel=1e-9)
    print(f"3 edited rows through Flex: build took {took:.1f} s")


def test_the_batch_lane_waits_in_the_queue(queued_stack, project, monkeypatch) -> None:
    env = use_env(monkeypatch, queued_stack, "e2e_flex_batch_lane")
    dbt = DbtProject(project_dir=project, profiles_dir=REPO / "profiles", quiet=True, vars="{rows: 5}")
    options = BuildOptions.resolve(RunSettings(poll_seconds=0.5), local=True, lane="batch")
    report = Runner(dbt, options, CloudBackends(), Progress()).submit()
    assert report.still_running and report.models[0].lane == "batch"
    time.sleep(2)
    (job,) = table_jobs(env)
    assert job.state == JobState.PENDING and job.start_time is None, "held in the queue, not started"
    JobClient(env.connections).cancel(job.name)


def test_a_runner_killed_during_a_flex_wave_leaves_every_row_landed_once(queued_stack, project, monkeypatch) -> None:
    env = use_env(monkeypatch, queued_stack, "e2e_flex_kill")
    vars_yaml = "{rows: 200}"
    command = [sys.executable, "-m", "vertex_batch.cli", "build", "--project-dir", str(project),
               "--profiles-dir", str(REPO / "profiles"), "--vars", vars_yaml]  # fmt: skip
    variables = {**subprocess_env(env), "VERTEX_BATCH_LEASE_SECONDS": "8"}  # the rerun takes its lease over soon
    runner = subprocess.Popen(command, env=variables, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    table = env.table("flex_requests__batch_output")
    landed = 0
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and runner.poll() is None:
            landed = env.warehouse.count(table) if env.warehouse.exists(table) else 0
            if 0 < landed < 200:
                break
            time.sleep(0.1)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    assert runner.returncode == -signal.SIGKILL and 0 < landed < 200, runner.stderr.read().decode()[-2000:]
    before = env.warehouse.count(table)

    report = build(project, vars_yaml)
    assert report.models[0].submitted_rows == 200 - before, "the rerun asks only what did not land"
    counts = env.warehouse.run(f"SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS keys FROM `{table}`")[0]
    assert (counts["n"], counts["keys"]) == (200, 200), "every row landed exactly once"
    ledger = env.warehouse.run(
        f"SELECT SUM(rows_submitted) AS rows, SUM(actual_cost_usd) AS usd FROM `{env.table('vertex_batch_jobs')}`"
    )[0]
    (paid,) = env.warehouse.run(f"SELECT SUM(cost_usd) FROM `{env.table('flex_results')}`")[0]
    assert ledger["rows"] == 200 and ledger["usd"] == pytest.approx(paid, rel=1e-9), "no landed row paid twice"
