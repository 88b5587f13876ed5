"""Production's location errors, as one line with the fix (for the progress output and the CLI's errors)."""

from __future__ import annotations

import re

_LOCATION_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"Dataset (?P<dataset>[\w.:-]+) was not found in location (?P<location>[\w-]+)", re.I),
        "a batch job reads BigQuery only in datasets of its own region, and its input is not in {location}: "
        "let vertex-batch route through GCS (drop --location / meta.vertex_batch.location so the region follows "
        "the dataset) or keep the request model in a dataset of the job's region",
    ),
    (
        re.compile(
            r"Cannot read and write in different locations: source: (?P<source>[\w-]+), "
            r"destination: (?P<dest>[\w-]+)",
            re.I,
        ),
        "BigQuery cannot read in {source} and write in {dest}: a batch job in {source} writes BigQuery only in "
        "datasets of {source}; let vertex-batch route through GCS or keep the request model in a {source} dataset",
    ),
    (
        re.compile(r"multi-region|multiregion", re.I),
        "batch jobs cannot use BigQuery datasets in the US/EU multi-regions: let vertex-batch route through "
        "GCS (the default) or set meta.vertex_batch.destination_dataset to a dataset in the job's region",
    ),
    (
        re.compile(r"global (endpoint|location)|locations/global", re.I),
        "batch jobs on the global endpoint read and write Cloud Storage, not BigQuery: let vertex-batch route "
        "through GCS (the default for --location global) or set --location to a region such as us-central1",
    ),
    (
        re.compile(r"Failed to get GCS bucket location for (?P<bucket>[\w.-]+)", re.I),
        "the job could not use bucket {bucket}: create it in the job's region "
        "(`gcloud storage buckets create gs://{bucket} --location=REGION`) and let the Vertex AI Service Agent "
        "(service-PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com) read and write it "
        "(roles/storage.objectAdmin); `vertex-batch doctor` checks both",
    ),
    (
        re.compile(r"Failed to get BigQuery dataset location for (?P<dataset>[\w.:-]+)", re.I),
        "the job could not read dataset {dataset}: check that it exists in the job's region and that the "
        "Vertex AI Service Agent may use it (roles/bigquery.dataEditor); `vertex-batch doctor` checks both",
    ),
)


def location_hint(message: str) -> str | None:
    """Production's location error in ``message`` as one line with the fix, or None if it is not one."""
    for pattern, template in _LOCATION_ERRORS:
        match = pattern.search(message or "")
        if match:
            return template.format(**match.groupdict())
    return None
