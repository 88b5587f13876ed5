"""Smoke test for users: the README example, 5 rows, end to end, on a dataset in the ``US`` multi-region.

``cloud``: against your Google Cloud project (Application Default Credentials, ``GOOGLE_CLOUD_PROJECT``;
skipped without them). It creates a temporary dataset in ``US``, runs ``vertex-batch build`` with
``gemini-3.5-flash-lite`` (the runner routes the rows through a staging bucket in ``us-central1``), checks
every row was answered, deletes the dataset and this run's staging objects (and the bucket if it made it)
and prints the cost. Run it with ``pytest tests/smoke -m cloud -s``.

``local``: the same code path against the local stack with the fast test backend (runs in CI).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.api_core import exceptions as core
from google.cloud import bigquery, storage

from tests.e2e.helpers import running_stack
from tests.e2e.readme_project import write_project
from vertex_batch.connections import Connections
from vertex_batch.regions import default_gcs_prefix, region_for

CHEAP_MODEL = "gemini-3.5-flash-lite"
ROWS = [
    (1, "Great boots, very comfortable."),
    (2, "Terrible mat, it tore in a week."),
    (3, "It is fine for the price."),
    (4, "Love it, works perfectly."),
    (5, "Broke on the first day."),
]
CLI = Path(sys.executable).with_name("vertex-batch")
CLOUD_PROFILE = """vertex_batch:
  target: smoke
  outputs:
    smoke:
      type: bigquery
      method: oauth
      project: {project}
      dataset: {dataset}
      location: US
      threads: 4
      job_retries: 1
      priority: interactive
"""


@dataclass
class Target:
    """Where the smoke test runs: clients, the environment for the CLI, and what to clean up."""

    name: str
    project: str
    env: dict[str, str]
    bigquery: bigquery.Client
    storage: storage.Client
    profile: str | None = None
    cleanup: list = field(default_factory=list)


def cloud_project() -> str | None:
    """The project of Application Default Credentials, or None when there are none."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        return None
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or project


@pytest.fixture(params=["local", pytest.param("cloud", marks=pytest.mark.cloud)])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if request.param == "cloud":
        project = cloud_project()
        if not project:
            pytest.skip("no Application Default Credentials (gcloud auth application-default login)")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("VERTEX_BATCH_") and k != "STORAGE_EMULATOR_HOST"
        }
        connections = Connections(project=project)
        yield Target(
            "cloud",
            project,
            env,
            connections.bigquery_client(),
            storage.Client(project=project, credentials=connections.credentials),
            profile=CLOUD_PROFILE,
        )
        return
    with running_stack(tmp_path_factory.mktemp("smoke_stack")) as stack:
        config = stack.config
        env = {**os.environ, **config.client_env()}
        connections = config.connections()
        client = storage.Client(
            project=config.project,
            credentials=connections.credentials,
            client_options={"api_endpoint": config.gcs_url},
        )
        yield Target("local", config.project, env, connections.bigquery_client(), client)


def test_readme_example_end_to_end_on_a_us_dataset(target: Target, tmp_path: Path) -> None:
    dataset_id = f"{target.project}.vertex_batch_smoke_{secrets.token_hex(4)}"
    dataset = bigquery.Dataset(dataset_id)
    dataset.location = "US"
    target.bigquery.create_dataset(dataset)
    bucket_name = default_gcs_prefix(target.project, region_for("US")).removeprefix("gs://").split("/")[0]
    bucket_existed = target.storage.lookup_bucket(bucket_name) is not None
    report: dict = {}
    try:
        project = write_project(tmp_path / "project", ROWS)
        model = project / "models" / "review_requests.sql"
        model.write_text(model.read_text().replace("'gemini-3.5-flash'", f"'{CHEAP_MODEL}'"))
        if target.profile:
            (project / "profiles.yml").write_text(
                target.profile.format(project=target.project, dataset=dataset_id.split(".")[1])
            )
        env = {**target.env, "VERTEX_BATCH_DATASET": dataset_id.split(".")[1]}
        done = subprocess.run(
            [str(CLI), "build", "--json"], cwd=project, env=env, capture_output=True, text=True, timeout=3600
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        report = json.loads(done.stdout[done.stdout.index("{") :])
        rows = list(target.bigquery.query(f"SELECT * FROM `{dataset_id}.review_results`").result())
        assert len(rows) == len(ROWS)
        assert all(row["is_answered"] and row["is_success"] and row["response_text"] for row in rows)
        assert all(row["prompt_tokens"] > 0 for row in rows)
        cost = sum(model["actual_cost_usd"] for model in report["models"])
        print(f"\nsmoke test on {target.name}: {len(rows)} rows answered by {CHEAP_MODEL}, cost ${cost:.6f}")
    finally:
        target.bigquery.delete_dataset(dataset_id, delete_contents=True, not_found_ok=True)
        remove_staging(target, bucket_name, report.get("run_id"), delete_bucket=not bucket_existed)


def remove_staging(target: Target, bucket_name: str, run_id: str | None, delete_bucket: bool) -> None:
    """Delete this run's staging objects, and the staging bucket when the test run created it."""
    try:
        bucket = target.storage.lookup_bucket(bucket_name)
        if bucket is None:
            return
        for blob in target.storage.list_blobs(bucket_name):
            if delete_bucket or (run_id and f"/{run_id}/" in blob.name):
                blob.delete()
        if delete_bucket:
            bucket.delete()
    except core.GoogleAPICallError as error:
        print(f"could not clean up gs://{bucket_name}: {error}")
