"""The chaos run (``benchmarks/chaos.py``), short: two request models in several chunks with retryable row
failures, the runner SIGKILLed or interrupted and the batch service SIGKILLed five times at random moments,
restarted each time until the run completes; then no row lost, none landed or paid twice, nothing left behind."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import chaos_module, running_stack, use_env

pytestmark = pytest.mark.slow

chaos = chaos_module()


def test_five_kills_lose_no_row_and_pay_none_twice(tmp_path, monkeypatch) -> None:
    faults = ["--fault-row-error-rate", "0.15", "--fault-row-delay-s", "0.05", "--fault-seed", "11"]
    with running_stack(tmp_path / "stack", "fake-fast-test", *faults, "--chunk-rows", "8") as stack:
        run = chaos.Chaos(
            use_env(monkeypatch, stack, "e2e_chaos"), tmp_path, models=2, rows=40, rows_per_job=20, max_attempts=8,
            kills=5, seed=11, say=lambda text: None,
        )  # fmt: skip
        run.run()
        figures = run.check()
    assert chaos.verdict(figures) == [], (figures, run.runners, run.mismatched_jobs)
    assert figures["once"] + figures["failed"] == figures["rows"] == 80
    assert 1 <= sum(figures["kills"].values()) <= 5
