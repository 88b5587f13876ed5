"""The job store: batch-prediction jobs and delete operations in one sqlite file under the state folder.

Every change is one short transaction behind a lock, so API threads and job workers can share the store,
and a job's record survives a crash of the service.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLING = "JOB_STATE_CANCELLING"
CANCELLED = "JOB_STATE_CANCELLED"
#: The states a job ends in; every official client (aiplatform ``_JOB_COMPLETE_STATES``, vertexai
#: ``has_ended``, google-genai ``JOB_STATES_ENDED_VERTEX``) treats each of them as finished.
TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})

_JSON_FIELDS = ("labels", "spec", "error", "output_info")
_BOOL_FIELDS = ("cancel_requested", "output_created")


def now_us() -> int:
    """Now, in microseconds since the epoch."""
    return time.time_ns() // 1000


def new_id() -> str:
    """A fresh 19-digit int64 id, like the ids Vertex AI gives its jobs."""
    return str(10**18 + secrets.randbelow(9 * 10**18 - 10**18))


@dataclass(frozen=True)
class JobRecord:
    """One batch-prediction job as stored; ``resources.job_json`` turns it into the REST resource."""

    id: str
    project: str
    location: str
    display_name: str
    model: str
    model_id: str
    state: str
    create_us: int
    update_us: int
    labels: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    output_info: dict[str, Any] | None = None
    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    input_count: int | None = None
    start_us: int | None = None
    end_us: int | None = None
    cancel_requested: bool = False
    output_created: bool = False
    seq: int = 0

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/batchPredictionJobs/{self.id}"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def live_progress(self) -> bool:
        """Whether ``completionStats`` counts rows while the job runs. Vertex AI exports Cloud Storage
        output as it goes; "live progress" is not supported for jobs writing to BigQuery, whose counts
        appear only when the job ends."""
        return "bigqueryDestination" not in self.spec.get("outputConfig", {})


_COLUMNS = [f.name for f in fields(JobRecord) if f.name != "seq"]


class JobStore:
    """Jobs and operations in ``<state_dir>/jobs.sqlite3``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "jobs.sqlite3"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "id TEXT UNIQUE NOT NULL, project TEXT, location TEXT, display_name TEXT, model TEXT, "
                "model_id TEXT, state TEXT, create_us INTEGER, update_us INTEGER, labels TEXT, spec TEXT, "
                "error TEXT, output_info TEXT, successful INTEGER, failed INTEGER, incomplete INTEGER, "
                "input_count INTEGER, start_us INTEGER, end_us INTEGER, cancel_requested INTEGER, "
                "output_created INTEGER)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS operations (id TEXT PRIMARY KEY, body TEXT NOT NULL)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _encode(name: str, value: Any) -> Any:
        if name in _JSON_FIELDS:
            return None if value is None else json.dumps(value)
        if name in _BOOL_FIELDS:
            return int(bool(value))
        return value

    @staticmethod
    def _decode(row: sqlite3.Row) -> JobRecord:
        values = dict(row)
        for name in _JSON_FIELDS:
            values[name] = None if values[name] is None else json.loads(values[name])
        for name in _BOOL_FIELDS:
            values[name] = bool(values[name])
        values["labels"] = values["labels"] or {}
        values["spec"] = values["spec"] or {}
        return JobRecord(**values)

    def insert(self, job: JobRecord) -> JobRecord:
        """Store a new job; returns it with its sequence number."""
        with self._lock:
            cursor = self._db.execute(
                f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [self._encode(name, getattr(job, name)) for name in _COLUMNS],
            )
            return replace(job, seq=int(cursor.lastrowid or 0))

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._decode(row)

    def list(self, project: str | None = None, location: str | None = None) -> list[JobRecord]:
        """Jobs of a project and location (all when not given), newest first."""
        query, args = "SELECT * FROM jobs WHERE 1=1", []
        if project is not None:
            query, args = query + " AND project = ?", [*args, project]
        if location is not None:
            query, args = query + " AND location = ?", [*args, location]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq DESC", args).fetchall()
        return [self._decode(row) for row in rows]

    def in_states(self, states: Iterable[str]) -> list[JobRecord]:
        """Jobs in any of ``states``, oldest first."""
        states = list(states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in states)}) ORDER BY seq", states
            ).fetchall()
        return [self._decode(row) for row in rows]

    def update(self, job_id: str, *, only_from: Iterable[str] | None = None, **changes: Any) -> JobRecord | None:
        """Apply ``changes`` (and a fresh ``update_us``); with ``only_from``, only while the job is in one of
        those states. Returns the updated job, or ``None`` when it is gone or in another state."""
        changes.setdefault("update_us", now_us())
        sets = ", ".join(f"{name} = ?" for name in changes)
        args = [self._encode(name, value) for name, value in changes.items()]
        query = f"UPDATE jobs SET {sets} WHERE id = ?"
        args.append(job_id)
        if only_from is not None:
            states = list(only_from)
            query += f" AND state IN ({', '.join('?' for _ in states)})"
            args.extend(states)
        with self._lock:
            changed = self._db.execute(query, args).rowcount
            return self.get(job_id) if changed else None

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def put_operation(self, operation_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO operations (id, body) VALUES (?, ?)", (operation_id, json.dumps(body))
            )

    def get_operation(self, operation_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM operations WHERE id = ?", (operation_id,)).fetchone()
        return None if row is None else json.loads(row["body"])
