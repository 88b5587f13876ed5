"""Helpers that run the dbt package against the local BigQuery emulator (used by conftest.py and the tests).

Each dbt invocation goes through ``dbtRunner`` with its own target and log paths; each test module works in
its own dataset.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from google.cloud import bigquery

from vertex_batch.local.stack import StackConfig

REPO = Path(__file__).resolve().parents[2]
PROFILES_DIR = REPO / "profiles"
INTEGRATION_DIR = REPO / "integration_tests"


@dataclass(frozen=True)
class DbtResult:
    """Outcome of one dbt invocation: success flag, per-node statuses, failures and the raw result."""

    success: bool
    statuses: dict[str, str]
    failures: dict[str, int]
    messages: dict[str, str]
    raw: object

    def status(self, name: str) -> str:
        """Status of the node whose unique id ends with ``name`` (e.g. ``demo_review_results``)."""
        matches = [uid for uid in self.statuses if uid.endswith("." + name) or uid == name]
        assert matches, f"no node named {name} in {sorted(self.statuses)}"
        return self.statuses[matches[0]]


@dataclass(frozen=True)
class Warehouse:
    """The emulator's project, a client for it, and helpers to query a dataset."""

    config: StackConfig
    client: bigquery.Client

    @property
    def project(self) -> str:
        return self.config.project

    def query(self, sql: str) -> list[dict[str, object]]:
        return [dict(row) for row in self.client.query(sql).result()]

    def run(self, sql: str) -> None:
        self.client.query(sql).result()


def new_dataset(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class Dbt:
    """Runs dbt commands on one project, in one dataset, with its own target and log folders."""

    def __init__(self, project_dir: Path, dataset: str, work_dir: Path) -> None:
        self.project_dir = project_dir
        self.dataset = dataset
        self.target_path = work_dir / "target"
        self.log_path = work_dir / "logs"

    def __call__(self, *args: str, expect_success: bool | None = True) -> DbtResult:
        from dbt.cli.main import dbtRunner

        os.environ["VERTEX_BATCH_DATASET"] = self.dataset
        command = [*args, "--project-dir", str(self.project_dir), "--profiles-dir", str(PROFILES_DIR)]
        if args[0] != "deps":  # deps writes no target and takes no --target-path
            command += ["--target-path", str(self.target_path), "--log-path", str(self.log_path)]
        outcome = dbtRunner().invoke(command)
        statuses: dict[str, str] = {}
        failures: dict[str, int] = {}
        messages: dict[str, str] = {}
        results = getattr(outcome.result, "results", None) or []
        for item in results:
            node = getattr(item, "node", None)
            if node is None:
                continue
            statuses[node.unique_id] = str(item.status)
            failures[node.unique_id] = int(getattr(item, "failures", 0) or 0)
            messages[node.unique_id] = str(getattr(item, "message", "") or "")
        result = DbtResult(bool(outcome.success), statuses, failures, messages, outcome)
        if expect_success is not None:
            detail = {
                uid: (statuses[uid], messages[uid]) for uid in statuses if statuses[uid] not in ("success", "pass")
            }
            assert result.success == expect_success, (
                f"dbt {' '.join(args)} success={result.success}, expected {expect_success}: "
                f"{detail or outcome.exception}"
            )
        return result
