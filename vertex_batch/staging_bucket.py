"""The IO plan of each request model, made real: dataset locations read through BigQuery, the staging bucket
checked (and, for the default one, created) through google-cloud-storage. The policy is ``regions.py``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vertex_batch.errors import ConfigurationError
from vertex_batch.regions import VAR_GCS_PREFIX, IOPlan, Region, choose_plan, contains, job_region

if TYPE_CHECKING:
    from google.cloud import storage

    from vertex_batch.connections import Connections


def prepare_bucket(client: storage.Client, plan: IOPlan, *, create: bool, dry_run: bool = False) -> IOPlan:
    """Check (and, for the default staging bucket, create) the bucket of a ``gcs`` plan; return it with its location.

    The bucket must be usable by the job (in its region or the multi-region that holds it; anywhere for
    ``global``) and by BigQuery (with the dataset). Creation goes through the official client; when it is not
    allowed the error names what to create.
    """
    from google.api_core import exceptions as core

    if plan.path != "gcs" or plan.bucket is None:
        return plan
    name, where = plan.bucket, plan.bucket_region
    make = f"gcloud storage buckets create gs://{name} --location={where}"
    try:
        bucket = client.lookup_bucket(name)
    except core.Forbidden:
        return plan  # cannot read its metadata; the job itself will say if the bucket is unusable
    if bucket is None:
        if create and dry_run:
            return replace(plan, reason=f"{plan.reason}; the bucket will be created in {where}")
        if not create:
            raise ConfigurationError(
                f"staging bucket gs://{name} does not exist: create it with `{make}` "
                f"(or set meta.vertex_batch.gcs_prefix / var {VAR_GCS_PREFIX} to a bucket in {where})"
            )
        try:
            bucket = client.create_bucket(name, location=where)
        except (core.Forbidden, core.Conflict) as error:
            raise ConfigurationError(
                f"could not create staging bucket gs://{name} ({type(error).__name__}): create it with "
                f"`{make}` or set meta.vertex_batch.gcs_prefix / var {VAR_GCS_PREFIX} to a bucket in {where}"
            ) from error
    location = str(bucket.location or where).upper()
    usable_by_job = contains(location, plan.region.name)
    colocated = location == plan.dataset_location.upper() or contains(plan.dataset_location, location)
    if not (usable_by_job and colocated):
        raise ConfigurationError(
            f"staging bucket gs://{name} is in {location}, not usable by jobs in {plan.region.name} with data in "
            f"{plan.dataset_location}: use a bucket in {where.upper()} (`{make}`)"
        )
    return replace(plan, bucket_location=location)


def storage_client(connections: Connections) -> storage.Client:
    """A google-cloud-storage client for the run's project (``STORAGE_EMULATOR_HOST`` points it elsewhere)."""
    from google.cloud import storage

    return storage.Client(project=connections.project, credentials=connections.credentials)


@dataclass
class Planner:
    """Plans each request model once per run: reads its dataset's location, picks the region and the IO path,
    and readies the staging bucket of a GCS plan."""

    dataset_location: Callable[[str], str | None]
    storage: Callable[[], storage.Client]
    region: Region | None = None
    create_bucket: bool = True
    dry_run: bool = False
    _plans: dict[str, IOPlan] = field(default_factory=dict)

    def plan(
        self,
        table_id: str,
        requested_input: str = "bigquery",
        location: str | None = None,
        gcs_prefix: str | None = None,
        bigquery_io: bool = True,
    ) -> IOPlan:
        """The plan of the request table ``project.dataset.table`` (cached)."""
        if table_id not in self._plans:
            dataset = table_id.rsplit(".", 1)[0]
            found = self.dataset_location(dataset)
            if found is None:
                raise ConfigurationError(f"dataset {dataset} does not exist; build the request model with dbt first")
            region = self.region or job_region(found, None, location)
            plan = choose_plan(
                dataset=dataset,
                dataset_location=found,
                region=region,
                requested_input=requested_input,
                gcs_prefix=gcs_prefix,
                bigquery_io=bigquery_io,
            )
            create = self.create_bucket and not gcs_prefix
            self._plans[table_id] = prepare_bucket(self.storage(), plan, create=create, dry_run=self.dry_run)
        return self._plans[table_id]

    def remove_staged(self, folder: str) -> None:
        """Delete a job's staged JSONL input and its output under ``gs://bucket/folder`` (after landing)."""
        bucket, _, prefix = folder.removeprefix("gs://").partition("/")
        client = self.storage()
        for blob in client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/"):
            blob.delete()

    def remove_stale(self, base: str, depth: int, keep: set[str]) -> list[str]:
        """Delete the job folders under ``gs://bucket/base`` (``depth`` path parts below it, e.g.
        ``<run>/a<attempt>/c<chunk>``) that no URI in ``keep`` lies in; return the folders deleted."""
        bucket, _, prefix = base.removeprefix("gs://").partition("/")
        prefix = prefix.rstrip("/") + "/"
        stale: dict[str, list[storage.Blob]] = {}
        for blob in self.storage().list_blobs(bucket, prefix=prefix):
            parts = blob.name[len(prefix) :].split("/")
            folder = f"gs://{bucket}/{prefix}{'/'.join(parts[:depth])}"
            if len(parts) > depth and not any(uri.startswith(folder + "/") for uri in keep):
                stale.setdefault(folder, []).append(blob)
        for blobs in stale.values():
            for blob in blobs:
                blob.delete()
        return sorted(stale)


def planner_for(connections: Connections, region: Region | None = None, dry_run: bool = False) -> Planner:
    """A planner that reads dataset locations and buckets through the run's official clients (``dry_run``:
    creates nothing)."""
    from vertex_batch.warehouse import Warehouse

    warehouse = Warehouse(connections.bigquery_client())
    return Planner(warehouse.dataset_location, lambda: storage_client(connections), region, dry_run=dry_run)
