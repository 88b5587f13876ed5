"""What a re-run pays: build N requests, run, change 10% of the prompts, run again.

Uses the scale project (``tests/e2e/scale_project``) with the fast test backend. The first run answers
every row; the second run follows a change of ``scale_variant`` that alters every 10th prompt (so its
request fingerprint); a third run changes nothing. Reported, as ratios measured in this one run:

- rows submitted on the re-run ÷ rows whose request changed (target 1.00): counted from the ledger
  (``vertex_batch_jobs.rows_submitted``) against a snapshot of the request table taken after run 1;
- tokens paid on the re-run (ledger ``total_tokens``, summed from the jobs' ``usageMetadata``) ÷ tokens of
  the changed rows' answers in the landing table (target 1.00);
- rows submitted by the unchanged third run (target 0).

Run it from the repository root (about 3 minutes on 2 cores)::

    .venv/bin/python benchmarks/rerun_cost.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import time

from _common import (
    RecordingProgress,
    bench_stack,
    build,
    dbt_for,
    print_figures,
    ratio,
    scale_project,
    scale_vars,
    write_result,
)

VARIANT = " Reply in lowercase."
EVERY = 10


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its ratios and write ``benchmarks/results/rerun_cost.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="request rows (default 10000)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    with bench_stack("rerun_cost") as bench:
        project = scale_project(bench.workdir / "project")
        warehouse = bench.warehouse
        requests = bench.table("scale_requests")
        landing = bench.table("scale_requests__batch_output")
        ledger = bench.table("vertex_batch_jobs")
        snapshot = bench.table("bench_requests_run1")
        progress = RecordingProgress()
        base = {"scale_rows": args.rows, "scale_variant_every": EVERY}

        print(f"run 1: {args.rows} new requests", flush=True)
        first, first_s = build(dbt_for(project, scale_vars(**base, scale_variant="")), progress)
        warehouse.run(f"CREATE TABLE `{snapshot}` AS SELECT request_id, request_fingerprint FROM `{requests}`")

        print(f"run 2: every {EVERY}th prompt changed", flush=True)
        changed_vars = scale_vars(**base, scale_variant=VARIANT)
        second, second_s = build(dbt_for(project, changed_vars), progress)
        print("run 3: nothing changed", flush=True)
        third, third_s = build(dbt_for(project, changed_vars), progress)

        changed = (
            f"SELECT r.request_id, r.request_fingerprint FROM `{requests}` r "
            f"LEFT JOIN `{snapshot}` s USING (request_id, request_fingerprint) WHERE s.request_id IS NULL"
        )
        changed_rows = int(warehouse.run(f"SELECT COUNT(*) FROM ({changed})")[0][0])
        # One answer per changed row: what answering exactly the changed rows costs.
        changed_tokens = int(
            warehouse.run(
                "SELECT COALESCE(SUM(tokens), 0) FROM (SELECT l.request_id, "
                "MIN(CAST(JSON_VALUE(l.response, '$.usageMetadata.totalTokenCount') AS INT64)) AS tokens "
                f"FROM `{landing}` l JOIN ({changed}) c USING (request_id, request_fingerprint) "
                "WHERE l.status = '' GROUP BY l.request_id, l.request_fingerprint)"
            )[0][0]
        )
        by_run = {
            row["run_id"]: row
            for row in warehouse.run(
                f"SELECT run_id, COUNT(*) AS jobs, SUM(rows_submitted) AS rows_submitted, "
                f"SUM(total_tokens) AS tokens, SUM(actual_cost_usd) AS cost FROM `{ledger}` GROUP BY run_id"
            )
        }

    def paid(report_run_id: str, key: str) -> float:
        row = by_run.get(report_run_id)
        return float(row[key] or 0) if row else 0.0

    rerun_rows = paid(second.run_id, "rows_submitted")
    rerun_tokens = paid(second.run_id, "tokens")
    first_tokens = paid(first.run_id, "tokens")
    results = {
        "rows": args.rows,
        "changed_rows": changed_rows,
        "runs": [
            {
                "run": name,
                "run_id": report.run_id,
                "wall_s": round(seconds, 1),
                "exit_code": report.exit_code,
                "jobs": int(paid(report.run_id, "jobs")),
                "rows_submitted": int(paid(report.run_id, "rows_submitted")),
                "tokens_paid": int(paid(report.run_id, "tokens")),
                "cost_usd": round(paid(report.run_id, "cost"), 6),
            }
            for name, report, seconds in (
                ("first", first, first_s),
                ("changed 10%", second, second_s),
                ("unchanged", third, third_s),
            )
        ],
        "changed_rows_tokens": changed_tokens,
        "ratios": {
            "rerun_rows_submitted_per_changed_row": ratio(rerun_rows, changed_rows),
            "rerun_tokens_paid_per_changed_row_token": ratio(rerun_tokens, changed_tokens),
            "rerun_tokens_per_first_run_tokens": ratio(rerun_tokens, first_tokens),
            "rerun_wall_per_first_run_wall": ratio(second_s, first_s),
        },
        "unchanged_rerun_rows_submitted": int(paid(third.run_id, "rows_submitted")),
        "backend": "fake-fast-test",
    }

    print(f"\n{args.rows} requests, {changed_rows} changed (every {EVERY}th prompt), fake-fast-test backend")
    print(f"{'run':<14}{'wall s':>8}{'jobs':>6}{'rows submitted':>16}{'tokens paid':>13}")
    for run in results["runs"]:
        print(
            f"{run['run']:<14}{run['wall_s']:>8.1f}{run['jobs']:>6}{run['rows_submitted']:>16}{run['tokens_paid']:>13}"
        )
    ratios = results["ratios"]
    print_figures(
        {
            "rows submitted on the re-run / rows changed": ratios["rerun_rows_submitted_per_changed_row"],
            "tokens paid on the re-run / tokens of the changed rows": ratios["rerun_tokens_paid_per_changed_row_token"],
            "tokens paid on the re-run / first run": ratios["rerun_tokens_per_first_run_tokens"],
            "rows submitted by the unchanged run": results["unchanged_rerun_rows_submitted"],
        }
    )
    write_result("rerun_cost", results, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
