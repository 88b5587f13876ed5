"""What the CLI prints: a run's outcome line, a run's status, the model catalog. Text only, no logic of its own."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any, TextIO

from vertex_batch.catalog import Catalog, ModelInfo
from vertex_batch.report import (
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_RUNNING,
    BuildReport,
)
from vertex_batch.runner import RunStatus


def outcome_line(report: BuildReport) -> str | None:
    """The last line of ``build``/``submit``/``resume``: how the run ended and what the exit code means."""
    words = {
        EXIT_OK: "every job succeeded",
        EXIT_RUNNING: "jobs still running; run `vertex-batch resume` again later",
        EXIT_BUDGET: f"stopped by the budget: {report.budget_stop}",
        EXIT_PARTIAL: "finished, but some rows failed permanently (see the results' error columns)",
        EXIT_FAILED: "at least one job did not succeed",
        EXIT_INTERRUPTED: "interrupted",
    }
    if report.exit_code not in words:
        return None
    if report.refused and not report.budget_stop and not report.interrupted:
        words[report.exit_code] = f"{len(report.refused)} request model(s) refused before anything was submitted"
    verb = "dry run" if report.dry_run else "run"
    return f"vertex-batch {verb} {report.run_id}: {words[report.exit_code]}"


def print_outcome(report: BuildReport, stream: TextIO | None = None) -> None:
    line = outcome_line(report)
    if line:
        print(line, file=stream or sys.stderr)  # the stream of now (a test may have swapped it since import)


def print_status(status: RunStatus, as_json: bool) -> None:
    """``vertex-batch status``: one line per job, then the run's cost per request model."""
    if as_json:
        print(json.dumps({"run_id": status.run_id, "jobs": status.jobs, "cost": status.cost.to_json()}, indent=2))
        return
    if not status.jobs:
        print("no jobs in the ledger yet" if status.run_id is None else f"no jobs for run {status.run_id}")
        return
    print(f"run {status.run_id}")
    for row in status.jobs:
        print(
            f"  {row['request_model']} a{row['attempt']} c{row['chunk']} {row['state']:<20} "
            f"{row['successful']}/{row['rows']} ok, {row['failed']} failed, landed={row['landed']}  {row['job']}"
        )
    for line in status.cost.describe():
        print(line)


def model_json(info: ModelInfo, today: date) -> dict[str, Any]:
    """One model of ``vertex-batch models --json``."""
    return {
        "id": info.id,
        "aliases": list(info.aliases),
        "name": info.name,
        "publisher": info.publisher,
        "family": info.family,
        "kind": info.kind,
        "status": info.status(today),
        "release": info.release.isoformat() if info.release else None,
        "access_blocked": info.access_blocked.isoformat() if info.access_blocked else None,
        "retirement": info.retirement.isoformat() if info.retirement else None,
        "replacement": info.replacement,
        "regions": None if info.regions is None else list(info.regions),
        "global_endpoint": info.global_endpoint,
        "multi_region_endpoints": list(info.multi_region_endpoints),
        "batch_io": list(info.batch_io),
        "max_rows_per_job": info.max_rows_per_job,
        "flex": info.flex,
        "prices": [price.model_dump(mode="json") for price in info.prices],
    }


def print_models(catalog: Catalog, today: date, as_json: bool, everything: bool = False) -> None:
    """``vertex-batch models``: the catalog (retired models only with ``everything``)."""
    shown = [model for model in catalog.models if everything or model.status(today) != "retired"]
    if as_json:
        print(json.dumps([model_json(model, today) for model in shown], indent=2))
        return
    print(f"model catalog checked {catalog.checked.isoformat()} (vertex_batch/catalog.toml); today {today.isoformat()}")
    for model in shown:
        price = model.price_at(today)
        cost = f"${price.input:g}/${price.output:g} per 1M {price.unit}s" if price else "no price"
        retires = f", retires {model.retirement}" if model.retirement else ""
        replacement = f" -> {model.replacement}" if model.replacement and model.status(today) == "retired" else ""
        flex = ", flex" if model.flex else ""
        print(
            f"  {model.id:<40} {model.family:<17} {model.status(today):<9} {cost} (standard){flex}{retires}"
            f"{replacement}"
        )
