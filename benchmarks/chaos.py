"""Chaos: a multi-model, multi-chunk ``vertex-batch build`` with retryable row failures, whose runner and batch
service are killed at random moments until the run completes; then every row and every job is accounted for.

The project has ``--models`` request models of ``--rows`` rows, ``--rows-per-job`` a job, each flattened
downstream. The batch service fails a share of rows with retryable statuses (``--row-error-rate``,
``VERTEX_LOCAL_FAULT_ROW_ERROR_RATE``) and spends ``--row-delay-s`` on each row, so jobs run while things die.
``--kills`` times, at a random moment (early in a runner's life, or a moment after it starts working on jobs),
one of these happens: the runner gets SIGKILL, the runner gets SIGINT (it cancels its jobs, lands their completed
rows, exits 130), or the batch service gets SIGKILL (restarted at once: its jobs resume). A killed runner is
restarted with the same ``build``. After the last kill the runner runs to the end. Then the checks:

- every request row has exactly one answered landed row per key and request fingerprint (``answered_twice`` 0,
  ``lost`` 0; a row whose retryable failures used up ``--max-attempts`` counts as failed, not lost);
- jobs created ≤ jobs needed: jobs carrying the same identity labels (table, rows, chunk, attempt) only repeat
  after one that failed or was cancelled;
- no answered row paid twice: rows the service answered (``completionStats.successfulCount`` over every job) =
  answered rows landed, and the exact cost of the landed rows = the ledger's sum of ``actual_cost_usd``;
- nothing left behind: no intent in the ledger, no unlanded job, no lease, no staged table or JSONL file; no
  traceback printed.

Run it from the repository root (fast test backend; about 10 minutes on 2 cores)::

    .venv/bin/python benchmarks/chaos.py [--kills 20] [--models 2] [--rows 240] [--rows-per-job 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vertex_batch.catalog import catalog  # noqa: E402
from vertex_batch.job_client import JobClient  # noqa: E402
from vertex_batch.jobs import FAILED_STATES, IDENTITY_LABELS, LABEL_MODEL, LABEL_TABLE, table_label  # noqa: E402
from vertex_batch.landing import landing_table, ledger_table  # noqa: E402
from vertex_batch.lease_table import LEASE_TABLE  # noqa: E402
from vertex_batch.ledger_table import LedgerTable  # noqa: E402
from vertex_batch.local.stack import LocalDataset, stop_process_group  # noqa: E402
from vertex_batch.regions import default_gcs_prefix  # noqa: E402
from vertex_batch.staging_bucket import storage_client  # noqa: E402
from vertex_batch.usage import job_usage  # noqa: E402

KINDS = ("runner SIGKILL", "runner SIGINT", "service SIGKILL")
# Lines a runner prints once it works on jobs (``job_loop``): a kill after one lands in the middle of things.
WORKING = re.compile(r"submitted |attaching to |row\(s\) failed|was created|ended [A-Z]|waiting for ")
LEASE_SECONDS = 6  # a SIGKILLed runner's lease is taken over this soon
# dbt prints its own stack trace when Ctrl-C stops a `dbt build` (dbt's ``MainStackTrace`` event, as the dbt CLI
# does); the runner then exits 130 with one line. Counted apart, not as a runner traceback.
DBT_INTERRUPT = re.compile(r"site-packages/dbt/.*\nKeyboardInterrupt\s*$", re.DOTALL)

REQUESTS_SQL = """{{{{ config(materialized='table', meta={{'vertex_batch': {{'key': ['request_id'],
    'model': var('chaos_model'), 'max_rows_per_job': var('chaos_rows_per_job'),
    'max_attempts': var('chaos_max_attempts')}}}}) }}}}
with ids as (select request_id from unnest(generate_array(1, {{{{ var('chaos_rows') }}}})) as request_id),
requests as (
    select request_id, {{{{ vertex_batch.gemini_request(prompt="concat('Model {index}: is item ', cast(request_id as
        string), ' in stock? Answer yes or no.')", generation_config={{'temperature': 0, 'max_output_tokens': 8}}) }}}}
        as request
    from ids
)
select *, {{{{ vertex_batch.request_fingerprint('request') }}}} as request_fingerprint from requests
"""
PREDICTIONS_SQL = """{{{{ config(materialized='incremental', incremental_strategy='merge',
    unique_key=['request_id', 'request_fingerprint'], full_refresh=false) }}}}
{{{{ vertex_batch.accumulate_predictions(ref('chaos_requests_{index}'), key=['request_id']) }}}}
"""
RESULTS_SQL = """{{{{ config(materialized='table') }}}}
{{{{ vertex_batch.flatten_predictions(ref('chaos_requests_{index}'), ref('chaos_predictions_{index}'),
    key=['request_id']) }}}}
"""


def chaos_project(destination: Path, models: int, rows: int, rows_per_job: int, max_attempts: int) -> Path:
    """A dbt project of ``models`` request models (``chaos_requests_<i>``), each accumulated and flattened."""
    (destination / "models").mkdir(parents=True, exist_ok=True)
    (destination / "dbt_project.yml").write_text(
        "name: vertex_batch_chaos\nversion: '0.1.0'\nconfig-version: 2\nprofile: vertex_batch\n"
        "model-paths: ['models']\nvars:\n"
        f"  chaos_rows: {rows}\n  chaos_rows_per_job: {rows_per_job}\n  chaos_max_attempts: {max_attempts}\n"
        f"  chaos_model: {catalog().default_model}\n"
    )
    (destination / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    for index in range(1, models + 1):
        for name, template in (("requests", REQUESTS_SQL), ("predictions", PREDICTIONS_SQL), ("results", RESULTS_SQL)):
            (destination / "models" / f"chaos_{name}_{index}.sql").write_text(template.format(index=index))
    return destination


@dataclass
class Chaos:
    """One chaos run on a running local stack (``dataset``), its project in ``workdir``."""

    env: LocalDataset
    workdir: Path
    models: int
    rows: int
    rows_per_job: int
    max_attempts: int
    kills: int
    seed: int
    runner_timeout_s: float = 900.0
    say: Any = print
    events: list[dict[str, Any]] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    runners: list[dict[str, Any]] = field(default_factory=list)  # per runner start: exit code, last lines
    mismatched_jobs: list[dict[str, Any]] = field(default_factory=list)  # answered ≠ landed, or not in the ledger

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.project = chaos_project(
            self.workdir / "project", self.models, self.rows, self.rows_per_job, self.max_attempts
        )

    # --- the run ----------------------------------------------------------------------------------------------
    def start_runner(self) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"runner-{len(self.logs) + 1:02d}.log"
        self.logs.append(log)
        command = [
            sys.executable, "-m", "vertex_batch.cli", "build", "--project-dir", str(self.project),
            "--profiles-dir", str(REPO / "profiles"), "--poll-seconds", "0.5", "--retry-backoff", "0.5",
        ]  # fmt: skip
        env = {
            **os.environ,
            **self.env.variables,
            "VERTEX_BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
            "DBT_LOG_PATH": str(self.workdir / "dbt-logs"),
        }
        handle = log.open("wb")
        process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        return process, log

    def _moment(self, process: subprocess.Popen, log: Path) -> str:
        """Wait for a random moment of this runner's life: early (dbt, staging) or once it works on jobs."""
        if self.rng.random() < 0.3:
            delay = self.rng.uniform(0.5, 12.0)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
            return f"{delay:.1f} s after start"
        started, offset = time.monotonic(), log.stat().st_size  # only what it prints from now on counts
        while process.poll() is None and time.monotonic() - started < 120.0:
            if WORKING.search(log.read_text(errors="replace")[offset:]):
                delay = self.rng.uniform(0.0, 3.0)
                time.sleep(delay)
                return f"{delay:.1f} s after it worked on jobs"
            time.sleep(0.1)
        return "after 120 s"

    def _kill_service(self) -> None:
        pid = json.loads(self.env.stack.record_path.read_text())["pids"]["vertex"]
        stop_process_group(int(pid), timeout=0)
        time.sleep(self.rng.uniform(0.5, 3.0))
        self.env.stack.up(only=("vertex",))

    def _ended(self, code: int, log: Path) -> None:
        self.exits.append(code)
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        runner: dict[str, Any] = {"log": log.name, "exit": code, "last_lines": lines[-2:]}
        starts = [number for number, line in enumerate(lines) if line.startswith("Traceback")]
        if starts:
            runner["traceback"] = lines[starts[0] : starts[0] + 60]
        self.runners.append(runner)

    def run(self) -> dict[str, Any]:
        """Kill things ``kills`` times (or until the run completes first), then let the runner finish."""
        started = time.perf_counter()
        process, log = self.start_runner()
        while len(self.events) < self.kills:
            moment = self._moment(process, log)
            if process.poll() is not None:  # it ended on its own before the moment came
                self._ended(process.returncode, log)
                if process.returncode == 0:
                    break
                process, log = self.start_runner()
                continue
            kind = self.rng.choice(KINDS)
            self.events.append({"kill": kind, "moment": moment, "at_s": round(time.perf_counter() - started, 1)})
            self.say(f"kill {len(self.events)}/{self.kills}: {kind}, {moment}")
            if kind == "service SIGKILL":
                self._kill_service()
                continue
            process.send_signal(signal.SIGKILL if kind == "runner SIGKILL" else signal.SIGINT)
            self._ended(process.wait(timeout=self.runner_timeout_s), log)
            process, log = self.start_runner()
        # The kills are spent: the runner now runs to the end (a service kill may have failed it: start it again).
        finished, tries = process.poll() == 0 and self.exits[-1:] == [0], 0
        while not finished and tries < 5:
            self._ended(process.wait(timeout=self.runner_timeout_s), log)
            finished, tries = process.returncode == 0, tries + 1
            if not finished and tries < 5:
                process, log = self.start_runner()
        return {"wall_s": round(time.perf_counter() - started, 1), "runner_starts": len(self.logs)}

    # --- the checks -------------------------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """Every row once, every job needed, nothing paid twice, nothing left behind."""
        warehouse = self.env.warehouse
        totals: Counter[str] = Counter()
        landed_cost = ledger_cost = 0.0
        for index in range(1, self.models + 1):
            table = self.env.table(f"chaos_requests_{index}")
            landing = landing_table(table)
            if not warehouse.exists(landing):  # nothing ever landed: every row is lost
                warehouse.execute(f"CREATE TABLE `{landing}` AS SELECT * FROM `{table}` WHERE FALSE")
                warehouse.execute(f"ALTER TABLE `{landing}` ADD COLUMN status STRING, ADD COLUMN batch_job_name STRING")
            rows = warehouse.run(
                f"SELECT COUNTIF(a.ok = 1) AS once, COUNTIF(a.ok > 1) AS twice, "
                f"COUNTIF(IFNULL(a.ok, 0) = 0 AND IFNULL(a.n, 0) >= {self.max_attempts}) AS failed, "
                f"COUNTIF(IFNULL(a.ok, 0) = 0 AND IFNULL(a.n, 0) < {self.max_attempts}) AS lost, COUNT(*) AS rows "
                f"FROM `{table}` r LEFT JOIN (SELECT request_id, request_fingerprint, COUNTIF(status = '') AS ok, "
                f"COUNT(*) AS n FROM `{landing}` GROUP BY 1, 2) a USING (request_id, request_fingerprint)"
            )[0]
            for name in ("rows", "once", "twice", "failed", "lost"):
                totals[name] += int(rows[name] or 0)
            jobs = JobClient(self.env.connections).find(
                {LABEL_MODEL: f"chaos_requests_{index}", LABEL_TABLE: table_label(table)}
            )
            totals["jobs_created"] += len(jobs)
            totals["jobs_needed"] += jobs_needed(jobs)
            totals["jobs_cancelled"] += sum(1 for job in jobs if job.state.value == "CANCELLED")
            totals["service_answered_rows"] += sum(job.successful for job in jobs)
            per_job = warehouse.run(f"SELECT batch_job_name, COUNTIF(status = '') FROM `{landing}` GROUP BY 1")
            landed_by_job = {row[0]: int(row[1] or 0) for row in per_job}
            totals["landed_answered_rows"] += sum(landed_by_job.values())
            entries = LedgerTable(warehouse, ledger_table(table)).entries()
            entries = [entry for entry in entries if entry.request_model == f"chaos_requests_{index}"]
            ledger_of = {entry.job_name: entry for entry in entries}
            self.mismatched_jobs += [
                {"job": job.job_id, "state": job.state.value, "successful": job.successful,
                 "landed_answered": landed_by_job.get(job.name, 0), "input": job.input_uri.rsplit("/", 4)[-4:],
                 "ledger": {key: getattr(ledger_of.get(job.name), key, None)
                            for key in ("run_id", "state", "landed", "error_message", "input_table")}}
                for job in jobs
                if job.successful != landed_by_job.get(job.name, 0) or job.name not in ledger_of
            ]  # fmt: skip
            totals["ledger_unlanded"] += sum(1 for entry in entries if not entry.landed)
            totals["ledger_intents"] += sum(1 for entry in entries if entry.job_name.startswith("intent/"))
            ledger_cost += sum(entry.actual_cost_usd for entry in entries)
            landed_cost += job_usage(warehouse, landing, catalog().default_model, "gemini").cost_usd or 0.0
            name = table.rsplit(".", 1)[1]
            dataset = table.rsplit(".", 1)[0]
            totals["work_tables_left"] += len(warehouse.tables(dataset, f"{name}__batch_input_"))
            totals["work_tables_left"] += len(warehouse.tables(dataset, f"{name}__batch_job_"))
            bucket, folder = default_gcs_prefix(self.env.config.project, self.env.config.location)[5:].split("/", 1)
            staged = storage_client(self.env.connections).list_blobs(bucket, prefix=f"{folder}/{name}/")
            totals["staged_files_left"] += sum(1 for _ in staged)
        leases = self.env.table(LEASE_TABLE)
        if warehouse.exists(leases):
            totals["leases_left"] = int(warehouse.run(f"SELECT COUNT(*) FROM `{leases}`")[0][0])
        traces = [trace for log in self.logs for trace in tracebacks_in(log.read_text(errors="replace"))]
        dbt_interrupts = [trace for trace in traces if DBT_INTERRUPT.search(trace)]
        tracebacks = len(traces) - len(dbt_interrupts)
        return {
            "dbt_interrupt_reports": len(dbt_interrupts),
            **dict(totals),
            "rows_paid_twice": totals["service_answered_rows"] - totals["landed_answered_rows"],
            "landed_cost_usd": round(landed_cost, 9),
            "ledger_cost_usd": round(ledger_cost, 9),
            "tracebacks": tracebacks,
            "kills": Counter(event["kill"] for event in self.events),
            "exit_codes": Counter(self.exits),
        }


def tracebacks_in(text: str) -> list[str]:
    """Each traceback printed in ``text``, up to the exception line that ends it."""
    return re.findall(r"Traceback \(most recent call last\):.*?\n(?=\S)[^\n]*", text, re.DOTALL)


def jobs_needed(jobs: list[Any]) -> int:
    """Jobs the run needed: one per identity (table, rows, chunk, attempt), plus one more after each job of that
    identity that failed or was cancelled before the last one (its rows had to go again)."""
    by_identity: dict[tuple[str, ...], list[Any]] = {}
    for job in sorted(jobs, key=lambda one: one.create_time.timestamp() if one.create_time else 0.0):
        by_identity.setdefault(tuple(job.labels.get(key, "") for key in IDENTITY_LABELS), []).append(job)
    return sum(1 + sum(1 for job in group[:-1] if job.state in FAILED_STATES) for group in by_identity.values())


def verdict(figures: dict[str, Any]) -> list[str]:
    """What went wrong, one line each (empty: all good)."""
    problems = []
    for name in ("twice", "lost", "rows_paid_twice", "ledger_unlanded", "ledger_intents", "leases_left"):
        if figures.get(name):
            problems.append(f"{name}: {figures[name]}")
    for name in ("work_tables_left", "staged_files_left"):
        if figures.get(name):
            problems.append(f"{name}: {figures[name]}")
    if figures["jobs_created"] > figures["jobs_needed"]:
        problems.append(f"jobs created {figures['jobs_created']} > needed {figures['jobs_needed']}")
    if not math.isclose(figures["landed_cost_usd"], figures["ledger_cost_usd"], rel_tol=1e-6, abs_tol=1e-9):
        problems.append(f"landed cost {figures['landed_cost_usd']} != ledger cost {figures['ledger_cost_usd']}")
    if figures["once"] + figures["failed"] != figures["rows"]:
        problems.append(f"rows answered once {figures['once']} + failed {figures['failed']} != {figures['rows']}")
    if not figures["exit_codes"].get(0):
        problems.append(f"the run never completed (runner exit codes {dict(figures['exit_codes'])})")
    if figures["tracebacks"]:
        problems.append(f"tracebacks printed: {figures['tracebacks']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the chaos, print its figures and write ``benchmarks/results/chaos.json``."""
    from _common import bench_stack, print_figures, write_result

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--rows", type=int, default=240, help="rows per request model")
    parser.add_argument("--rows-per-job", type=int, default=30)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--row-error-rate", type=float, default=0.15)
    parser.add_argument("--row-delay-s", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the runners' logs into this folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    service = ["--fault-row-error-rate", str(args.row_error_rate), "--fault-row-delay-s", str(args.row_delay_s)]
    service += ["--fault-seed", str(args.seed), "--chunk-rows", "8", "--chunk-seconds", "0.5"]
    with bench_stack("chaos", service_args=service) as bench:
        chaos = Chaos(
            LocalDataset(bench.stack, bench.dataset), bench.workdir, args.models, args.rows, args.rows_per_job,
            args.max_attempts, args.kills, args.seed,
        )  # fmt: skip
        timing = chaos.run()
        figures = {**timing, **chaos.check()}
        problems = verdict(figures)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in [*chaos.logs, *bench.workdir.glob("stack/logs/*.log")]:
                (args.keep_logs / log.name).write_bytes(log.read_bytes())
    print_figures({key: value for key, value in figures.items() if not isinstance(value, dict | Counter)})
    print(f"kills: {dict(figures['kills'])}; runner exit codes: {dict(figures['exit_codes'])}")
    print("verdict:", "; ".join(problems) if problems else "0 rows lost, 0 landed twice, 0 paid twice")
    write_result(
        "chaos",
        {
            "settings": vars(args),
            "figures": figures,
            "events": chaos.events,
            "runners": chaos.runners,
            "mismatched_jobs": chaos.mismatched_jobs,
            "problems": problems,
        },
        started,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
