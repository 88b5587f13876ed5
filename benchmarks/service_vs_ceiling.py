"""SmolLM2 tokens/s of the backend and of the local service end to end, against the runtime's ceiling.

Measured in one run, on the same prompts, one path at a time (2 cores):

1. **Ceiling**: llama-cpp-python's low-level batch API with nothing of ours on top: N sequences (the
   job's first N prompts, chat template applied outside the clock) in one context, their prompts
   decoded together, then M greedy tokens each (end of generation ignored, so exactly N x M tokens), one
   ``llama_decode`` per step and one numpy argmax over all rows. Prompts are included in the time. It is
   measured at several N (``--widths``); the fastest is the ceiling (the strongest baseline).
2. **Backend**: ``SmolLM2Backend.generate_stream`` over all the job's prompts (its default settings:
   continuous batching at ``max_batch`` sequences, the shared prefix decoded once).
3. **Service**: one batch job of ``--rows`` rows (greedy, ``maxOutputTokens`` ``--max-tokens``) through
   ``JobServiceClient`` against the local stack with the ``smollm2`` backend, timed from the create call to
   the first poll that sees it done (its output table complete).

Generated tokens are counted (``candidatesTokenCount`` / ``Generation.output_tokens``; N x M for the
ceiling). Each figure is printed as a ratio to the ceiling and written with every raw number to
``benchmarks/results/service_vs_ceiling.json``. llama.cpp's threads wait on each other at every step, so
other work on the machine slows every path a lot: the load average is recorded, and ``--rounds`` repeats
the three measurements (the best round of each path is compared, and the median of the rounds' own
ratios is printed). About 2 minutes a round on idle cores::

    .venv/bin/python benchmarks/service_vs_ceiling.py [--rows 64] [--max-tokens 64] [--widths 16,32,64]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time
from typing import Any

import numpy as np
from _common import bench_stack, print_figures, ratio, write_result
from google.cloud import bigquery
from local_throughput import load_requests, make_requests, run_job, service_round, wait_model_ready

from vertex_batch.job_client import JobClient
from vertex_batch.local import gemini
from vertex_batch.local.backends import ChatPrompt


def raw_ceiling(
    model_path: str, prompts: list[list[int]], max_tokens: int, threads: int, flash_attn: bool = True
) -> dict[str, Any]:
    """Greedy decoding of every prompt for exactly ``max_tokens`` tokens, all in one context (cells shared
    by all sequences, as the backend has them)."""
    import llama_cpp

    model_params = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), model_params)
    n = len(prompts)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = sum(len(tokens) + max_tokens for tokens in prompts) + 256
    params.n_batch = max(512, n)
    params.n_ubatch = 512
    params.n_seq_max = n
    params.n_threads = params.n_threads_batch = threads
    params.kv_unified = True
    params.flash_attn_type = (
        llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    )
    params.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, params)
    batch = llama_cpp.llama_batch_init(params.n_batch, 0, 1)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    try:
        feed = [(token, pos, seq, pos == len(tokens) - 1) for seq, tokens in enumerate(prompts)
                for pos, token in enumerate(tokens)]  # fmt: skip
        started, cpu_started = time.perf_counter(), time.process_time()
        first: dict[int, int] = {}  # each sequence's first generated token
        for start in range(0, len(feed), params.n_batch):
            chunk = feed[start : start + params.n_batch]
            for i, (token, pos, seq, logits) in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
                batch.seq_id[i][0], batch.logits[i] = seq, logits
            batch.n_tokens = len(chunk)
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            ends = [seq for _, _, seq, logits in chunk if logits]
            if ends:
                first.update(zip(ends, _argmax(llama_cpp, ctx, len(ends), n_vocab), strict=True))
        prompt_s = time.perf_counter() - started
        tokens = [first[seq] for seq in range(n)]
        positions = [len(p) for p in prompts]
        for _ in range(max_tokens - 1):
            for seq in range(n):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = tokens[seq], positions[seq], 1
                batch.seq_id[seq][0], batch.logits[seq] = seq, True
                positions[seq] += 1
            batch.n_tokens = n
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            tokens = _argmax(llama_cpp, ctx, n, n_vocab)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
    generated = n * max_tokens
    return {
        "sequences": n,
        "flash_attn": flash_attn,
        "tokens_each": max_tokens,
        "prompt_tokens": sum(len(p) for p in prompts),
        "output_tokens": generated,
        "prompt_seconds": round(prompt_s, 2),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "tokens_per_s": round(generated / seconds, 1),
    }


def _argmax(llama_cpp: Any, ctx: Any, rows: int, n_vocab: int) -> list[int]:
    logits = np.ctypeslib.as_array(ctypes.cast(llama_cpp.llama_get_logits(ctx), ctypes.POINTER(ctypes.c_float)),
                                   shape=(rows, n_vocab))  # fmt: skip
    return [int(t) for t in np.argmax(logits, axis=1)]


def best_in(ceilings: list[dict[str, Any]], number: int) -> float:
    """The ceiling of round ``number``: its fastest width."""
    return max(c["tokens_per_s"] for c in ceilings if c["round"] == number)


def backend_pass(backend: Any, prompts: list[ChatPrompt], batch_size: int) -> dict[str, Any]:
    """All prompts through ``generate_stream`` in batches of ``batch_size`` (as the service hands them)."""
    started = time.perf_counter()
    batches = [prompts[i : i + batch_size] for i in range(0, len(prompts), batch_size)]
    tokens = sum(o.output_tokens for outcomes in backend.generate_stream(batches) for o in outcomes)
    seconds = time.perf_counter() - started
    return {"output_tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements, print the ratios and write the JSON."""
    from vertex_batch.local.backends.smollm2 import SmolLM2Backend
    from vertex_batch.local.backends.smollm2_weights import smollm2_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="rows of the job (default 64)")
    parser.add_argument("--max-tokens", type=int, default=64, help="maxOutputTokens, and M of the ceiling (64)")
    parser.add_argument("--widths", default="16,32,64", help="N sequences of the ceiling runs (default 16,32,64)")
    parser.add_argument("--rounds", type=int, default=1, help="times each path is measured (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    parser.add_argument("--max-batch", type=int, default=None, help="backend and service max_batch (its default)")
    parser.add_argument("--poll-s", type=float, default=0.2, help="seconds between job polls (default 0.2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    widths = [int(w) for w in args.widths.split(",") if w.strip()]

    requests = make_requests(args.rows, args.max_tokens)
    prompts = [gemini.to_prompt(request) for request in requests]
    load_before = os.getloadavg()[0]
    ceilings: list[dict[str, Any]] = []
    backends: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    options: dict[str, int] = {"n_threads": args.threads}
    if args.max_batch:
        options["max_batch"] = args.max_batch
    with SmolLM2Backend(**options) as backend:  # type: ignore[arg-type]
        token_lists = [backend.prompt_tokens(p) for p in prompts]
        settings = {
            "max_batch": backend.max_batch,
            "n_ctx_per_sequence": backend.n_ctx,
            "n_ctx_total": backend.n_ctx_total,
            "n_batch": backend.n_batch,
            "n_threads": args.threads,
        }
        backend.generate(prompts[:2])  # first-use allocations
        service_args = [arg for key, value in options.items() for arg in ("--backend-option", f"{key}={value}")]
        with bench_stack("service_vs_ceiling", backend="smollm2", service_args=service_args) as bench:
            client = bench.connections.bigquery_client()
            dataset = bigquery.Dataset(f"{bench.config.project}.{bench.dataset}")
            dataset.location = bench.config.location  # Vertex AI wants the job's region
            client.create_dataset(dataset, exists_ok=True)
            warm, table = bench.table("warmup_requests"), bench.table("requests")
            load_requests(client, warm, requests[:2])
            load_requests(client, table, requests)
            wait_model_ready(bench.config.vertex_url)
            jobs = JobClient(bench.connections)
            run_job(jobs, warm, bench.table("warmup_output"), args.poll_s)
            for number in range(1, args.rounds + 1):
                for width in widths:
                    chosen = [token_lists[i % len(token_lists)] for i in range(width)]
                    print(f"round {number}: ceiling, {width} sequences x {args.max_tokens} tokens", flush=True)
                    ceilings.append(
                        {"round": number, **raw_ceiling(smollm2_path(), chosen, args.max_tokens, args.threads)}
                    )
                    print(f"  {ceilings[-1]['tokens_per_s']} tok/s", flush=True)
                print(f"round {number}: backend, {args.rows} prompts", flush=True)
                backends.append({"round": number, **backend_pass(backend, prompts, 16)})
                print(f"  {backends[-1]['output_tokens']} tokens, {backends[-1]['tokens_per_s']} tok/s", flush=True)
                print(f"round {number}: service, one job of {args.rows} rows", flush=True)
                services.append({"round": number, **service_round(bench, jobs, table, number, args.poll_s)})
                print(f"  {services[-1]['output_tokens']} tokens, {services[-1]['tokens_per_s']} tok/s "
                      f"({services[-1]['state']})", flush=True)  # fmt: skip
    load_after = os.getloadavg()[0]

    ceiling = max(ceilings, key=lambda r: r["tokens_per_s"])
    best_backend = max(backends, key=lambda r: r["tokens_per_s"])
    best_service = max(services, key=lambda r: r["tokens_per_s"])
    by_width = {w: max(c["tokens_per_s"] for c in ceilings if c["sequences"] == w) for w in widths}
    results = {
        "rows": args.rows,
        "max_output_tokens": args.max_tokens,
        "backend_settings": settings,
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "ceiling_rounds": ceilings,
        "ceiling_tokens_per_s_by_width": by_width,
        "backend_rounds": backends,
        "service_rounds": services,
        "ratios": {
            "backend_per_ceiling": ratio(best_backend["tokens_per_s"], ceiling["tokens_per_s"]),
            "service_per_ceiling": ratio(best_service["tokens_per_s"], ceiling["tokens_per_s"]),
            "service_per_backend": ratio(best_service["tokens_per_s"], best_backend["tokens_per_s"]),
            # Within each round (the paths one after another, minutes apart at most): less exposed to a
            # quiet or busy spell of the machine than the best of each path.
            "per_round": [
                {
                    "round": number,
                    "backend_per_ceiling": ratio(b["tokens_per_s"], best_in(ceilings, number)),
                    "service_per_ceiling": ratio(s["tokens_per_s"], best_in(ceilings, number)),
                }
                for number, b, s in zip(range(1, args.rounds + 1), backends, services, strict=True)
            ],
        },
    }
    # Each round's paths run minutes apart at most: the median of the rounds' ratios is the figure least
    # moved by a busy or quiet spell of a shared machine.
    results["ratios"]["service_per_ceiling_median_of_rounds"] = round(
        statistics.median(r["service_per_ceiling"] for r in results["ratios"]["per_round"]), 3
    )
    print(
        f"\n{args.rows} rows, maxOutputTokens {args.max_tokens}, greedy; backend max_batch {settings['max_batch']}, "
        f"{args.threads} threads; load average {load_before:.1f} -> {load_after:.1f}"
    )
    print_figures(
        {
            **{f"ceiling, {w} sequences, tok/s": v for w, v in by_width.items()},
            "ceiling (best width), tok/s": ceiling["tokens_per_s"],
            "backend, tok/s": best_backend["tokens_per_s"],
            "service end to end, tok/s": best_service["tokens_per_s"],
            "backend / ceiling": results["ratios"]["backend_per_ceiling"],
            "service / ceiling": results["ratios"]["service_per_ceiling"],
            "service / backend": results["ratios"]["service_per_backend"],
            "service / ceiling, per round": " ".join(
                f"{r['service_per_ceiling']:.3f}" for r in results["ratios"]["per_round"]
            ),
            "service / ceiling, median of rounds": results["ratios"]["service_per_ceiling_median_of_rounds"],
        }
    )
    write_result("service_vs_ceiling", results, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
