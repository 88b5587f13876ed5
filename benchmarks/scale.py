"""A million requests through ``vertex-batch build``: jobs, wall time, peak memory, flatten time.

Builds the scale project with N request rows (default 1,000,000) and ``scale_rows_per_job`` rows per job
(default 200,000: 5 jobs) on a fresh stack with the fast test backend, running the runner in process
(``Runner.build``, at most 4 jobs in flight, the service running 2 at a time). Reported: jobs, wall time,
peak RSS of the runner (this process, sampled with psutil, and its ``ru_maxrss``; target < 500 MB), of
the BigQuery emulator and of the batch service (pids from ``<state_dir>/stack.json``), the flatten time
(the final ``dbt build`` of the downstream models), and a check that every row ended in ``scale_results``.
Also draws ``benchmarks/results/job_progress.png``: rows done against time per job, from the runner's own
polls of ``completionStats``, with the dbt invocations shaded.

Run it from the repository root (about 10 minutes for 1,000,000 rows on 2 cores)::

    .venv/bin/python benchmarks/scale.py [--rows 1000000] [--rows-per-job 200000]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

from _common import (
    RESULTS,
    JobPoller,
    RecordingProgress,
    RssSampler,
    bench_stack,
    build,
    dbt_for,
    plot_job_progress,
    print_figures,
    ratio,
    scale_project,
    scale_vars,
    ts,
    write_result,
)

from vertex_batch.job_client import JobClient
from vertex_batch.runner import new_run_id


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its figures and write ``benchmarks/results/scale.json`` and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="request rows (default 1000000)")
    parser.add_argument("--rows-per-job", type=int, default=200_000, help="rows per job (default 200000)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=4, help="runner's jobs in flight (4)")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="runner's poll interval (1.0)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    with bench_stack("scale") as bench:
        project = scale_project(bench.workdir / "project")
        dbt = dbt_for(project, scale_vars(scale_rows=args.rows, scale_rows_per_job=args.rows_per_job))
        dbt.ensure_packages()  # `dbt deps` once, outside the measured build
        dbt.invocations.clear()
        progress = RecordingProgress()
        pids = bench.pids()
        watched = {
            "runner": os.getpid(),
            "bigquery_emulator": pids["bigquery"],
            "batch_service": pids["vertex"],
            "gcs_emulator": pids["gcs"],
        }
        print(f"vertex-batch build: {args.rows:,} rows, {args.rows_per_job:,} per job", flush=True)
        run_id = new_run_id()
        with RssSampler(watched) as rss, JobPoller(bench.connections, run_id) as poller:
            t0 = time.time()
            report, wall = build(
                dbt, progress, poll_seconds=args.poll_seconds, max_concurrent_jobs=args.max_concurrent_jobs,
                run_id=run_id,
            )  # fmt: skip
        client = JobClient(bench.connections)
        jobs = [client.get(job["name"]) for job in report.jobs]
        check = bench.warehouse.run(
            f"SELECT COUNT(*) AS n, COUNTIF(is_success) AS ok FROM `{bench.table('scale_results')}`"
        )[0]

    runner_maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    invocations = dbt.invocations
    flatten = invocations[-1]
    creates = [ts(job.create_time) or 0.0 for job in jobs]
    starts = [ts(job.start_time) or 0.0 for job in jobs]
    ends = [ts(job.end_time) or 0.0 for job in jobs]
    running = [end - start for start, end in zip(starts, ends, strict=True)]
    results = {
        "backend": "fake-fast-test",
        "rows": args.rows,
        "rows_per_job": args.rows_per_job,
        "max_concurrent_jobs": args.max_concurrent_jobs,
        "service_workers": bench.config.workers,
        "exit_code": report.exit_code,
        "jobs": len(jobs),
        "expected_jobs": math.ceil(args.rows / args.rows_per_job),
        "job_states": sorted({job.state_name for job in jobs}),
        "wall_s": round(wall, 1),
        "phases_s": {
            "dbt parse": round(sum(i.seconds for i in invocations if i.command == "parse"), 1),
            "dbt build (request model)": round(invocations[1].seconds, 1),
            "request model built → first job created (staging)": round(min(creates) - invocations[1].end, 1),
            "first job created → last job ended": round(max(ends) - min(creates), 1),
            "job RUNNING time, each (mean)": round(sum(running) / len(running), 1),
            "last job ended → flatten starts": round(flatten.start - max(ends), 1),
            "flatten (final dbt build)": round(flatten.seconds, 1),
        },
        "flatten_s": round(flatten.seconds, 1),
        "rows_per_s_end_to_end": round(args.rows / wall),
        "peak_rss_mb": {name: round(value) for name, value in rss.peak_mb.items()},
        "runner_ru_maxrss_mb": round(runner_maxrss_mb),
        "results_rows": int(check["n"]),
        "results_rows_ok": int(check["ok"]),
        "ratios": {
            "runner_peak_rss_per_500_mb": ratio(rss.peak_mb["runner"], 500),
            "results_rows_per_request_row": ratio(int(check["n"]), args.rows),
            "flatten_share_of_wall": ratio(flatten.seconds, wall),
        },
    }
    plot_job_progress(
        poller.points, progress.points, invocations, t0, RESULTS / "job_progress.png",
        f"vertex-batch build, {args.rows:,} rows in {len(jobs)} jobs (fake-fast-test backend)",
    )  # fmt: skip
    print(f"\n{args.rows:,} rows, {args.rows_per_job:,} per job, fake-fast-test backend")
    print_figures(
        {
            "jobs": f"{len(jobs)} ({', '.join(results['job_states'])})",
            "wall time, s": results["wall_s"],
            **{f"  {phase}, s": seconds for phase, seconds in results["phases_s"].items()},
            "runner peak RSS, MB (sampled / ru_maxrss)": f"{results['peak_rss_mb']['runner']} / "
            f"{results['runner_ru_maxrss_mb']}",
            "runner peak RSS / 500 MB": results["ratios"]["runner_peak_rss_per_500_mb"],
            "BigQuery emulator peak RSS, MB": results["peak_rss_mb"]["bigquery_emulator"],
            "batch service peak RSS, MB": results["peak_rss_mb"]["batch_service"],
            "GCS emulator peak RSS, MB": results["peak_rss_mb"]["gcs_emulator"],
            "flatten time, s": results["flatten_s"],
            "scale_results rows / request rows": results["ratios"]["results_rows_per_request_row"],
        }
    )
    print(f"wrote {RESULTS / 'job_progress.png'}")
    write_result("scale", results, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
