"""Vertex AI batch prediction jobs through the official ``JobServiceClient`` (``ports.JobService``).

Translates both ways: ``jobs.JobSpec`` into a ``BatchPredictionJob``, the service's answers into ``jobs.JobSnapshot``,
and its exceptions into ``errors`` (``JobNotFound``, ``JobError``, ``ServiceUnavailable``, ``ConfigurationError``),
so the core never sees a Google type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.api_core import exceptions as core
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1

from vertex_batch.catalog import catalog, model_name
from vertex_batch.connections import Connections
from vertex_batch.errors import ConfigurationError, JobError, JobNotFound, ServiceUnavailable
from vertex_batch.jobs import JobSnapshot, JobSpec, JobState
from vertex_batch.transient_errors import is_transient_api_error

API_RETRY = Retry(predicate=is_transient_api_error, initial=0.5, maximum=20.0, multiplier=2.0, timeout=300.0)
#: Seconds one create may take. A create is never retried here: a retried create whose first reply was lost makes
#: a second, paid job; ``job_create.create_once`` looks the job up by its labels before creating again.
CREATE_TIMEOUT_S = 120.0


def model_resource(model: str, project: str, location: str) -> str:
    """The model's full resource name: ``projects/P/locations/L/publishers/<publisher>/models/M`` for a catalog
    model (its publisher from the catalog), the given name for a tuned model or a full resource name."""
    if model.startswith("projects/"):
        return model
    if not model.startswith("publishers/"):
        info = catalog().find(model)
        publisher = info.publisher if info is not None else "google"
        model = f"publishers/{publisher}/models/{model_name(model)}"
    return f"projects/{project}/locations/{location}/{model}"


def job_proto(spec: JobSpec, project: str, location: str) -> aiplatform_v1.BatchPredictionJob:
    """The ``BatchPredictionJob`` to create for ``spec``."""
    gcs_in = spec.input_uri.startswith("gs://")
    gcs_out = spec.output_uri.startswith("gs://")
    return aiplatform_v1.BatchPredictionJob(
        display_name=spec.display_name,
        model=model_resource(spec.model, project, location),
        labels=spec.labels,
        **({"model_parameters": spec.model_parameters} if spec.model_parameters is not None else {}),
        input_config=aiplatform_v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl" if gcs_in else "bigquery",
            gcs_source=aiplatform_v1.GcsSource(uris=[spec.input_uri]) if gcs_in else None,
            bigquery_source=None if gcs_in else aiplatform_v1.BigQuerySource(input_uri=spec.input_uri),
        ),
        output_config=aiplatform_v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl" if gcs_out else "bigquery",
            gcs_destination=aiplatform_v1.GcsDestination(output_uri_prefix=spec.output_uri) if gcs_out else None,
            bigquery_destination=None if gcs_out else aiplatform_v1.BigQueryDestination(output_uri=spec.output_uri),
        ),
    )


def snapshot_of(job: aiplatform_v1.BatchPredictionJob) -> JobSnapshot:
    """What the runner keeps of a ``BatchPredictionJob``."""
    stats = job.completion_stats
    info = job.output_info
    output_table = None
    if info.bigquery_output_dataset and info.bigquery_output_table:
        output_table = f"{info.bigquery_output_dataset.removeprefix('bq://')}.{info.bigquery_output_table}"
    return JobSnapshot(
        name=job.name,
        display_name=job.display_name,
        state=JobState.parse(aiplatform_v1.JobState(job.state).name),
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


class JobClient:
    """``ports.JobService`` over ``JobServiceClient``: retries on transient errors, one-line errors otherwise."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.client = connections.job_service_client()
        self.parent = f"projects/{connections.project}/locations/{connections.location}"

    def create(self, spec: JobSpec) -> JobSnapshot:
        """Submit a job once (no retry: see ``CREATE_TIMEOUT_S``); map the service's refusals to one-line errors
        and a failure that may have created the job anyway (429, 5xx, timeout, reset) to ``ServiceUnavailable``."""
        job = job_proto(spec, self.connections.project, self.connections.location)
        try:
            created = self.client.create_batch_prediction_job(
                parent=self.parent, batch_prediction_job=job, retry=None, timeout=CREATE_TIMEOUT_S
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
        except Exception as error:
            if is_transient_api_error(error):
                raise ServiceUnavailable(f"could not create the batch job for {spec.input_uri}: {error}") from error
            if isinstance(error, core.GoogleAPICallError):
                raise JobError(f"could not create the batch job for {spec.input_uri}: {error}") from error
            raise
        return snapshot_of(created)

    def get(self, name: str) -> JobSnapshot:
        try:
            return snapshot_of(self.client.get_batch_prediction_job(name=name, retry=API_RETRY))
        except core.NotFound as error:
            raise JobNotFound(f"job {name} not found") from error
        except (core.GoogleAPICallError, core.RetryError) as error:
            raise ServiceUnavailable(f"could not read job {name}: {error}") from error

    def find(self, labels: Mapping[str, str]) -> list[JobSnapshot]:
        """Jobs carrying every one of ``labels``, newest first."""
        query = " AND ".join(f'labels.{key}="{value}"' for key, value in sorted(labels.items()))
        try:
            pages = self.client.list_batch_prediction_jobs(
                request={"parent": self.parent, "filter": query, "page_size": 100}, retry=API_RETRY
            )
            jobs = [snapshot_of(job) for job in pages]
        except (core.GoogleAPICallError, core.RetryError) as error:
            raise ServiceUnavailable(f"could not list jobs in {self.parent}: {error}") from error
        return sorted(jobs, key=lambda j: j.create_time or datetime.min, reverse=True)

    def cancel(self, name: str) -> None:
        """Ask the service to cancel; a job that already ended is left as it is. The service refuses that with
        ``400 FAILED_PRECONDITION`` ("Cannot cancel BatchPredictionJob … because it is in state …"), which the REST
        transport raises as a plain ``BadRequest``: the job's own state decides."""
        try:
            self.client.cancel_batch_prediction_job(name=name, retry=API_RETRY)
        except core.BadRequest as error:
            if self.get(name).done:
                return
            raise JobError(f"could not cancel {name}: {error}") from error
        except (core.GoogleAPICallError, core.RetryError) as error:
            raise JobError(f"could not cancel {name}: {error}") from error
