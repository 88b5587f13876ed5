"""``job_client.JobClient`` at the edges: a create is sent once (no client-library retry) and a failure that may
have made the job anyway becomes ``ServiceUnavailable`` (then ``job_create`` looks the job up); a cancel of a
job that already ended is no error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from google.api_core import exceptions as core
from google.cloud import aiplatform_v1

from vertex_batch.errors import JobError, ServiceUnavailable
from vertex_batch.job_client import JobClient
from vertex_batch.jobs import JobSpec

pytestmark = pytest.mark.unit
SPEC = JobSpec("job", "gemini-3.5-flash", "bq://p.d.in", "bq://p.d.out", {"vertex_batch_chunk": "1"})
NAME = "projects/p/locations/us-central1/batchPredictionJobs/1"


@dataclass
class FakeClient:
    """``JobServiceClient`` methods the runner calls, answering with ``error`` (or a job in ``state``)."""

    error: BaseException | None = None
    state: int = aiplatform_v1.JobState.JOB_STATE_RUNNING
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def create_batch_prediction_job(self, **kwargs: Any) -> aiplatform_v1.BatchPredictionJob:
        self.calls.append(("create", kwargs))
        if self.error:
            raise self.error
        return aiplatform_v1.BatchPredictionJob(name=NAME, state=self.state)

    def get_batch_prediction_job(self, **kwargs: Any) -> aiplatform_v1.BatchPredictionJob:
        self.calls.append(("get", kwargs))
        return aiplatform_v1.BatchPredictionJob(name=NAME, state=self.state)

    def cancel_batch_prediction_job(self, **kwargs: Any) -> None:
        self.calls.append(("cancel", kwargs))
        if self.error:
            raise self.error


def client(fake: FakeClient) -> JobClient:
    jobs = JobClient.__new__(JobClient)
    jobs.client, jobs.parent = fake, "projects/p/locations/us-central1"
    jobs.connections = type("Connections", (), {"project": "p", "location": "us-central1"})()
    return jobs


def test_a_create_is_sent_once_without_a_library_retry() -> None:
    fake = FakeClient()
    assert client(fake).create(SPEC).name == NAME
    ((_, kwargs),) = fake.calls
    assert kwargs["retry"] is None and kwargs["timeout"] > 0


@pytest.mark.parametrize(
    "error",
    [
        core.ServiceUnavailable("The service is currently unavailable."),
        core.InternalServerError("Internal error encountered."),
        core.TooManyRequests("Resource exhausted."),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("connection reset by peer"),
    ],
)
def test_a_create_that_may_have_made_the_job_is_service_unavailable(error: BaseException) -> None:
    fake = FakeClient(error=error)
    with pytest.raises(ServiceUnavailable):
        client(fake).create(SPEC)
    assert len(fake.calls) == 1, "never sent twice here: the caller looks the job up by its labels first"


@pytest.mark.parametrize("error", [core.BadRequest("Invalid model"), core.Unauthenticated("no token")])
def test_a_refused_create_is_a_job_error(error: BaseException) -> None:
    with pytest.raises(JobError) as raised:
        client(FakeClient(error=error)).create(SPEC)
    assert not isinstance(raised.value, ServiceUnavailable)


def test_cancelling_a_job_that_already_ended_is_no_error() -> None:
    """Over REST the service's ``400 FAILED_PRECONDITION`` arrives as a plain ``BadRequest``."""
    refused = core.BadRequest(f"Cannot cancel BatchPredictionJob {NAME} because it is in state JOB_STATE_SUCCEEDED.")
    ended = FakeClient(error=refused, state=aiplatform_v1.JobState.JOB_STATE_SUCCEEDED)
    client(ended).cancel(NAME)
    running = FakeClient(error=core.BadRequest("bad request"))
    with pytest.raises(JobError, match="could not cancel"):
        client(running).cancel(NAME)
