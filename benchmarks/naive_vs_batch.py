"""The same requests answered the naive way (one synchronous ``generateContent`` per row) and as a batch.

Both paths start from the same BigQuery request table (the scale project's ``scale_requests``, built by
dbt, not timed) and end with every answer in a BigQuery table:

- naive: read the rows, call google-genai ``client.models.generate_content`` once per row against the local
  service's online endpoint (``publishers/google/models/{model}:generateContent``), then load the answers
  with one load job;
- batch: one ``batchPredictionJobs.create`` through ``JobServiceClient`` (``vertex_batch.job_client``) and
  ``get`` polls every ``--poll-s`` seconds until the job has ended (the service writes the output table).

Reported: wall time and API calls of each, their ratios, and how many answers differ (the backend is
deterministic, so none should). The 10,000-row comparison uses the fast test backend: it measures the
per-call cost of the API path, not a model. ``--smollm2-rows`` (default 64; 0 skips it) repeats the
comparison with the real SmolLM2 model, where the batch path also decodes 16 prompts together.

Run it from the repository root (about 4 minutes on 2 cores)::

    .venv/bin/python benchmarks/naive_vs_batch.py [--rows 10000] [--smollm2-rows 64]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import Bench, bench_stack, dbt_for, print_figures, ratio, scale_project, scale_vars, write_result
from google.cloud import bigquery

from vertex_batch.job_client import JobClient
from vertex_batch.jobs import JobSpec

MODEL = "gemini-3.5-flash"


def genai_client(bench: Bench) -> Any:
    """google-genai pointed at the local service, exactly as at Vertex AI except for ``base_url``."""
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    return genai.Client(
        vertexai=True,
        project=bench.config.project,
        location=bench.config.location,
        credentials=Credentials(token="local"),
        http_options=types.HttpOptions(base_url=bench.config.vertex_url),
    )


def read_requests(client: bigquery.Client, table: str, key: str) -> list[tuple[Any, dict[str, Any]]]:
    return [(row[key], row["request"]) for row in client.list_rows(table, selected_fields=None)]


def naive(bench: Bench, requests: list[tuple[Any, dict[str, Any]]], output: str) -> dict[str, Any]:
    """One ``generate_content`` per row, then one load job of all answers."""
    from google.genai import errors, types

    client = genai_client(bench)
    started = time.perf_counter()
    rows, calls, tokens = [], 0, 0
    for key, request in requests:
        config = dict(request.get("generationConfig") or {})
        if request.get("systemInstruction"):
            config["systemInstruction"] = request["systemInstruction"]
        calls += 1
        try:
            response = client.models.generate_content(
                model=MODEL,
                contents=request["contents"],
                config=types.GenerateContentConfig.model_validate(config),
            )
        except errors.APIError as error:
            rows.append({"id": key, "response": None, "status": f"{error.code} {error.message}"})
            continue
        body = response.model_dump(mode="json", by_alias=True, exclude_none=True)
        tokens += response.usage_metadata.candidates_token_count or 0
        rows.append({"id": key, "response": body, "status": ""})
    model_s = time.perf_counter() - started
    config = bigquery.LoadJobConfig(
        schema=[
            bigquery.SchemaField("id", "INT64"),
            bigquery.SchemaField("response", "JSON"),
            bigquery.SchemaField("status", "STRING"),
        ],
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
    )
    bench.connections.bigquery_client().load_table_from_json(rows, output, job_config=config).result()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "model_calls_seconds": round(model_s, 2),
        "api_calls": calls + 1,
        "generate_content_calls": calls,
        "load_jobs": 1,
        "output_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
    }


def batch(bench: Bench, input_table: str, output: str, poll_s: float) -> dict[str, Any]:
    """One batch job: create, then ``get`` until it has ended."""
    jobs = JobClient(bench.connections)
    spec = JobSpec(display_name="naive-vs-batch", model=MODEL, input_uri=f"bq://{input_table}",
                   output_uri=f"bq://{output}", labels={})  # fmt: skip
    started = time.perf_counter()
    snapshot, gets = jobs.create(spec), 0
    while not snapshot.done:
        time.sleep(poll_s)
        snapshot, gets = jobs.get(snapshot.name), gets + 1
    seconds = time.perf_counter() - started
    tokens = int(
        bench.warehouse.run(
            "SELECT COALESCE(SUM(CAST(JSON_VALUE(response, '$.usageMetadata.candidatesTokenCount') "
            f"AS INT64)), 0) FROM `{output}`"
        )[0][0]
    )
    return {
        "seconds": round(seconds, 2),
        "state": snapshot.state_name,
        "api_calls": 1 + gets,
        "create_calls": 1,
        "get_calls": gets,
        "poll_seconds": poll_s,
        "output_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
    }


def differing_answers(bench: Bench, naive_table: str, batch_table: str, key: str) -> int:
    text = "JSON_VALUE({}.response, '$.candidates[0].content.parts[0].text')"
    return int(
        bench.warehouse.run(
            f"SELECT COUNTIF(n.status != b.status OR COALESCE({text.format('n')}, '') != "
            f"COALESCE({text.format('b')}, '')) FROM `{naive_table}` n JOIN `{batch_table}` b "
            f"ON n.id = b.{key}"
        )[0][0]
    )


def compare(bench: Bench, input_table: str, key: str, poll_s: float, label: str) -> dict[str, Any]:
    """Both paths over ``input_table``; the batch path first (the naive one's answers do not help it)."""
    client = bench.connections.bigquery_client()
    requests = read_requests(client, input_table, key)
    print(f"{label}: batch path, one job of {len(requests)} rows", flush=True)
    batch_result = batch(bench, input_table, bench.table(f"{label}_batch_output"), poll_s)
    print(f"  {batch_result['seconds']} s, {batch_result['api_calls']} API calls", flush=True)
    print(f"{label}: naive path, {len(requests)} generate_content calls", flush=True)
    naive_result = naive(bench, requests, bench.table(f"{label}_naive_output"))
    print(f"  {naive_result['seconds']} s, {naive_result['api_calls']} API calls", flush=True)
    differing = differing_answers(
        bench, bench.table(f"{label}_naive_output"), bench.table(f"{label}_batch_output"), key
    )
    return {
        "rows": len(requests),
        "naive": naive_result,
        "batch": batch_result,
        "differing_answers": differing,
        "ratios": {
            "naive_per_batch_seconds": ratio(naive_result["seconds"], batch_result["seconds"]),
            "naive_per_batch_api_calls": ratio(naive_result["api_calls"], batch_result["api_calls"]),
        },
    }


def show(title: str, result: dict[str, Any]) -> None:
    naive_result, batch_result = result["naive"], result["batch"]
    print(f"\n{title}")
    print_figures(
        {
            "naive: seconds / API calls": f"{naive_result['seconds']} s / {naive_result['api_calls']} "
            f"({naive_result['generate_content_calls']} generateContent + 1 load job)",
            "batch: seconds / API calls": f"{batch_result['seconds']} s / {batch_result['api_calls']} "
            f"(1 create + {batch_result['get_calls']} gets, every {batch_result['poll_seconds']} s)",
            "naive / batch, time": result["ratios"]["naive_per_batch_seconds"],
            "naive / batch, API calls": result["ratios"]["naive_per_batch_api_calls"],
            "generated tokens/s, naive / batch": f"{naive_result['tokens_per_s']} / {batch_result['tokens_per_s']}",
            "answers that differ": result["differing_answers"],
        }
    )
    if result.get("note"):
        print(f"  ({result['note']})")


def main(argv: list[str] | None = None) -> int:
    """Run the comparisons, print them and write ``benchmarks/results/naive_vs_batch.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows, fast test backend (default 10000)")
    parser.add_argument("--smollm2-rows", type=int, default=64, help="rows with SmolLM2 (64; 0 skips)")
    parser.add_argument("--poll-s", type=float, default=1.0, help="seconds between job polls (default 1.0)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {}

    with bench_stack("naive_vs_batch") as bench:
        project = scale_project(bench.workdir / "project")
        dbt = dbt_for(project, scale_vars(scale_rows=args.rows))
        dbt.ensure_packages()
        dbt.invoke("build", "--select", "scale_requests")
        table = bench.table("scale_requests")
        fast = compare(bench, table, "request_id", args.poll_s, "fast")
        results["fast_test_backend"] = {"backend": "fake-fast-test", **fast}

    if args.smollm2_rows > 0:
        from local_throughput import load_requests, make_requests, wait_model_ready

        with bench_stack("naive_vs_batch_smollm2", backend="smollm2") as bench:
            client = bench.connections.bigquery_client()
            dataset = bigquery.Dataset(f"{bench.config.project}.{bench.dataset}")
            dataset.location = bench.config.location  # Vertex AI wants the job's region
            client.create_dataset(dataset, exists_ok=True)
            table = bench.table("requests")
            load_requests(client, table, make_requests(args.smollm2_rows, 32))
            wait_model_ready(bench.config.vertex_url)
            small = compare(bench, table, "id", args.poll_s, "smollm2")
            results["smollm2"] = {
                "backend": "smollm2",
                "max_output_tokens": 32,
                **small,
                "note": "llama.cpp decodes a batch of 16 and a single prompt with different numerics, so "
                "texts differ between the paths (as documented for the backend); the fast test backend's don't",
            }

    show(f"{args.rows} rows, fast test backend (API path cost, no model)", results["fast_test_backend"])
    if "smollm2" in results:
        show(f"{args.smollm2_rows} rows, SmolLM2 (maxOutputTokens 32)", results["smollm2"])
    write_result("naive_vs_batch", results, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
