"""The counted estimate and the exact job cost against the local stack (BigQuery emulator, fake backend)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from google.cloud import bigquery

from tests.e2e.helpers import Env
from vertex_batch.catalog import catalog, utc_today
from vertex_batch.costs import Usage, model_cost
from vertex_batch.estimate import estimate_cost
from vertex_batch.local import gemini
from vertex_batch.local.backends.fake import FakeFastTestBackend
from vertex_batch.local.stack import LocalStack
from vertex_batch.sampling import FULL_COUNT_ROWS
from vertex_batch.token_counting import VertexTokenCounter
from vertex_batch.usage import job_usage

MODEL = "gemini-3.5-flash"
WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog",
    "while", "reviewers", "argue", "about", "battery", "life",
]  # fmt: skip


def requests(count: int, seed: int) -> list[dict[str, object]]:
    """Requests of mixed lengths (3 to 600 words), some with a system instruction."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        words = rng.choice([3, 12, 40, 150, 600])
        body: dict[str, object] = {
            "contents": [{"role": "user", "parts": [{"text": " ".join(rng.choices(WORDS, k=words)) + f" #{i}"}]}]
        }
        if i % 3 == 0:
            body["systemInstruction"] = {"parts": [{"text": "Answer in one word."}]}
        rows.append(body)
    return rows


def load(env: Env, name: str, bodies: list[dict[str, object]]) -> str:
    table = env.table(name)
    client = env.connections.bigquery_client()
    schema = [bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("request", "JSON")]
    client.create_table(bigquery.Table(table, schema=schema), exists_ok=True)
    client.load_table_from_json(
        [{"id": i, "request": json.dumps(body)} for i, body in enumerate(bodies)],
        table,
        job_config=bigquery.LoadJobConfig(schema=schema),
    ).result()
    return table


def true_tokens(bodies: list[dict[str, object]]) -> int:
    backend = FakeFastTestBackend()
    return sum(backend.count_tokens(gemini.to_prompt(body)) for body in bodies)


@pytest.fixture(scope="module")
def env(fake_stack: LocalStack) -> Env:
    env = Env(stack=fake_stack, dataset="cost_estimate")
    env.connections.bigquery_client().create_dataset(env.dataset, exists_ok=True)
    return env


def test_every_row_is_counted_when_the_table_is_small(env: Env) -> None:
    bodies = requests(40, seed=1)
    table = load(env, "small_requests", bodies)
    counter = VertexTokenCounter(env.connections)
    estimate = estimate_cost(env.warehouse, f"SELECT * FROM `{table}`", 40, MODEL, None, counter)
    assert estimate.input.tokens == true_tokens(bodies)
    assert estimate.input.counted_rows == 40 and estimate.input.error_tokens == 0
    assert "output caps" in estimate.output.basis and estimate.assumptions


def test_a_large_table_is_sampled_by_size_within_its_stated_error(env: Env) -> None:
    rows = FULL_COUNT_ROWS * 5
    bodies = requests(rows, seed=2)
    table = load(env, "large_requests", bodies)
    counter = VertexTokenCounter(env.connections)
    estimate = estimate_cost(env.warehouse, f"SELECT * FROM `{table}`", rows, MODEL, None, counter)
    truth = true_tokens(bodies)
    assert estimate.input.counted_rows <= FULL_COUNT_ROWS
    assert abs(estimate.input.tokens - truth) <= max(estimate.input.error_tokens, 1)
    assert abs(estimate.input.tokens - truth) / truth < 0.10


def test_job_cost_sums_in_sql_match_python_row_costs(env: Env) -> None:
    backend = FakeFastTestBackend()
    system = " ".join(f"rule{i}" for i in range(1100))
    prompts = [
        gemini.to_prompt(
            {
                "systemInstruction": {"parts": [{"text": system}]},
                "contents": [{"role": "user", "parts": [{"text": f"review {i}"}]}],
                "generationConfig": {"thinkingConfig": {"thinkingBudget": 50}},
            }
        )
        for i in range(5)
    ]
    responses = [gemini.to_response(answer, backend.model_version) for answer in backend.generate(prompts)]
    table = env.table("job_output")
    client = env.connections.bigquery_client()
    schema = [
        bigquery.SchemaField("response", "JSON"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("processed_time", "TIMESTAMP"),
    ]
    client.create_table(bigquery.Table(table, schema=schema), exists_ok=True)
    now = datetime.now(UTC).isoformat()
    client.load_table_from_json(
        [{"response": json.dumps(response), "status": "", "processed_time": now} for response in responses]
        + [{"status": "Bad Request", "processed_time": now}],
        table,
        job_config=bigquery.LoadJobConfig(schema=schema),
    ).result()
    usage = job_usage(env.warehouse, table, MODEL, "gemini")
    flash = catalog().get(MODEL)
    rows = [Usage.from_metadata(response["usageMetadata"]) for response in responses]
    assert usage.cost_usd == pytest.approx(sum(model_cost(flash, row, utc_today()) or 0 for row in rows), rel=1e-9)
    assert usage.thoughts == sum(row.thoughts for row in rows) > 0
    assert usage.cached_content == 4 * 1100
