"""A stored job as the REST ``BatchPredictionJob`` resource, in proto3 JSON as Vertex AI sends it.

Enums are strings unless the caller asked for ``enum-encoding=int``; int64 counts are JSON strings; zero
counts are omitted; ``error`` never has ``details`` (google-genai cannot parse them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf.timestamp_pb2 import Timestamp

from vertex_batch.local.service.store import (
    CANCELLED,
    CANCELLING,
    PENDING,
    RUNNING,
    JobRecord,
)

#: ``JobState`` names and numbers, from the client library's own enum.
JOB_STATE_NUMBERS: dict[str, int] = {state.name: state.value for state in aiplatform_v1.JobState}
#: ``modelVersionId`` is output only and filled in by the service; publisher Gemini models answer ``"1"``
#: (the create and get samples of Vertex AI's batch prediction docs).
PUBLISHER_MODEL_VERSION_ID = "1"


def rfc3339(us: int) -> str:
    """Microseconds since the epoch as proto3 JSON prints a ``Timestamp``: UTC, ``Z``, and 0, 3, 6 or 9
    fractional digits (``2024-11-01T18:13:16Z``, ``…16.826Z``, ``…16.826123Z``)."""
    stamp = Timestamp()
    stamp.FromMicroseconds(us)
    return stamp.ToJsonString()


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 timestamp as microseconds since the epoch; raises ``ValueError`` if malformed."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def completion_stats(job: JobRecord) -> dict[str, str] | None:
    """``completionStats`` with zero counts left out; ``None`` where Vertex AI sends none: pending jobs,
    jobs cancelled before any row completed, and running jobs without live progress (BigQuery output)."""
    if job.state == PENDING:
        return None
    if job.state in (RUNNING, CANCELLING) and not job.live_progress:
        return None
    if job.state == CANCELLED and job.successful + job.failed == 0:
        return None
    incomplete = job.incomplete
    if job.state in (RUNNING, CANCELLING):
        done = job.successful + job.failed
        incomplete = -1 if job.input_count is None else max(job.input_count - done, 0)
    counts = {
        "successfulCount": job.successful,
        "failedCount": job.failed,
        "incompleteCount": incomplete,
    }
    stats = {key: str(value) for key, value in counts.items() if value}
    return stats or None


def job_json(job: JobRecord, *, int_enums: bool = False) -> dict[str, Any]:
    """The ``BatchPredictionJob`` JSON of a stored job."""
    body: dict[str, Any] = {
        "name": job.name,
        "displayName": job.display_name,
        "model": job.model,
        "modelVersionId": PUBLISHER_MODEL_VERSION_ID,
    }
    body.update({key: value for key, value in job.spec.items() if key not in body})
    body["state"] = JOB_STATE_NUMBERS[job.state] if int_enums else job.state
    if job.error:
        body["error"] = {key: job.error[key] for key in ("code", "message") if key in job.error}
    if job.output_info:
        body["outputInfo"] = job.output_info
    stats = completion_stats(job)
    if stats:
        body["completionStats"] = stats
    body["createTime"] = rfc3339(job.create_us)
    if job.start_us:
        body["startTime"] = rfc3339(job.start_us)
    if job.end_us:
        body["endTime"] = rfc3339(job.end_us)
    body["updateTime"] = rfc3339(job.update_us)
    if job.labels:
        body["labels"] = job.labels
    return body


def delete_operation_json(name: str, created_us: int, api_version: str = "v1") -> dict[str, Any]:
    """The finished long-running ``Operation`` a delete returns (and its polls answer)."""
    stamp = rfc3339(created_us)
    return {
        "name": name,
        "metadata": {
            "@type": f"type.googleapis.com/google.cloud.aiplatform.{api_version}.DeleteOperationMetadata",
            "genericMetadata": {"createTime": stamp, "updateTime": stamp},
        },
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }
