"""Estimate ÷ actual cost of a re-run: how close the counted estimate comes to what the jobs then report.

On the local stack (fast test backend by default; ``--backend smollm2`` for the real tokenizer and model):

1. run 1 (history): a job answers ``--history-rows`` requests of mixed lengths (3 to 600 words, half of
   them with a thinking budget, some capped by ``maxOutputTokens``); its rows land in a landing table;
2. run 2 (the re-run): ``--rows`` new requests drawn the same way. Before submitting, ``estimate_cost``
   counts their input with ``countTokens`` (every row up to 200, else a size-stratified sample) and takes
   output + thinking per row from run 1's landed answers; then the job runs and ``job_usage`` sums the
   exact cost of its output rows (``usageMetadata``, the price table, the batch discount).

Two scenarios: ``mixed`` (no shared prefix, so implicit caching plays no part) and ``cached_prefix`` (every
request shares a 1,100-word system instruction, which the backend serves as an implicitly cached prefix; the
estimate takes the cached share of input from run 1's answers). Reported per scenario: estimate ÷ actual for
input tokens, output tokens and cost (goal: cost within ±10%), the estimate's range and whether the actual
cost falls inside it. Writes ``benchmarks/results/estimate_vs_actual.json``.

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

from vertex_batch.estimate import estimate_cost
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import JobSpec
from vertex_batch.token_counting import VertexTokenCounter
from vertex_batch.usage import job_usage

MODEL = "gemini-3.5-flash"
GOAL = 0.10
REVIEW = (
    "the battery lasts two days but the screen scratches easily and support answered my question within an hour "
    "although shipping took longer than promised and the case feels cheap compared with last year's model"
)
WORDS = REVIEW.split()


def requests(count: int, seed: int, system: str | None = None) -> list[dict[str, Any]]:
    """Requests of mixed lengths; half think (budget 64), a third cap their answer at 6 tokens; with
    ``system``, every request shares that system instruction (an implicitly cached prefix)."""
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
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": config}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        bodies.append(body)
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


def scenario(bench: Any, name: str, rows: int, history_rows: int, system: str | None) -> dict[str, Any]:
    """Run 1 (history), then the estimate of run 2, run 2 itself, and the figures comparing them."""
    client = bench.connections.bigquery_client()
    warehouse, jobs = bench.warehouse, JobClient(bench.connections)
    landing = bench.table(f"{name}__batch_output")
    print(f"{name}, run 1: {history_rows} requests (history)", flush=True)
    load(client, bench.table(f"{name}_run1"), requests(history_rows, seed=1, system=system))
    first = run_job(jobs, bench.table(f"{name}_run1"), bench.table(f"{name}_output1"), f"{name} run1")
    warehouse.land(bench.table(f"{name}_output1"), landing, first, 1)

    print(f"{name}, run 2: {rows} new requests, estimated before submitting", flush=True)
    load(client, bench.table(f"{name}_run2"), requests(rows, seed=2, system=system))
    counting = time.perf_counter()
    estimate = estimate_cost(
        warehouse,
        f"SELECT * FROM `{bench.table(f'{name}_run2')}`",
        rows,
        MODEL,
        landing,
        VertexTokenCounter(bench.connections),
    )
    estimate_s = time.perf_counter() - counting
    for line in estimate.describe():
        print(line)
    run_job(jobs, bench.table(f"{name}_run2"), bench.table(f"{name}_output2"), f"{name} run2")
    actual = job_usage(warehouse, bench.table(f"{name}_output2"), MODEL, "gemini")
    assert actual.cost_usd is not None
    cost_ratio = estimate.cost_usd / actual.cost_usd
    return {
        "rows": rows,
        "history_rows": history_rows,
        "shared_system_instruction_words": len(system.split()) if system else 0,
        "counted_rows": estimate.input.counted_rows,
        "estimate_seconds": round(estimate_s, 2),
        "input_tokens_estimated": estimate.input.tokens,
        "input_tokens_error_95": estimate.input.error_tokens,
        "input_tokens_actual": actual.prompt,
        "input_ratio": ratio(estimate.input.tokens, actual.prompt),
        "cached_share_estimated": round(estimate.cached_share, 4),
        "cached_share_actual": round(actual.cached_content / actual.prompt, 4) if actual.prompt else 0.0,
        "output_tokens_estimated": estimate.output.tokens,
        "output_tokens_actual": actual.candidates + actual.thoughts,
        "output_ratio": ratio(estimate.output.tokens, actual.candidates + actual.thoughts),
        "cost_estimated_usd": round(estimate.cost_usd, 8),
        "cost_range_usd": [round(estimate.low_usd, 8), round(estimate.high_usd, 8)],
        "cost_actual_usd": round(actual.cost_usd, 8),
        "cost_ratio": round(cost_ratio, 4),
        "actual_within_range": estimate.low_usd <= actual.cost_usd <= estimate.high_usd,
        "within_goal": abs(cost_ratio - 1) <= GOAL,
        "estimate": estimate.describe(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios, print their ratios and write ``benchmarks/results/estimate_vs_actual.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="requests of the re-run (default 2000)")
    parser.add_argument("--history-rows", type=int, default=1000, help="requests of run 1 (default 1000)")
    parser.add_argument("--backend", default="fake-fast-test", help="local model backend (default fake-fast-test)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    template = " ".join(f"rule {i}: label the review's sentiment as positive, negative or neutral." for i in range(100))
    scenarios: dict[str, dict[str, Any]] = {}
    with bench_stack("estimate_vs_actual", backend=args.backend) as bench:
        dataset = bigquery.Dataset(f"{bench.config.project}.{bench.dataset}")
        dataset.location = bench.connections.location  # batch jobs read and write datasets of their own region
        bench.connections.bigquery_client().create_dataset(dataset, exists_ok=True)
        scenarios["mixed"] = scenario(bench, "mixed", args.rows, args.history_rows, None)
        scenarios["cached_prefix"] = scenario(bench, "cached_prefix", args.rows, args.history_rows, template)
    for name, figures in scenarios.items():
        print(f"--- {name}")
        print_figures({key: value for key, value in figures.items() if key != "estimate"})
    within = all(figures["within_goal"] for figures in scenarios.values())
    write_result(
        "estimate_vs_actual",
        {"goal": f"estimate / actual cost within ±{GOAL:.0%}", "backend": args.backend, "within_goal": within,
         "scenarios": scenarios},
        started,
    )  # fmt: skip
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
