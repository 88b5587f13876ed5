"""Creating each batch job once, whatever happens to the create call or to the process around it.

``batchPredictionJobs.create`` takes no request id (``CreateBatchPredictionJobRequest`` has only ``parent`` and
``batch_prediction_job``: googleapis/googleapis ``google/cloud/aiplatform/v1/job_service.proto``), so a create
whose reply is lost after the service made the job (a 503, a reset connection, a timeout) cannot be told from
one that never arrived, and sending it again makes a second job that is paid again. Hence:

1. every job carries labels that identify it: run, request model, request table, rows (fingerprint), chunk and
   attempt (``job_labels``);
2. the ledger records the job's *intent* (an entry named ``intent/<run>/<rows>/<attempt>/<chunk>``) before the
   create, and the job's name replaces it once known;
3. the create is sent once (``job_client`` passes no retry to the client library); when it fails with a
   retryable error (``errors.ServiceUnavailable``) the job is looked up by its labels before any second create
   (``create_once``);
4. an intent that a killed process left behind is resolved by the next run: the job its labels find is adopted,
   else the intent and its staged input are dropped (``JobLoop.attach``).

Plain logic over ``ports.JobService`` and ``ports.Clock``: no Google client is imported here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from vertex_batch.errors import ServiceUnavailable
from vertex_batch.jobs import (
    LABEL_ATTEMPT,
    LABEL_CHUNK,
    LABEL_INPUT,
    LABEL_MODEL,
    LABEL_RUN,
    LABEL_TABLE,
    JobSnapshot,
    JobSpec,
    label_value,
    table_label,
)
from vertex_batch.ports import Clock, JobService
from vertex_batch.request_models import RequestModel

INTENT_PREFIX = "intent/"
CREATE_TRIES = 6  # lookups after 2, 4, 8, 16, 32 and 64 s: about two minutes in all
CREATE_PAUSE_S = 2.0  # before the first lookup after a failed create; doubled before each later one


def job_labels(run_id: str, model: RequestModel, fingerprint: str, chunk: int, attempt: int) -> dict[str, str]:
    """The labels of one job: together they name it; without the run they name the same rows across runs."""
    return {
        LABEL_RUN: label_value(run_id),
        LABEL_MODEL: label_value(model.label),
        LABEL_TABLE: table_label(model.table_id),
        LABEL_INPUT: fingerprint,
        LABEL_CHUNK: str(chunk),
        LABEL_ATTEMPT: str(attempt),
    }


def intent_name(labels: Mapping[str, str]) -> str:
    """The ledger name of a job about to be created (labels are label-safe: no ``/`` in them)."""
    parts = (labels[LABEL_RUN], labels[LABEL_INPUT], labels[LABEL_ATTEMPT], labels[LABEL_CHUNK])
    return INTENT_PREFIX + "/".join(parts)


def is_intent(job_name: str) -> bool:
    return job_name.startswith(INTENT_PREFIX)


def intent_labels(job_name: str, model: RequestModel) -> dict[str, str]:
    """The labels the job of an intent carries (the lookup that resolves the intent)."""
    run, fingerprint, attempt, chunk = job_name.removeprefix(INTENT_PREFIX).split("/")
    return {
        LABEL_RUN: run,
        LABEL_MODEL: label_value(model.label),
        LABEL_TABLE: table_label(model.table_id),
        LABEL_INPUT: fingerprint,
        LABEL_CHUNK: chunk,
        LABEL_ATTEMPT: attempt,
    }


def find_created(jobs: JobService, labels: Mapping[str, str], taken: Collection[str]) -> JobSnapshot | None:
    """The newest job carrying every one of ``labels`` that is not ``taken`` (landed or tracked elsewhere)."""
    return next((job for job in jobs.find(labels) if job.name not in taken), None)


def create_once(
    jobs: JobService,
    spec: JobSpec,
    clock: Clock,
    taken: Collection[str] = (),
    tries: int = CREATE_TRIES,
    pause_s: float = CREATE_PAUSE_S,
) -> tuple[JobSnapshot, bool]:
    """Create the job of ``spec``; after a retryable failure, look it up by its labels before creating again.

    Returns the job and whether it was found by the lookup (its create's reply was lost). Raises the last
    ``ServiceUnavailable`` when every try failed and no job was found; other errors (a refusal) at once.
    """
    failure: ServiceUnavailable | None = None
    for attempt in range(1, tries + 1):
        try:
            return jobs.create(spec), False
        except ServiceUnavailable as error:
            failure = error
        clock.sleep(pause_s * 2 ** (attempt - 1))
        found = find_created(jobs, spec.labels, taken)
        if found is not None:
            return found, True
    assert failure is not None
    raise failure
