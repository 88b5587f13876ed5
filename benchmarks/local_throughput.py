"""Tokens/s of the local batch service end to end against the bare model runtime, on the same prompts.

The service path: a BigQuery table of N Gemini requests, one batch job created through the official
``JobServiceClient`` (``vertex_batch.job_client.JobClient``), polled until it ends; the clock runs from the
create call to the first poll that sees the job finished (its output table complete). The bare runtime:
``SmolLM2Backend.generate`` on the same prompts (mapped by ``vertex_batch.local.gemini`` exactly as the
service maps them, in the order of the job's input snapshot), in the same batches (``--batch-size`` prompts
per call, the service's ``--model-batch-size``) with the same backend settings (``max_batch``, ``n_ctx``,
threads). Generated tokens are the sum of ``candidatesTokenCount`` (service) and of
``Generation.output_tokens`` (runtime); both paths produce the same tokens.

The two never run at once (2 cores): rounds alternate, service job then bare runtime, ``--rounds`` times
(the stack stays up, idle, during the runtime's turn). Other work on the machine slows llama.cpp's threads
a lot, so the ratio is taken between the fastest round of each (target ≥ 0.90); the mean of the per-round
ratios and every round are kept too. The service's time is broken down from the job's timestamps and the
``processed_time`` of its output rows (one value per model batch), so pauses between batches show up.

llama.cpp's two threads wait on each other at every step, so on a busy machine the time of both paths can
grow tenfold; run it on otherwise idle cores (the load average is recorded). About 2 minutes there::

    .venv/bin/python benchmarks/local_throughput.py [--rows 64] [--max-tokens 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from _common import Bench, bench_stack, print_figures, ratio, ts, write_result
from google.cloud import bigquery

from vertex_batch.job_client import JobClient
from vertex_batch.jobs import JobSpec
from vertex_batch.local import gemini
from vertex_batch.local.backends import ChatPrompt, generate_each

SYSTEM = "Classify the sentiment of the review as positive, negative or neutral, then give a short reason."
REVIEWS = (
    "I loved it, the best purchase I ever made.",
    "Broke after two days. Waste of money.",
    "It arrived on time and works as described.",
    "The food was cold and the waiter was rude.",
    "Decent product for the price, nothing special.",
    "My kids adore this game, hours of fun.",
    "Terrible battery life, I regret buying it.",
    "Great sound quality and easy to set up.",
)


def review(i: int) -> str:
    return f"Review #{i + 1}: {REVIEWS[i % len(REVIEWS)]}"


def make_requests(rows: int, max_tokens: int) -> list[dict[str, Any]]:
    """``rows`` short Gemini requests (the reviews repeat with a number)."""
    return [
        {
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [{"role": "user", "parts": [{"text": review(i)}]}],
            "generationConfig": {"temperature": 0, "maxOutputTokens": max_tokens},
        }
        for i in range(rows)
    ]


@dataclass
class RuntimeRound:
    """One pass of the bare runtime over all prompts."""

    seconds: float
    output_tokens: int
    tokens_per_s: float
    batch_seconds: list[float]


def bare_runtime(backend: Any, prompts: list[ChatPrompt], batch_size: int) -> RuntimeRound:
    """``backend.generate`` over the prompts, ``batch_size`` per call (as the service calls it)."""
    tokens, batch_seconds = 0, []
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        batch_started = time.perf_counter()
        answers = generate_each(backend, prompts[start : start + batch_size])
        batch_seconds.append(time.perf_counter() - batch_started)
        tokens += sum(answer.output_tokens for answer in answers)  # type: ignore[union-attr]
    seconds = time.perf_counter() - started
    per_batch = [round(s, 2) for s in batch_seconds]
    return RuntimeRound(round(seconds, 2), tokens, round(tokens / seconds, 1), per_batch)


def show(measured: RuntimeRound) -> None:
    rate = f"{measured.tokens_per_s} tok/s"
    print(f"  {measured.output_tokens} tokens in {measured.seconds} s: {rate}", flush=True)


def load_requests(client: bigquery.Client, table: str, requests: list[dict[str, Any]]) -> None:
    config = bigquery.LoadJobConfig(
        schema=[bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("request", "JSON")],
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
    )
    rows = [{"id": i, "request": request} for i, request in enumerate(requests)]
    client.load_table_from_json(rows, table, job_config=config).result()


def run_job(jobs: JobClient, input_table: str, output_table: str, poll_s: float) -> tuple[Any, float, float]:
    """Create a job and poll it to its end: ``(final snapshot, create-call time, time it was seen done)``."""
    spec = JobSpec(
        display_name=f"throughput {output_table.rsplit('.', 1)[-1]}", model="gemini-3.5-flash",
        input_uri=f"bq://{input_table}", output_uri=f"bq://{output_table}", labels={},
    )  # fmt: skip
    created_at = time.time()
    snapshot = jobs.create(spec)
    while not snapshot.done:
        time.sleep(poll_s)
        snapshot = jobs.get(snapshot.name)
    return snapshot, created_at, time.time()


def wait_model_ready(url: str, timeout: float = 120.0) -> None:
    import json
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            status = json.loads(response.read())["model"]
        if status == "ready":
            return
        if status == "failed":
            raise RuntimeError("the smollm2 backend failed to load in the service")
        time.sleep(0.2)
    raise RuntimeError("the smollm2 backend did not load in time")


def snapshot_order(bench: Bench, job_name: str) -> list[int]:
    """Row ids in the order the service read them (its input snapshot), so the runtime batches alike."""
    job_id = job_name.rsplit("/", 1)[-1]
    path = bench.config.state_dir / "vertex" / "jobs" / job_id / "input.jsonl"
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def service_round(bench: Bench, jobs: JobClient, table: str, number: int, poll_s: float) -> dict[str, Any]:
    """One job over ``table``: tokens/s end to end and where its time went."""
    output = bench.table(f"output_{number}")
    job, created_at, seen_done = run_job(jobs, table, output, poll_s)
    client = bench.connections.bigquery_client()
    usage = next(
        iter(
            client.query(
                "SELECT SUM(CAST(JSON_VALUE(response, '$.usageMetadata.candidatesTokenCount') AS INT64)) AS t, "
                f"COUNTIF(status = '') AS ok FROM `{output}`"
            ).result()
        )
    )
    stamps = sorted(
        row["t"].timestamp() for row in client.query(f"SELECT DISTINCT processed_time AS t FROM `{output}`").result()
    )
    tokens, seconds = int(usage["t"] or 0), seen_done - created_at
    start, end = ts(job.start_time) or created_at, ts(job.end_time) or seen_done
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "job": job.name,
        "state": job.state_name,
        "rows_ok": int(usage["ok"] or 0),
        "output_tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "breakdown_s": {
            "create_to_start": round(start - created_at, 2),
            "start_to_first_batch_done": round(stamps[0] - start, 2) if stamps else None,
            "between_batches": [round(gap, 2) for gap in gaps],
            "last_batch_done_to_end": round(end - stamps[-1], 2) if stamps else None,
            "end_to_seen_done": round(seen_done - end, 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its ratio and write ``benchmarks/results/local_throughput.json``."""
    from vertex_batch.local.backends.smollm2 import SmolLM2Backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="prompts (default 64)")
    parser.add_argument("--max-tokens", type=int, default=32, help="maxOutputTokens per prompt (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each path (default 2)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="prompts per backend call and sequences decoded together (default 16)",
    )
    parser.add_argument("--n-ctx", type=int, default=2048, help="context of one sequence (default 2048)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    parser.add_argument("--poll-s", type=float, default=0.2, help="seconds between job polls (default 0.2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    requests = make_requests(args.rows, args.max_tokens)
    prompts = [gemini.to_prompt(request) for request in requests]
    backend_options = {"max_batch": args.batch_size, "n_ctx": args.n_ctx, "n_threads": args.threads}
    service_args = ["--model-batch-size", str(args.batch_size)] + [
        arg for key, value in backend_options.items() for arg in ("--backend-option", f"{key}={value}")
    ]
    load_before = os.getloadavg()[0]
    services: list[dict[str, Any]] = []
    rounds: list[RuntimeRound] = []
    with (
        bench_stack("local_throughput", backend="smollm2", service_args=service_args) as bench,
        SmolLM2Backend(**backend_options) as backend,  # type: ignore[arg-type]
    ):
        client = bench.connections.bigquery_client()
        dataset = bigquery.Dataset(f"{bench.config.project}.{bench.dataset}")
        dataset.location = bench.config.location  # Vertex AI wants the job's region
        client.create_dataset(dataset, exists_ok=True)
        warm, table = bench.table("warmup_requests"), bench.table("requests")
        load_requests(client, warm, requests[:1])
        load_requests(client, table, requests)
        wait_model_ready(bench.config.vertex_url)
        jobs = JobClient(bench.connections)
        run_job(jobs, warm, bench.table("warmup_output"), args.poll_s)  # first-use allocations
        backend.generate(prompts[:1])  # the same for the runtime
        for number in range(1, args.rounds + 1):
            print(f"round {number}: service, one batch job of {args.rows} rows", flush=True)
            services.append(service_round(bench, jobs, table, number, args.poll_s))
            print(
                f"  {services[-1]['output_tokens']} tokens in {services[-1]['seconds']} s: "
                f"{services[-1]['tokens_per_s']} tok/s ({services[-1]['state']})",
                flush=True,
            )
            order = snapshot_order(bench, services[-1]["job"])
            print(f"round {number}: bare runtime, the same prompts in batches of {args.batch_size}", flush=True)
            rounds.append(bare_runtime(backend, [prompts[i] for i in order], args.batch_size))
            show(rounds[-1])
    load_after = os.getloadavg()[0]

    best_service = max(services, key=lambda r: r["tokens_per_s"])
    best_bare = max(rounds, key=lambda r: r.tokens_per_s)
    per_round = [ratio(s["tokens_per_s"], b.tokens_per_s) or 0.0 for s, b in zip(services, rounds, strict=True)]
    bare_batch = statistics.mean(s for r in rounds for s in r.batch_seconds)
    results = {
        "rows": args.rows,
        "max_output_tokens": args.max_tokens,
        "runtime_settings": {
            "model": "SmolLM2-135M-Instruct Q8_0 (llama-cpp-python)",
            "model_batch_size": args.batch_size,
            "max_batch": backend.max_batch,
            "n_ctx_per_sequence": backend.n_ctx,
            "n_ctx_total": backend.n_ctx_total,
            "n_batch": backend.n_batch,
            "n_threads": args.threads,
            "temperature": 0,
        },
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "service_rounds": services,
        "bare_runtime_rounds": [asdict(r) for r in rounds],
        "bare_batch_mean_s": round(bare_batch, 2),
        "same_tokens_every_round": all(
            s["output_tokens"] == b.output_tokens for s, b in zip(services, rounds, strict=True)
        ),
        "ratios": {
            "service_per_bare_runtime_tokens_per_s_best": ratio(best_service["tokens_per_s"], best_bare.tokens_per_s),
            "service_per_bare_runtime_tokens_per_s_mean_of_rounds": round(statistics.mean(per_round), 3),
            "per_round": per_round,
        },
    }
    print(
        f"\n{args.rows} prompts, maxOutputTokens {args.max_tokens}, batches of {args.batch_size} "
        f"(max_batch {backend.max_batch}), n_ctx {backend.n_ctx}/sequence ({backend.n_ctx_total} shared), "
        f"{args.threads} threads, load average {load_before:.1f} -> {load_after:.1f}"
    )
    breakdown = best_service["breakdown_s"]
    print_figures(
        {
            "service end to end, tok/s (best round)": best_service["tokens_per_s"],
            "bare runtime, tok/s (best round)": best_bare.tokens_per_s,
            "service / bare runtime (best rounds)": results["ratios"]["service_per_bare_runtime_tokens_per_s_best"],
            "service / bare runtime, per round": " ".join(f"{r:.3f}" for r in per_round),
            "same generated tokens": results["same_tokens_every_round"],
            "  create → start, s": breakdown["create_to_start"],
            "  start → first batch done, s": breakdown["start_to_first_batch_done"],
            "  between batches (service), s": " ".join(f"{g:.2f}" for g in breakdown["between_batches"]),
            "  one batch (bare runtime, mean), s": f"{bare_batch:.2f}",
            "  last batch done → end, s": breakdown["last_batch_done_to_end"],
            "  end → seen done, s": breakdown["end_to_seen_done"],
        }
    )
    write_result("local_throughput", results, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
