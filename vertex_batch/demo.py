"""``vertex-batch demo``: the repository's own dbt project end to end on the local stack, then its results.

It seeds a few hundred product reviews, builds the request model ``demo_review_requests``, runs its batch job on the
local service (answered by the local model), lands the answers and builds ``demo_review_results``; beside it, it
embeds every review and builds ``demo_review_similar_reviews``. Then it prints a few flattened rows.
"""

from __future__ import annotations

import os
from pathlib import Path

from vertex_batch.connections import Connections
from vertex_batch.dbt_graph import DbtProject
from vertex_batch.ports import ProgressSink
from vertex_batch.report import EXIT_PARTIAL
from vertex_batch.runner import BuildOptions, Runner
from vertex_batch.views import print_outcome
from vertex_batch.wiring import CloudBackends

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATASET = "vertex_batch_demo"
DEMO_RESULTS_MODEL = "demo_review_results"
DEMO_SIMILAR_MODEL = "demo_review_similar_reviews"
#: The demo's embeddings step (demo_review_embeddings -> demo_review_similar_reviews) builds with this var.
DEMO_VARS = "{vertex_batch_demo_embeddings: true}"


def run_demo(progress: ProgressSink, rows: int) -> int:
    """Build the demo project against the local stack the environment points at; print its results."""
    dbt = DbtProject(project_dir=ROOT, profiles_dir=ROOT / "profiles", vars=DEMO_VARS)
    # The demo shows batch jobs: its 300 rows would otherwise fit the Flex lane (lane auto, flex_max_rows 500).
    report = Runner(dbt, BuildOptions.resolve(local=True, lane="batch"), CloudBackends(), progress).build()
    print_outcome(report)
    if report.exit_code not in (0, EXIT_PARTIAL):
        return report.exit_code
    connections = Connections.from_env(os.environ["VERTEX_BATCH_PROJECT"])
    print_results(connections, os.environ["VERTEX_BATCH_DATASET"], rows)
    print_similar(connections, os.environ["VERTEX_BATCH_DATASET"], min(rows, 5))
    # The demo seeds one request with an invalid role on purpose: a partial result is the expected one.
    return 0


def print_results(connections: Connections, dataset: str, limit: int) -> None:
    """A table of flattened results: failed rows first, then answered ones."""
    client = connections.bigquery_client()
    table = f"`{connections.project}.{dataset}.{DEMO_RESULTS_MODEL}`"
    rows = list(
        client.query(
            f"SELECT review_id, response_text, finish_reason, prompt_tokens, candidate_tokens, model_version, "
            f"is_success, error_code, error_message FROM {table} "
            f"ORDER BY is_success, review_id LIMIT {int(limit)}"
        ).result()
    )
    totals = next(
        iter(client.query(f"SELECT COUNT(*), COUNTIF(is_success), COUNTIF(NOT is_success) FROM {table}").result())
    )
    print(f"\n{DEMO_RESULTS_MODEL}: {totals[0]} rows, {totals[1]} answered by the local model, {totals[2]} failed\n")
    header = ["review_id", "response_text", "finish", "in", "out", "model_version", "ok", "error"]
    lines = [header]
    for row in rows:
        error = f"{row['error_code']} {row['error_message']}" if row["error_code"] else ""
        text = (row["response_text"] or "").replace("\n", " ")[:40]
        lines.append(
            [
                str(row["review_id"]),
                text,
                str(row["finish_reason"] or ""),
                str(row["prompt_tokens"] or ""),
                str(row["candidate_tokens"] or ""),
                str(row["model_version"] or ""),
                str(row["is_success"]),
                error[:60],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def print_similar(connections: Connections, dataset: str, limit: int) -> None:
    """A few reviews with their most similar other review (the demo's embeddings step)."""
    client = connections.bigquery_client()
    table = f"`{connections.project}.{dataset}.{DEMO_SIMILAR_MODEL}`"
    rows = list(
        client.query(
            f"SELECT review_id, review_text, similar_review_id, similar_review_text, cosine_similarity FROM {table} "
            f"WHERE review_text != similar_review_text ORDER BY cosine_similarity DESC, review_id LIMIT {int(limit)}"
        ).result()
    )
    print(f"\n{DEMO_SIMILAR_MODEL}: most similar reviews by cosine similarity of their embeddings\n")
    for row in rows:
        print(
            f"  {row['cosine_similarity']:.3f}  #{row['review_id']} {row['review_text'][:40]!r}  ~  "
            f"#{row['similar_review_id']} {row['similar_review_text'][:40]!r}"
        )
