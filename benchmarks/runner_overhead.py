"""What ``vertex-batch build`` adds around the batch job: wall time ÷ the job's own RUNNING time.

Runs the scale project (N requests, one job) in process (``Runner.build``) twice, each on its own stack
with the fast test backend: once as is (the job takes seconds, so the ratio mostly shows dbt's and the
warehouse's own time), and once with ``--fault-row-delay-s`` per row (default 0.01 s: a ~100 s job for
10,000 rows), to show where the ratio converges when the job dominates, as it does with a real model.

Measured from outside the product: each dbt invocation's start and end (a ``DbtProject`` subclass), each
warehouse call and job API call of the runner (wrapped methods), and the job's ``createTime``,
``startTime`` and ``endTime``. Reported per case: wall ÷ RUNNING time (target ≤ 1.10), the latency from
the job's end to the start of the downstream dbt build, and a timeline of the phases.

Run it from the repository root (about 5 minutes on 2 cores)::

    .venv/bin/python benchmarks/runner_overhead.py [--rows 10000] [--row-delay-s 0.01]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    RecordingProgress,
    bench_stack,
    build,
    dbt_for,
    print_figures,
    ratio,
    scale_project,
    scale_vars,
    ts,
    write_result,
)

from vertex_batch.job_client import JobClient
from vertex_batch.warehouse import Warehouse

WAREHOUSE_CALLS = ("run", "exists", "columns", "drop", "export_jsonl", "load_predictions")
JOB_CALLS = ("create", "get", "find", "cancel")


class CallLog:
    """Counts and times calls of the runner's warehouse and job client (wrapped class methods)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, float]] = []  # (method, what, start, end)

    @contextmanager
    def recording(self) -> Iterator[CallLog]:
        originals: list[tuple[type, str, Callable[..., Any]]] = []
        for cls, names in ((Warehouse, WAREHOUSE_CALLS), (JobClient, JOB_CALLS)):
            for name in names:
                original = getattr(cls, name)
                originals.append((cls, name, original))
                setattr(cls, name, self._wrap(f"{cls.__name__}.{name}", original))
        try:
            yield self
        finally:
            for cls, name, original in originals:
                setattr(cls, name, original)

    def _wrap(self, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        log = self

        def wrapper(instance: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.time()
            try:
                return original(instance, *args, **kwargs)
            finally:
                what = " ".join(str(args[0]).split())[:90] if args else ""
                log.calls.append((label, what, start, time.time()))

        return wrapper

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict[str, dict[str, float]]:
        """Calls and seconds per method within ``[start, end]``; a ``run`` counts once per query."""
        counts: Counter[str] = Counter()
        seconds: defaultdict[str, float] = defaultdict(float)
        for label, _, began, ended in self.calls:
            if start <= began <= end:
                counts[label] += 1
                seconds[label] += ended - began
        return {label: {"calls": counts[label], "seconds": round(seconds[label], 2)} for label in sorted(counts)}


def one_case(name: str, rows: int, row_delay_s: float, poll_s: float) -> dict[str, Any]:
    """One ``vertex-batch build`` of ``rows`` requests on a fresh stack; its timeline and ratios."""
    service_args = ["--fault-row-delay-s", str(row_delay_s)] if row_delay_s > 0 else []
    with bench_stack(f"overhead_{name}", service_args=service_args) as bench:
        project = scale_project(bench.workdir / "project")
        dbt = dbt_for(project, scale_vars(scale_rows=rows))
        dbt.ensure_packages()  # `dbt deps` once, outside the measured build (a project installs once)
        dbt.invocations.clear()
        progress = RecordingProgress(echo=False)
        log = CallLog()
        print(f"{name}: vertex-batch build of {rows} rows (row delay {row_delay_s} s)", flush=True)
        with log.recording():
            build_start = time.time()
            report, wall = build(dbt, progress, poll_seconds=poll_s)
            build_end = time.time()
        (job_name,) = [job["name"] for job in report.jobs]
        job = JobClient(bench.connections).get(job_name)

    created, started, ended = ts(job.create_time), ts(job.start_time), ts(job.end_time)
    assert created and started and ended, job
    running = ended - started
    seen_done = min(p.t for p in progress.points if p.job == job_name and p.state == job.state_name)
    invocations = [(inv.command, inv.start, inv.end) for inv in dbt.invocations]
    downstream = invocations[-1]
    phases = {
        "dbt parse": sum(e - s for c, s, e in invocations if c == "parse"),
        "dbt build (request model)": invocations[1][2] - invocations[1][1],
        "request model built → job created": created - invocations[1][2],
        "job PENDING (create → start)": started - created,
        "job RUNNING (start → end)": running,
        "job end → runner sees it (poll)": seen_done - ended,
        "runner sees end → landed, downstream build starts": downstream[1] - seen_done,
        "dbt build (downstream models)": downstream[2] - downstream[1],
        "after the last dbt build": build_end - downstream[2],
    }
    return {
        "case": name,
        "rows": rows,
        "row_delay_s": row_delay_s,
        "poll_seconds": poll_s,
        "exit_code": report.exit_code,
        "wall_s": round(wall, 2),
        "job_running_s": round(running, 2),
        "job_end_to_downstream_dbt_start_s": round(downstream[1] - ended, 2),
        "dbt_invocations": [
            {"command": c, "start_offset_s": round(s - build_start, 2), "seconds": round(e - s, 2)}
            for c, s, e in invocations
        ],
        "phases_s": {key: round(value, 2) for key, value in phases.items()},
        "runner_calls_outside_dbt": log.summary(build_start, build_end),
        "runner_call_log": [
            {
                "call": label,
                "what": what,
                "start_offset_s": round(began - build_start, 2),
                "seconds": round(ended - began, 3),
            }
            for label, what, began, ended in log.calls
        ],
        "ratios": {
            "wall_per_job_running": ratio(wall, running),
            "dbt_share_of_wall": ratio(sum(e - s for _, s, e in invocations), wall),
        },
    }


def run_case_in_child(name: str, rows: int, row_delay_s: float, poll_s: float) -> dict[str, Any]:
    """``one_case`` in a fresh Python process, so each case pays the imports a CLI run pays."""
    with tempfile.TemporaryDirectory(prefix="vertex-batch-bench-overhead-") as folder:
        out = Path(folder) / "case.json"
        command = [
            sys.executable, __file__, "--case", name, "--rows", str(rows), "--row-delay-s", str(row_delay_s),
            "--poll-seconds", str(poll_s), "--case-output", str(out),
        ]  # fmt: skip
        child = subprocess.Popen(command)
        try:
            if child.wait() != 0:
                raise RuntimeError(f"the {name} case failed with exit code {child.returncode}")
        finally:
            if child.poll() is None:  # interrupted: let the child stop its own stack
                child.terminate()
                child.wait(60)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    """Run both cases, print their ratios and write ``benchmarks/results/runner_overhead.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="request rows (default 10000)")
    parser.add_argument(
        "--row-delay-s",
        type=float,
        default=0.01,
        help="seconds per row in the delayed case (default 0.01; 0 skips that case)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="runner's seconds between job polls (default 1.0, the CLI's local default)",
    )
    parser.add_argument("--case", choices=["fast", "row_delay"], help=argparse.SUPPRESS)
    parser.add_argument("--case-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # one case, in a child process (see run_case_in_child)
        delay = args.row_delay_s if args.case == "row_delay" else 0.0
        result = one_case(args.case, args.rows, delay, args.poll_seconds)
        args.case_output.write_text(json.dumps(result))
        return 0
    started = time.perf_counter()

    cases = [run_case_in_child("fast", args.rows, 0.0, args.poll_seconds)]
    if args.row_delay_s > 0:
        cases.append(run_case_in_child("row_delay", args.rows, args.row_delay_s, args.poll_seconds))

    for case in cases:
        print(
            f"\n{case['case']}: {case['rows']} rows, row delay {case['row_delay_s']} s, "
            f"poll every {case['poll_seconds']} s"
        )
        print_figures(
            {
                "build wall time, s": case["wall_s"],
                "job RUNNING time, s": case["job_running_s"],
                "wall / job RUNNING": case["ratios"]["wall_per_job_running"],
                "job end → downstream dbt build start, s": case["job_end_to_downstream_dbt_start_s"],
                **{f"  {phase}": f"{seconds:.2f} s" for phase, seconds in case["phases_s"].items()},
            }
        )
        calls = case["runner_calls_outside_dbt"]
        listed = ", ".join(f"{k} {v['calls']} calls {v['seconds']} s" for k, v in calls.items())
        print(f"  runner calls outside dbt: {listed}")
    write_result("runner_overhead", {"backend": "fake-fast-test", "cases": cases}, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
