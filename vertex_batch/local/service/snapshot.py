"""A job's input, copied once when the job starts, so the job works on a fixed set of rows.

``<state>/jobs/<id>/input.jsonl`` holds one row per line; ``input.meta.json`` (written last, atomically)
marks the copy complete and records the input columns and row count. A restarted job reuses the copy.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """A complete copy of a job's input rows."""

    directory: Path
    count: int
    columns: list[dict[str, str]] | None  # BigQuery input columns; None for JSONL input

    def rows(self, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(row index, row)`` from ``start`` on."""
        with (self.directory / "input.jsonl").open(encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                if index >= start:
                    yield index, json.loads(line)


def job_directory(state_dir: Path, job_id: str) -> Path:
    return state_dir / "jobs" / job_id


def load(state_dir: Path, job_id: str) -> Snapshot | None:
    """The job's snapshot if one was completed."""
    directory = job_directory(state_dir, job_id)
    meta_path = directory / "input.meta.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    return Snapshot(directory, int(meta["count"]), meta.get("columns"))


def write(
    state_dir: Path, job_id: str, rows: Iterable[dict[str, Any]], columns: list[dict[str, str]] | None
) -> Snapshot:
    """Copy ``rows`` to the job's snapshot and mark it complete."""
    directory = job_directory(state_dir, job_id)
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    partial = directory / "input.jsonl.partial"
    with partial.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(directory / "input.jsonl")
    meta_partial = directory / "input.meta.json.partial"
    meta_partial.write_text(json.dumps({"count": count, "columns": columns}))
    meta_partial.replace(directory / "input.meta.json")
    return Snapshot(directory, count, columns)


def remove(state_dir: Path, job_id: str) -> None:
    """Forget a job's snapshot (after the job is deleted)."""
    shutil.rmtree(job_directory(state_dir, job_id), ignore_errors=True)
