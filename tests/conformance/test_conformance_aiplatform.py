"""google-cloud-aiplatform's high-level ``BatchPredictionJob``, unchanged, against the local service.

The SDK's own waits end only on SUCCEEDED, FAILED, CANCELLED or PAUSED (``jobs._JOB_COMPLETE_STATES``) and
``iter_outputs()`` reads outputs only of a SUCCEEDED job: a job with a failed row must end SUCCEEDED for
these calls to return. Only the SDK's poll interval is shortened (5 s in the SDK).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from conformance_helpers import LOCATION, PROJECT, PUBLISHER_MODEL, Inputs, assert_one_failed_row, jsonl_rows, unique
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform import jobs
from google.cloud.aiplatform_v1 import JobState

from vertex_batch.local.stack import StackConfig

KINDS = ["bigquery", "gcs"]


@pytest.fixture(autouse=True)
def sdk(stack: StackConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    aiplatform.init(
        project=PROJECT, location=LOCATION, api_endpoint=stack.vertex_url, credentials=AnonymousCredentials(),
        api_transport="rest",
    )  # fmt: skip
    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.1)
    yield


def io_args(inputs: Inputs) -> dict[str, str]:
    if inputs.kind == "bigquery":
        return {"bigquery_source": inputs.source, "bigquery_destination_prefix": inputs.destination}
    return {"gcs_source": inputs.source, "gcs_destination_prefix": inputs.destination,
            "instances_format": "jsonl", "predictions_format": "jsonl"}  # fmt: skip


def output_rows(job: aiplatform.BatchPredictionJob) -> list[dict]:
    """The job's output rows through ``iter_outputs()`` (BigQuery rows, or the JSONL files' lines)."""
    outputs = list(job.iter_outputs())
    if job.output_info.bigquery_output_table:
        return [dict(row.items()) for row in outputs]
    return jsonl_rows(blob.download_as_text() for blob in outputs if blob.name.endswith(".jsonl"))


def assert_succeeded_with_one_failed_row(job: aiplatform.BatchPredictionJob, inputs: Inputs) -> None:
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count) == (inputs.rows - 1, 1)
    assert_one_failed_row(output_rows(job), inputs.rows)


@pytest.mark.parametrize("kind", KINDS)
def test_submit_wait_iter_outputs(kind: str, inputs: Callable[..., Inputs]) -> None:
    source = inputs(kind)
    job = aiplatform.BatchPredictionJob.submit(
        job_display_name=unique(f"submit_{kind}"), model_name=PUBLISHER_MODEL, **io_args(source)
    )
    job.wait()  # the SDK's futures (none are left after submit)
    job.wait_for_completion()  # the SDK's own poll until a state it treats as complete
    assert_succeeded_with_one_failed_row(job, source)
    listed = aiplatform.BatchPredictionJob.list(filter=f'display_name="{job.display_name}"')
    assert [item.resource_name for item in listed] == [job.resource_name]
    job.delete()


@pytest.mark.parametrize("kind", KINDS)
def test_create_async_then_wait(kind: str, inputs: Callable[..., Inputs]) -> None:
    source = inputs(kind)
    job = aiplatform.BatchPredictionJob.create(
        job_display_name=unique(f"create_{kind}"), model_name=PUBLISHER_MODEL, sync=False, **io_args(source)
    )
    job.wait()  # blocks on the SDK's create-and-poll future
    assert_succeeded_with_one_failed_row(job, source)
    # The resource as the REST API returns it, read back through the low-level client.
    resource = json.loads(type(job._gca_resource).to_json(job._gca_resource))
    assert resource["modelVersionId"] == "1" and resource["completionStats"]["failedCount"] == "1"
