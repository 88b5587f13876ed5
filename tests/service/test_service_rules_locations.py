"""Locations: a job's BigQuery input and output datasets must be in the job's region. Multi-regions (US, EU)
and other regions are refused as Vertex AI refuses them: the create succeeds and the job ends FAILED."""

from __future__ import annotations

import pytest
from google.cloud import bigquery
from svc_helpers import LOCATION, PROJECT, ServiceProcess, bq_body, make_table, output_rows, request_for, unique


def dataset_in(bq: bigquery.Client, location: str | None) -> str:
    """A new dataset in ``location`` (the emulator's default, ``US``, when ``None``)."""
    name = unique("loc")
    dataset = bigquery.Dataset(f"{PROJECT}.{name}")
    if location:
        dataset.location = location
    bq.create_dataset(dataset)
    return name


@pytest.mark.parametrize("location", ["US", "EU", "europe-west4", None])
def test_input_dataset_outside_the_job_region_fails_the_import(
    service: ServiceProcess, bq: bigquery.Client, dataset: str, location: str | None
) -> None:
    table = make_table(bq, dataset_in(bq, location), [{"id": 1, "request": request_for("hi")}])
    status, created = service.create(bq_body(table, f"bq://{PROJECT}.{dataset}"))
    assert status == 200 and created["state"] == "JOB_STATE_PENDING"
    job = service.wait(created["name"])
    assert job["state"] == "JOB_STATE_FAILED" and job["error"]["code"] == 3
    job_id = job["name"].rsplit("/", 1)[1]
    assert job["error"]["message"] == (
        "Failed to import data. Not found: Dataset "
        f"{job['name'].split('/')[1]}-tp:llm_bp_tenant_dataset_{job_id} was not found in location {location or 'US'}"
    )
    assert "completionStats" not in job


@pytest.mark.parametrize("location", ["US", "europe-west4"])
def test_output_dataset_outside_the_job_region_fails_the_export(
    service: ServiceProcess, bq: bigquery.Client, dataset: str, location: str
) -> None:
    table = make_table(bq, dataset, [{"id": 1, "request": request_for("hi")}])
    outside = dataset_in(bq, location)
    for destination in (f"bq://{PROJECT}.{outside}", f"bq://{PROJECT}.{outside}.out"):
        job = service.run(bq_body(table, destination))
        assert job["state"] == "JOB_STATE_FAILED"
        assert job["error"] == {
            "code": 13,
            "message": "Failed to export data. Cannot read and write in different locations: "
            f"source: {LOCATION}, destination: {location}",
        }
    assert list(bq.list_tables(f"{PROJECT}.{outside}")) == []


def test_datasets_in_the_job_region_run(service: ServiceProcess, bq: bigquery.Client) -> None:
    regional = dataset_in(bq, LOCATION.upper())  # locations compare regardless of case
    table = make_table(bq, regional, [{"id": 1, "request": request_for("hi")}])
    job = service.run(bq_body(table, f"bq://{PROJECT}.{regional}"))
    assert job["state"] == "JOB_STATE_SUCCEEDED" and len(output_rows(bq, job)) == 1
    # A project-only destination gets a new dataset, in the job's region.
    job = service.run(bq_body(table, f"bq://{PROJECT}"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    new_dataset = job["outputInfo"]["bigqueryOutputDataset"].removeprefix("bq://")
    assert bq.get_dataset(new_dataset).location == LOCATION
