"""Batch jobs as the runner sees them: states, what to submit (``JobSpec``), what a poll says (``JobSnapshot``)
and the labels that identify a job. Plain data: no Google client is imported here (``job_client`` translates).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """``google.cloud.aiplatform.v1.JobState``, by the short name the ledger and reports use."""

    UNSPECIFIED = "UNSPECIFIED"
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"
    EXPIRED = "EXPIRED"
    UPDATING = "UPDATING"
    PARTIALLY_SUCCEEDED = "PARTIALLY_SUCCEEDED"

    @classmethod
    def parse(cls, name: str) -> JobState:
        """The state of a short or full name (``RUNNING`` or ``JOB_STATE_RUNNING``); ``''`` is UNSPECIFIED."""
        return cls(name.removeprefix("JOB_STATE_")) if name else cls.UNSPECIFIED


# One owner of what a job's end state means. Gemini jobs whose rows partly failed end SUCCEEDED (the failed rows
# carry their status); PARTIALLY_SUCCEEDED is a success of the job too. PAUSED counts as an end state because a
# paused batch job never resumes by itself (the SDKs' own wait loops miss some of these).
SUCCESS_STATES = frozenset({JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED})
FAILED_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, JobState.PAUSED})
TERMINAL_STATES = SUCCESS_STATES | FAILED_STATES
RUNNING_STATES = frozenset({JobState.RUNNING, JobState.UPDATING})

# --- labels: a job's identity across runs -----------------------------------------------------------
LABEL_RUN = "vertex_batch_run"
LABEL_MODEL = "vertex_batch_model"
LABEL_TABLE = "vertex_batch_table"
LABEL_INPUT = "vertex_batch_input"
LABEL_CHUNK = "vertex_batch_chunk"
LABEL_ATTEMPT = "vertex_batch_attempt"
#: Labels that identify the same job across runs: same table, same rows, same chunk and attempt.
IDENTITY_LABELS = (LABEL_MODEL, LABEL_TABLE, LABEL_INPUT, LABEL_CHUNK, LABEL_ATTEMPT)


def table_label(table_id: str) -> str:
    """A short, label-safe identity of a request table (``project.dataset.table``)."""
    return hashlib.sha256(table_id.encode()).hexdigest()[:16]


def label_value(text: str) -> str:
    """A Google label value: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


@dataclass(frozen=True)
class JobSpec:
    """What to submit: one input (BigQuery table or GCS JSONL) and one destination."""

    display_name: str
    model: str
    input_uri: str
    output_uri: str
    labels: dict[str, str]
    # Job-level modelParameters (embedding jobs: outputDimensionality, autoTruncate); None: not sent.
    model_parameters: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class JobSnapshot:
    """What a ``get`` says about one job."""

    name: str
    display_name: str
    state: JobState
    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str = ""
    output_table: str | None = None
    output_directory: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    input_uri: str = ""  # the job's input: ``bq://`` table or the first ``gs://`` source

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCESS_STATES

    @property
    def state_name(self) -> str:
        return self.state.value

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def lost(cls, name: str) -> JobSnapshot:
        """A job the service no longer knows: it ended without output."""
        return cls(name=name, display_name="", state=JobState.FAILED, error_message="job not found")
