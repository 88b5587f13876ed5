"""Vertex AI batch prediction jobs through the official ``JobServiceClient``: create, find, watch, cancel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core import exceptions as core
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1

from vertex_batch.connections import Connections
from vertex_batch.errors import ConfigurationError, JobError
from vertex_batch.transient_errors import is_transient_api_error

JobState = aiplatform_v1.JobState

# One owner of what a job's end state means. Gemini jobs whose rows partly failed may end SUCCEEDED (the failed
# rows carry their status) or PARTIALLY_SUCCEEDED: both are a success of the job. PAUSED counts as an end state
# because a paused batch job never resumes by itself (the SDKs' own wait loops miss some of these).
SUCCESS_STATES = frozenset({JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_PARTIALLY_SUCCEEDED})
FAILED_STATES = frozenset(
    {JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_EXPIRED, JobState.JOB_STATE_PAUSED}
)
TERMINAL_STATES = SUCCESS_STATES | FAILED_STATES
RUNNING_STATES = frozenset({JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_UPDATING})


def state_name(state: JobState) -> str:
    """The short name people read (``SUCCEEDED``), as written in the ledger and reports."""
    return JobState(state).name.removeprefix("JOB_STATE_")


def parse_state(name: str) -> JobState:
    """The ``JobState`` of a short or full name (``RUNNING`` or ``JOB_STATE_RUNNING``)."""
    if not name:
        return JobState.JOB_STATE_UNSPECIFIED
    return JobState[name if name.startswith("JOB_STATE_") else f"JOB_STATE_{name}"]


API_RETRY = Retry(predicate=is_transient_api_error, initial=0.5, maximum=20.0, multiplier=2.0, timeout=300.0)


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
        return state_name(self.state)

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def from_proto(cls, job: aiplatform_v1.BatchPredictionJob) -> JobSnapshot:
        stats = job.completion_stats
        info = job.output_info
        output_table = None
        if info.bigquery_output_dataset and info.bigquery_output_table:
            output_table = f"{info.bigquery_output_dataset.removeprefix('bq://')}.{info.bigquery_output_table}"
        return cls(
            name=job.name,
            display_name=job.display_name,
            state=JobState(job.state),
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
            input_uri=next(iter(job.input_config.gcs_source.uris), "") or job.input_config.bigquery_source.input_uri,
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
    # Job-level modelParameters (text-embedding jobs: outputDimensionality, autoTruncate); None: not sent.
    model_parameters: dict[str, Any] | None = field(default=None, hash=False)

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
            **({"model_parameters": self.model_parameters} if self.model_parameters is not None else {}),
            input_config=aiplatform_v1.BatchPredictionJob.InputConfig(
                instances_format="jsonl" if gcs_in else "bigquery",
                gcs_source=aiplatform_v1.GcsSource(uris=[self.input_uri]) if gcs_in else None,
                bigquery_source=None if gcs_in else aiplatform_v1.BigQuerySource(input_uri=self.input_uri),
            ),
            output_config=aiplatform_v1.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl" if gcs_out else "bigquery",
                gcs_destination=aiplatform_v1.GcsDestination(output_uri_prefix=self.output_uri) if gcs_out else None,
                bigquery_destination=None if gcs_out else aiplatform_v1.BigQueryDestination(output_uri=self.output_uri),
            ),
        )


class JobClient:
    """A thin layer over ``JobServiceClient`` with retries and clear errors (the loop's ``JobService``)."""

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

    def find(self, labels: Mapping[str, str]) -> list[JobSnapshot]:
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
