"""Vertex AI batch prediction jobs through the official ``JobServiceClient``: create, find, watch, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from google.api_core import exceptions as core
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1

from vertex_batch.connections import Connections
from vertex_batch.errors import ConfigurationError, JobError
from vertex_batch.transient_errors import is_transient_api_error

# The SDKs' own wait loops miss some end states; the runner decides what is terminal itself.
TERMINAL_STATES = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PAUSED"})
SUCCESS_STATES = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED"})

API_RETRY = Retry(predicate=is_transient_api_error, initial=0.5, maximum=20.0, multiplier=2.0, timeout=300.0)


@dataclass(frozen=True)
class JobSnapshot:
    """What a ``get`` says about one job; ``state`` without the ``JOB_STATE_`` prefix."""

    name: str
    display_name: str
    state: str
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

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def from_proto(cls, job: aiplatform_v1.BatchPredictionJob) -> JobSnapshot:
        stats = job.completion_stats
        info = job.output_info
        output_table = None
        if info.bigquery_output_dataset and info.bigquery_output_table:
            output_table = (
                f"{info.bigquery_output_dataset.removeprefix('bq://')}.{info.bigquery_output_table}"
            )
        return cls(
            name=job.name,
            display_name=job.display_name,
            state=aiplatform_v1.JobState(job.state).name.removeprefix("JOB_STATE_"),
            successful=int(stats.successful_count or 0),
            failed=int(stats.failed_count or 0),
            incomplete=max(int(stats.incomplete_count or 0), 0),
            create_time=_time(job.create_time),
            start_time=_time(job.start_time),
            end_time=_time(job.end_time),
            error_message=job.error.message or "",
            output_table=output_table,
            output_directory=info.gcs_output_directory or None,
            labels=dict(job.labels),
        )


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) and value.timestamp() > 0 else None


@dataclass(frozen=True)
class JobSpec:
    """What to submit: one input (BigQuery table or GCS JSONL) and one destination."""

    display_name: str
    model: str
    input_uri: str
    output_uri: str
    labels: dict[str, str]

    def to_proto(self, project: str, location: str) -> aiplatform_v1.BatchPredictionJob:
        model = self.model
        if "/" not in model:
            model = f"publishers/google/models/{model}"
        if model.startswith("publishers/"):
            model = f"projects/{project}/locations/{location}/{model}"
        gcs_in = self.input_uri.startswith("gs://")
        gcs_out = self.output_uri.startswith("gs://")
        return aiplatform_v1.BatchPredictionJob(
            display_name=self.display_name,
            model=model,
            labels=self.labels,
            input_config=aiplatform_v1.BatchPredictionJob.InputConfig(
                instances_format="jsonl" if gcs_in else "bigquery",
                gcs_source=aiplatform_v1.GcsSource(uris=[self.input_uri]) if gcs_in else None,
                bigquery_source=None if gcs_in else aiplatform_v1.BigQuerySource(input_uri=self.input_uri),
            ),
            output_config=aiplatform_v1.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl" if gcs_out else "bigquery",
                gcs_destination=aiplatform_v1.GcsDestination(output_uri_prefix=self.output_uri)
                if gcs_out
                else None,
                bigquery_destination=None
                if gcs_out
                else aiplatform_v1.BigQueryDestination(output_uri=self.output_uri),
            ),
        )


class JobClient:
    """A thin layer over ``JobServiceClient`` with retries, clear errors and a wait loop."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.client = connections.job_service_client()
        self.parent = f"projects/{connections.project}/locations/{connections.location}"

    def create(self, spec: JobSpec) -> JobSnapshot:
        """Submit a job; map the service's refusals to one-line errors."""
        job = spec.to_proto(self.connections.project, self.connections.location)
        try:
            created = self.client.create_batch_prediction_job(
                parent=self.parent, batch_prediction_job=job, retry=API_RETRY
            )
        except core.NotFound as error:
            raise JobError(
                f"model {spec.model!r} or project/region {self.parent!r} not found: {error.message} "
                "(check meta.vertex_batch.model and the region)"
            ) from error
        except core.PermissionDenied as error:
            raise ConfigurationError(
                f"permission denied creating a batch job in {self.parent}: {error.message} "
                "(enable the Vertex AI API and grant roles/aiplatform.user)"
            ) from error
        except (core.BadRequest, core.FailedPrecondition, core.AlreadyExists) as error:
            raise JobError(f"the batch job for {spec.input_uri} was refused: {error.message}") from error
        except core.GoogleAPICallError as error:
            raise JobError(f"could not create the batch job for {spec.input_uri}: {error}") from error
        return JobSnapshot.from_proto(created)

    def get(self, name: str) -> JobSnapshot:
        return JobSnapshot.from_proto(self.client.get_batch_prediction_job(name=name, retry=API_RETRY))

    def find(self, labels: dict[str, str]) -> list[JobSnapshot]:
        """Jobs carrying every one of ``labels``, newest first."""
        query = " AND ".join(f'labels.{key}="{value}"' for key, value in sorted(labels.items()))
        pages = self.client.list_batch_prediction_jobs(
            request={"parent": self.parent, "filter": query, "page_size": 100}, retry=API_RETRY
        )
        jobs = [JobSnapshot.from_proto(job) for job in pages]
        return sorted(jobs, key=lambda j: j.create_time or datetime.min, reverse=True)

    def cancel(self, name: str) -> None:
        """Ask the service to cancel; a job that already ended is left as it is."""
        try:
            self.client.cancel_batch_prediction_job(name=name, retry=API_RETRY)
        except core.FailedPrecondition:
            return

    def wait(
        self,
        name: str,
        on_update: Callable[[JobSnapshot], None] | None = None,
        poll_seconds: float = 10.0,
    ) -> JobSnapshot:
        """Poll until the job reaches a terminal state, calling ``on_update`` after each poll."""
        while True:
            snapshot = self.get(name)
            if on_update:
                on_update(snapshot)
            if snapshot.done:
                return snapshot
            time.sleep(poll_seconds)
