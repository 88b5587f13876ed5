"""Small deltas: a 10,000-row request model, then 1%, 0.1% and 10% of its rows changed, each answered through
``batch`` and through ``auto`` (Flex PayGo calls for deltas of at most ``flex_max_rows`` rows, else batch).

The batch service holds every new job PENDING ``--queue-delay-s`` seconds (default 600), a production-like queue:

- googleapis/python-genai#1482 (comment of 2026-03-13): small batch requests "completed within 10 minutes" for
  several Gemini models while others "remained pending for hours";
- googleapis/js-genai#1453 (2026-03-30): Gemini batch jobs were "usually completing within a few hours";
- the batch inference page (docs.cloud.google.com/gemini-enterprise-agent-platform/models/capabilities/
  batch-inference): jobs wait in a shared queue up to 72 h and "typically complete within 24 hours".

Ten minutes is the best case of those reports, so the figures favour batch. Per scenario and lane, measured in a
child process that runs ``vertex-batch build`` in process with the cloud's polling (30 s): wall time from the start
of the build to the downstream models built, the run's cost (ledger ``actual_cost_usd``), and the Vertex AI calls
the runner's clients made (HTTP requests, retries included: ``generateContent``, the batch job API, countTokens).
The two lanes of a scenario run side by side in two datasets (the batch build starts first and waits in the queue).

Then the Flex lane's throughput, the measurement behind ``flex_max_rows``: 400 changed rows with ``lane flex``
while each call takes ``--call-s`` seconds (2) and ``--throttle`` (10%) of Flex calls are answered 429: the
lane's efficiency (rows/s ÷ 16 slots / call time) and the rows it answers within the queue delay at 5-30 s a call.

Run it from the repository root (about 40 minutes; the queue is most of it)::

    .venv/bin/python benchmarks/small_delta.py [--rows 10000] [--queue-delay-s 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from _common import PROFILES, Bench, bench_stack, scale_project, scale_vars, write_result

from vertex_batch.local.stack import LocalStack, stop_process_group

MODEL = "gemini-3.5-flash"
SCENARIOS = (("1%", 100, " (edit 1)"), ("0.1%", 1000, " (edit 2)"), ("10%", 10, " (edit 3)"))
THROUGHPUT_EVERY, THROUGHPUT_VARIANT = 25, " (edit 4)"
QUEUE_SOURCES = (
    "googleapis/python-genai#1482, 2026-03-13: small batch requests completed within 10 minutes for some Gemini "
    "models, others stayed pending for hours",
    "googleapis/js-genai#1453, 2026-03-30: Gemini batch jobs usually completed within a few hours",
    "Vertex AI batch inference page: queued up to 72 h, jobs typically complete within 24 hours",
)


# --- the child: one build, counted -------------------------------------------------------------------------
def count_vertex_calls(counts: Counter, endpoint: str) -> None:
    """Count every HTTP request the clients send to the Vertex AI endpoint, by kind, and the 429s."""
    import requests

    original = requests.Session.request

    def counted(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = original(self, method, url, *args, **kwargs)
        if str(url).startswith(endpoint):
            path = str(url).split("?", 1)[0]
            kind = next((k for k in (":generateContent", ":countTokens", "batchPredictionJobs") if k in path), "other")
            counts[kind.lstrip(":")] += 1
            counts["throttled"] += response.status_code == 429
        return response

    requests.Session.request = counted  # type: ignore[method-assign]


def child(spec: dict) -> None:
    """``vertex-batch build`` in this process; prints one ``RESULT {json}`` line."""
    from vertex_batch.dbt_graph import DbtProject
    from vertex_batch.progress import Progress
    from vertex_batch.runner import BuildOptions, Runner
    from vertex_batch.settings import RunSettings
    from vertex_batch.warehouse import Warehouse
    from vertex_batch.wiring import CloudBackends

    counts: Counter = Counter()
    count_vertex_calls(counts, os.environ["VERTEX_BATCH_API_ENDPOINT"])
    dbt = DbtProject(project_dir=Path(spec["project"]), profiles_dir=PROFILES, quiet=True, vars=spec["vars"])
    options = BuildOptions.resolve(RunSettings(), local=spec["local"], lane=spec["lane"])
    runner = Runner(dbt, options, CloudBackends(), Progress(stream=sys.stderr, interval=60.0))
    started = time.perf_counter()
    report = runner.build()
    took = time.perf_counter() - started
    from vertex_batch.connections import Connections

    warehouse = Warehouse(Connections.from_env(os.environ["VERTEX_BATCH_PROJECT"]).bigquery_client())
    ledger = f"{os.environ['VERTEX_BATCH_PROJECT']}.{os.environ['VERTEX_BATCH_DATASET']}.vertex_batch_jobs"
    cost, first, last = warehouse.run(
        f"SELECT SUM(actual_cost_usd), MIN(create_time), MAX(end_time) FROM `{ledger}` WHERE run_id = '{report.run_id}'"
    )[0]
    (model,) = report.models
    result = {
        "seconds": round(took, 2),
        "answer_seconds": round((last - first).total_seconds(), 2) if first and last else None,
        "cost_usd": float(cost or 0.0),
        "rows": model.submitted_rows,
        "lane": model.lane,
        "lane_reason": model.lane_reason,
        "calls": dict(counts),
        "exit_code": report.exit_code,
    }
    print("RESULT " + json.dumps(result), flush=True)


# --- the parent: the stack, the scenarios, the table ---------------------------------------------------------
class Child:
    """A child build in its own process; its runner's lines are kept (``submitted`` tells it reached the queue)."""

    def __init__(self, bench: Bench, dataset: str, spec: dict) -> None:
        env = {**os.environ, **bench.config.client_env(dataset)}
        env.pop("VERTEX_BATCH_LANE", None)
        command = [sys.executable, __file__, "--child", json.dumps(spec)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())

    def queued(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(": submitted " in line for line in self.lines):
                return
            time.sleep(0.5)

    def result(self) -> dict:
        out, _ = self.process.communicate()
        self._reader.join(5)
        found = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if self.process.returncode != 0 or not found:
            raise RuntimeError(f"child build failed ({self.process.returncode}):\n" + "\n".join(self.lines[-30:]))
        return json.loads(found[-1].removeprefix("RESULT "))


def restart_service(bench: Bench, *service_args: str) -> None:
    """The batch service again, with other flags (BigQuery and GCS keep running, so do their data)."""
    stop_process_group(bench.pids()["vertex"], 15.0)
    LocalStack(replace(bench.stack.config, service_args=tuple(service_args))).up(only=("vertex",))


def spec(project: Path, rows: int, every: int, variant: str, lane: str | None, local: bool = False) -> dict:
    values = scale_vars(
        scale_rows=rows, scale_model=MODEL, scale_variant=variant, scale_variant_every=every, scale_max_attempts=3
    )
    return {"project": str(project), "vars": values, "lane": lane, "local": local}


def table(results: list[dict]) -> list[str]:
    """The README table: one line per scenario and lane."""
    lines = [
        "| changed rows | lane (chosen) | build → downstream built | cost | generateContent | batch job API | "
        "countTokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results:
        calls = row["calls"]
        lines.append(
            f"| {row['scenario']} ({row['rows']:,}) | {row['asked']} ({row['lane']}) | {row['seconds']:.1f} s | "
            f"${row['cost_usd']:.5f} | {calls.get('generateContent', 0)} | {calls.get('batchPredictionJobs', 0)} | "
            f"{calls.get('countTokens', 0)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queue-delay-s", type=float, default=600.0, help="batch queue (default 600, see above)")
    parser.add_argument("--call-s", type=float, default=2.0, help="seconds a call takes in the throughput phase")
    parser.add_argument("--throttle", type=float, default=0.1, help="share of Flex calls answered 429 there")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    started = time.perf_counter()
    datasets = {"batch": "bench_delta_batch", "auto": "bench_delta_auto"}
    results: list[dict] = []
    with bench_stack("small_delta", service_args=("--queue-delay-s", "0")) as bench:
        project = scale_project(bench.workdir / "project")
        print(f"setup: {args.rows} rows answered in each dataset (no queue)", flush=True)
        for dataset in datasets.values():
            Child(bench, dataset, spec(project, args.rows, 10, "", "batch", local=True)).result()

        restart_service(bench, "--queue-delay-s", str(args.queue_delay_s))
        for scenario, every, variant in SCENARIOS:
            print(f"{scenario} changed: batch and auto side by side", flush=True)
            batch = Child(bench, datasets["batch"], spec(project, args.rows, every, variant, "batch"))
            batch.queued()
            auto = Child(bench, datasets["auto"], spec(project, args.rows, every, variant, None)).result()
            for asked, result in (("batch", batch.result()), ("auto", auto)):
                results.append({"scenario": scenario, "asked": asked, **result})
                print(f"  {asked}: {json.dumps(results[-1])}", flush=True)

        restart_service(
            bench, "--queue-delay-s", str(args.queue_delay_s), "--fault-row-delay-s", str(args.call_s),
            "--flex-throttle-rate", str(args.throttle), "--online-concurrency", "256",
        )  # fmt: skip
        rows = args.rows // THROUGHPUT_EVERY
        print(f"Flex throughput: {rows} rows, {args.call_s} s a call, {args.throttle:.0%} throttled", flush=True)
        flex_spec = spec(project, args.rows, THROUGHPUT_EVERY, THROUGHPUT_VARIANT, "flex")
        flex = Child(bench, datasets["auto"], flex_spec).result()

    slots = 16
    ideal = slots / args.call_s
    measured = flex["rows"] / (flex["answer_seconds"] or flex["seconds"])  # first call to last answer
    throughput = {
        **flex,
        "call_s": args.call_s,
        "throttle_rate": args.throttle,
        "slots": slots,
        "rows_per_s": round(measured, 2),
        "ideal_rows_per_s": ideal,
        "efficiency": round(measured / ideal, 3),
        "rows_within_queue_delay_at_call_s": {
            str(seconds): int(args.queue_delay_s * measured / ideal * slots / seconds) for seconds in (5, 10, 20, 30)
        },
    }
    lines = table(results)
    print("\n".join(lines))
    print(f"Flex throughput: {json.dumps(throughput)}")
    write_result(
        "small_delta",
        {
            "rows": args.rows,
            "model": MODEL,
            "queue_delay_s": args.queue_delay_s,
            "queue_delay_sources": QUEUE_SOURCES,
            "scenarios": results,
            "flex_throughput": throughput,
            "table": lines,
        },
        started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
