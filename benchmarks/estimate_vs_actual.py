"""Estimate ÷ actual cost of a re-run: how close the counted estimate comes to what the jobs then report.

On the local stack (fast test backend by default; ``--backend smollm2`` for the real tokenizer and model):

1. run 1 (history): a job answers ``--history-rows`` requests of mixed lengths (3 to 600 words, half of
   them with a thinking budget, some capped by ``maxOutputTokens``); its rows land in a landing table;
2. run 2 (the re-run): ``--rows`` new requests drawn the same way. Before submitting, ``estimate_cost``
   counts their input with ``countTokens`` (every row up to 200, else a size-stratified sample) and takes
   output + thinking per row from run 1's landed answers; then the job runs and ``job_usage`` sums the
   exact cost of its output rows (``usageMetadata``, the price table, the batch discount).

Reported: estimate ÷ actual for input tokens, output tokens and cost (goal: cost within ±10%), the
estimate's range and whether the actual cost falls inside it. No shared long prefix is sent, so implicit
caching plays no part (the estimate assumes none). Writes ``benchmarks/results/estimate_vs_actual.json``.

    .venv/bin/python benchmarks/estimate_vs_actual.py [--rows 2000] [--history-rows 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from _common import bench_stack, print_figures, ratio, write_result
from google.cloud import bigquery

from vertex_batch.estimate import VertexTokenCounter, estimate_cost
from vertex_batch.job_client import JobClient, JobSpec
from vertex_batch.usage import job_usage

MODEL = "gemini-2.5-flash"
GOAL = 0.10
REVIEW = (
    "the battery lasts two days but the screen scratches easily and support answered my question within an hour "
    "although shipping took longer than promised and the case feels cheap compared with last year's model"
)
WORDS = REVIEW.split()


def requests(count: int, seed: int) -> list[dict[str, Any]]:
    """Requests of mixed lengths; half think (budget 64), a third cap their answer at 6 tokens."""
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        words = rng.choice([3, 10, 40, 150, 600])
        text = "Classify the sentiment of this review: " + " ".join(rng.choices(WORDS, k=words)) + f" (#{seed}-{i})"
        config: dict[str, Any] = {"temperature": 0}
        if i % 2 == 0:
            config["thinkingConfig"] = {"thinkingBudget": 64}
        if i % 3 == 0:
            config["maxOutputTokens"] = 6
        bodies.append({"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": config})
    return bodies


def load(client: bigquery.Client, table: str, bodies: list[dict[str, Any]]) -> None:
    schema = [bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("request", "JSON")]
    client.create_table(bigquery.Table(table, schema=schema), exists_ok=True)
    client.load_table_from_json(
        [{"id": i, "request": json.dumps(body)} for i, body in enumerate(bodies)],
        table,
        job_config=bigquery.LoadJobConfig(schema=schema),
    ).result()


def run_job(jobs: JobClient, source: str, destination: str, name: str) -> str:
    """Submit one batch job over ``source`` and wait for it; return its name."""
    snapshot = jobs.create(
        JobSpec(
            display_name=f"estimate-vs-actual {name}",
            model=MODEL,
            input_uri=f"bq://{source}",
            output_uri=f"bq://{destination}",
            labels={"benchmark": "estimate_vs_actual"},
        )
    )
    while not snapshot.done:
        time.sleep(0.5)
        snapshot = jobs.get(snapshot.name)
    if not snapshot.succeeded:
        raise RuntimeError(f"job {snapshot.name} ended {snapshot.state_name}: {snapshot.error_message}")
    return snapshot.name


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its ratios and write ``benchmarks/results/estimate_vs_actual.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="requests of the re-run (default 2000)")
    parser.add_argument("--history-rows", type=int, default=1000, help="requests of run 1 (default 1000)")
    parser.add_argument("--backend", default="fake-fast-test", help="local model backend (default fake-fast-test)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    with bench_stack("estimate_vs_actual", backend=args.backend) as bench:
        client = bench.connections.bigquery_client()
        client.create_dataset(bench.dataset, exists_ok=True)
        warehouse, jobs = bench.warehouse, JobClient(bench.connections)
        landing = bench.table("requests__batch_output")

        print(f"run 1: {args.history_rows} requests (history)", flush=True)
        load(client, bench.table("requests_run1"), requests(args.history_rows, seed=1))
        first = run_job(jobs, bench.table("requests_run1"), bench.table("output_run1"), "run1")
        warehouse.land(bench.table("output_run1"), landing, first, 1)

        print(f"run 2: {args.rows} new requests, estimated before submitting", flush=True)
        load(client, bench.table("requests_run2"), requests(args.rows, seed=2))
        counting = time.perf_counter()
        estimate = estimate_cost(
            warehouse,
            f"SELECT * FROM `{bench.table('requests_run2')}`",
            args.rows,
            MODEL,
            landing,
            VertexTokenCounter(bench.connections),
        )
        estimate_s = time.perf_counter() - counting
        for line in estimate.describe():
            print(line)
        run_job(jobs, bench.table("requests_run2"), bench.table("output_run2"), "run2")
        actual = job_usage(warehouse, bench.table("output_run2"), MODEL)

    assert actual.cost_usd is not None
    cost_ratio = estimate.cost_usd / actual.cost_usd
    figures: dict[str, Any] = {
        "rows": args.rows,
        "history_rows": args.history_rows,
        "backend": args.backend,
        "counted_rows": estimate.input.counted_rows,
        "estimate_seconds": round(estimate_s, 2),
        "input_tokens_estimated": estimate.input.tokens,
        "input_tokens_error_95": estimate.input.error_tokens,
        "input_tokens_actual": actual.prompt,
        "input_ratio": ratio(estimate.input.tokens, actual.prompt),
        "output_tokens_estimated": estimate.output.tokens,
        "output_tokens_actual": actual.candidates + actual.thoughts,
        "output_ratio": ratio(estimate.output.tokens, actual.candidates + actual.thoughts),
        "cost_estimated_usd": round(estimate.cost_usd, 8),
        "cost_range_usd": [round(estimate.low_usd, 8), round(estimate.high_usd, 8)],
        "cost_actual_usd": round(actual.cost_usd, 8),
        "cost_ratio": round(cost_ratio, 4),
        "actual_within_range": estimate.low_usd <= actual.cost_usd <= estimate.high_usd,
        "within_goal": abs(cost_ratio - 1) <= GOAL,
    }
    print_figures(figures)
    write_result(
        "estimate_vs_actual",
        {"goal": f"estimate / actual cost within ±{GOAL:.0%}", "figures": figures, "estimate": estimate.describe()},
        started,
    )
    return 0 if figures["within_goal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
