"""The README's demo, end to end with the real local model (SmolLM2): every valid row answered by it."""

from __future__ import annotations

import random
import socket
import subprocess
import sys

import pytest

from tests.e2e.helpers import Env
from vertex_batch.local.gemini import batch_model_version
from vertex_batch.local.stack import HOST, LocalStack, StackConfig
from vertex_batch.settings import RequestModelDefaults

BAD_ROLE_MESSAGE = "Please use a valid role: user, model."


def free_port_block(size: int = 4) -> int:
    """The first of ``size`` consecutive free ports on 127.0.0.1."""
    for _ in range(100):
        base = random.randrange(20000, 60000)
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports")


@pytest.mark.model
@pytest.mark.slow
def test_demo_command_answers_every_valid_row_with_smollm2(tmp_path) -> None:
    base = free_port_block()
    state = tmp_path / "state"
    config = StackConfig(
        state_dir=state,
        bigquery_port=base,
        bigquery_grpc_port=base + 1,
        gcs_port=base + 2,
        vertex_port=base + 3,
        backend="smollm2",
    )
    command = [
        sys.executable,
        "-m",
        "vertex_batch.cli",
        "demo",
        "--state-dir",
        str(state),
        "--base-port",
        str(base),
        "--keep-running",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "demo_review_results: 300 rows, 299 answered by the local model, 1 failed" in done.stdout
        assert BAD_ROLE_MESSAGE in done.stdout

        env = Env(stack=LocalStack(config), dataset="vertex_batch_demo")
        rows = env.warehouse.run(
            f"SELECT review_id, rating, response_text, finish_reason, prompt_tokens, candidate_tokens, "
            f"total_tokens, model_version, avg_logprobs, predicted_sentiment, is_success, error_code "
            f"FROM `{env.table('demo_review_results')}`"
        )
        # The embeddings step: every review embedded by mean-pooled SmolLM2, 64 values each.
        assert "demo_review_similar_reviews: most similar reviews" in done.stdout
        (embedded,) = env.warehouse.run(
            f"SELECT COUNTIF(is_success AND dimensions = 64) AS ok FROM `{env.table('demo_review_embedding_results')}`"
        )
        (similar,) = env.warehouse.run(f"SELECT COUNT(*) AS n FROM `{env.table('demo_review_similar_reviews')}`")
    finally:
        LocalStack(config).down()
    ok = [row for row in rows if row["is_success"]]
    assert len(rows) == 300 and len(ok) == 299
    for row in ok:
        assert row["model_version"] == batch_model_version(RequestModelDefaults().model)
        assert row["response_text"].strip()
        assert row["finish_reason"] in ("STOP", "MAX_TOKENS")
        assert row["prompt_tokens"] > 10 and 0 < row["candidate_tokens"] <= 8
        assert row["total_tokens"] == row["prompt_tokens"] + row["candidate_tokens"]
        assert row["avg_logprobs"] is not None and row["avg_logprobs"] <= 0
    # A 135M model is no judge of sentiment, but it must recognise some obviously positive reviews.
    positive = [row for row in ok if row["rating"] == 5]
    assert sum(row["predicted_sentiment"] == "positive" for row in positive) >= len(positive) // 4
    assert embedded["ok"] == 300
    assert similar["n"] == 300, "every review has its most similar review"
    (bad,) = [row for row in rows if not row["is_success"]]
    assert bad["error_code"] == 400
