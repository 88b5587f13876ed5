"""Shared pieces of the conformance suite: the rows every job carries and the checks on its outcome.

Every flow ends on a job with one failed row: Vertex AI ends such a Gemini job ``JOB_STATE_SUCCEEDED``, with
the failure in the row's ``status`` and in ``completionStats.failedCount``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PROJECT = "local-project"
LOCATION = "us-central1"
#: Where the catalog serves Claude and Llama.
EAST = "us-east5"
MODEL = "gemini-3.5-flash"
PUBLISHER_MODEL = f"publishers/google/models/{MODEL}"
#: The row status Vertex AI gives a request whose content has the role "tester".
BAD_ROLE_STATUS = (
    'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
    '"status": "INVALID_ARGUMENT"}}'
)


@dataclass(frozen=True)
class Inputs:
    """One job's input (``bq://p.ds.t`` or ``gs://b/f.jsonl``), destination and row count."""

    kind: str
    source: str
    destination: str
    rows: int


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def request_for(text: str, role: str = "user") -> dict[str, Any]:
    return {"contents": [{"role": role, "parts": [{"text": text}]}]}


def bad_and_good_rows(count: int) -> list[dict[str, Any]]:
    """``count`` requests: the first has the invalid role "tester", the others are good."""
    return [request_for("Who are you?", role="tester")] + [request_for(f"Say {n}.") for n in range(1, count)]


def assert_one_failed_row(rows: Iterable[dict[str, Any]], count: int) -> None:
    """The output holds every input row once: row 0 failed as Vertex AI fails it, the others succeeded."""
    statuses = {int(row["id"]): row["status"] for row in rows}
    assert statuses == {0: BAD_ROLE_STATUS, **{n: "" for n in range(1, count)}}


def jsonl_rows(texts: Iterable[str]) -> list[dict[str, Any]]:
    """Output rows from the texts of JSONL files."""
    return [json.loads(line) for text in texts for line in text.splitlines() if line.strip()]
