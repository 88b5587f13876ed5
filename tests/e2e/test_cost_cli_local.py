"""Cost through the CLI on the local stack: a counted --dry-run estimate with its range, --max-cost that
refuses before submitting, exact cost per flattened row that sums to the ledger, and cost in `status`."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from tests.e2e.helpers import copy_project, use_env
from vertex_batch.cli import main
from vertex_batch.local.stack import LocalStack

SELECT = ["-s", "demo_review_requests+"]


def cli(*args: str) -> tuple[int, str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(args))
    return code, buffer.getvalue()


def test_estimate_budget_cost_per_row_and_status(fake_stack: LocalStack, tmp_path, monkeypatch, capsys) -> None:
    project = copy_project(tmp_path / "cost")
    env = use_env(monkeypatch, fake_stack, "e2e_cost")
    dbt_args = ["--project-dir", str(project), "--profiles-dir", str(project / "profiles")]

    code, _ = cli("build", *dbt_args, *SELECT, "--dry-run")
    err = capsys.readouterr().err
    assert code == 0
    assert "countTokens on" in err and "range $" in err and "assumption:" in err

    code, _ = cli("build", *dbt_args, *SELECT, "--max-cost", "0.000001")
    assert code == 2 and "above --max-cost" in capsys.readouterr().err
    assert not env.warehouse.exists(env.table("demo_review_requests__batch_output"))

    code, out = cli("build", *dbt_args, *SELECT, "--json")
    assert code == 3, "one demo row has an invalid role on purpose"
    report = json.loads(out[out.index("{\n") :])
    (model,) = [m for m in report["models"] if m["request_model"] == "demo_review_requests"]
    (spent,) = env.warehouse.run(f"SELECT SUM(actual_cost_usd) FROM `{env.table('vertex_batch_jobs')}`")[0]
    flattened = env.warehouse.run(
        f"SELECT SUM(cost_usd) AS total, COUNTIF(is_success AND cost_usd > 0) AS priced, "
        f"COUNTIF(NOT is_success AND cost_usd IS NULL) AS unpriced_failures FROM `{env.table('demo_review_results')}`"
    )[0]
    assert spent > 0 and flattened["total"] == pytest.approx(spent, rel=1e-9)
    assert model["actual_cost_usd"] == pytest.approx(spent, rel=1e-9)
    assert (flattened["priced"], flattened["unpriced_failures"]) == (299, 1)
    capsys.readouterr()

    code, out = cli("status", *dbt_args, "--json")
    assert code == 0
    cost = json.loads(out)["cost"]
    assert cost["spent_usd"] == pytest.approx(spent, abs=1e-8)
    assert "demo_review_requests" in cost["by_request_model"]
