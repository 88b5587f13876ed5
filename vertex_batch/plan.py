"""Where a request model's batch job runs and how its rows get there: the location-aware IO plan.

Vertex AI reads and writes BigQuery only in datasets of the job's own region, never in the ``US``/``EU``
multi-regions where most dbt projects keep their data, and never through the ``global`` endpoint. Before
anything is submitted the runner reads the dataset's location and the job region and picks a path:

- ``bigquery``: the dataset is in the job's region; the job reads the staged table and writes its output there.
- ``gcs``: otherwise; the staged rows are exported as JSONL to a bucket in a compatible location, the job reads
  and writes there, and the predictions are loaded back into the dataset (export -> job -> load).

The region comes from ``--location``, ``meta.vertex_batch.location``, the var ``vertex_batch_location`` or
``$VERTEX_BATCH_LOCATION``, in that order; when none is set it is derived from the dataset location
(``US`` -> ``us-central1``, ``EU`` -> ``europe-west4``, a region -> itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from vertex_batch.errors import ConfigurationError

if TYPE_CHECKING:
    from google.cloud import storage

    from vertex_batch.connections import Connections

#: The region a job runs in when only the dataset location says where: the multi-region's usual Gemini region.
REGION_FOR_MULTI_REGION = {"US": "us-central1", "EU": "europe-west4"}
#: Region name prefixes inside each multi-region (a bucket or dataset there is compatible with those regions).
MULTI_REGION_MEMBERS = {"US": ("us-",), "EU": ("europe-",)}
GLOBAL = "global"
VAR_LOCATION = "vertex_batch_location"
VAR_GCS_PREFIX = "vertex_batch_gcs_prefix"
VAR_MODEL = "vertex_batch_model"
ENV_LOCATION = "VERTEX_BATCH_LOCATION"
STAGING_FOLDER = "vertex-batch"

IOPath = Literal["bigquery", "gcs"]


def is_multi_region(location: str) -> bool:
    return location.upper() in MULTI_REGION_MEMBERS


def region_for(dataset_location: str) -> str:
    """The job region that suits a dataset location: ``US`` -> ``us-central1``, a region -> itself."""
    return REGION_FOR_MULTI_REGION.get(dataset_location.upper(), dataset_location.lower())


def contains(location: str, region: str) -> bool:
    """Whether data in ``location`` (a region or a multi-region) may be used with a job in ``region``."""
    upper = location.upper()
    if upper in MULTI_REGION_MEMBERS:
        return region.lower().startswith(MULTI_REGION_MEMBERS[upper])
    return location.lower() == region.lower()


@dataclass(frozen=True)
class Region:
    """A job region and the setting it came from (for the progress output)."""

    name: str
    source: str


CONFIGURED_SOURCE = f"meta.vertex_batch.location, var {VAR_LOCATION} or ${ENV_LOCATION}"


def job_region(dataset_location: str, option: str | None = None, configured: str | None = None) -> Region:
    """The region of a request model's jobs: ``--location``, else the configured one (``meta.vertex_batch.location``
    > var ``vertex_batch_location`` > ``$VERTEX_BATCH_LOCATION``), else derived from the dataset location."""
    if option:
        return Region(option.strip().lower(), "--location")
    if configured:
        return Region(configured.strip().lower(), CONFIGURED_SOURCE)
    return Region(region_for(dataset_location), f"derived from dataset location {dataset_location}")


@dataclass(frozen=True)
class IOPlan:
    """How one request model's rows reach its jobs and how the answers come back."""

    path: IOPath
    region: Region
    dataset: str
    dataset_location: str
    gcs_prefix: str | None = None
    bucket_location: str | None = None
    reason: str = ""

    @property
    def bucket(self) -> str | None:
        return self.gcs_prefix.removeprefix("gs://").split("/", 1)[0] if self.gcs_prefix else None

    def describe(self) -> str:
        """One line for the progress output and ``--dry-run``."""
        where = f"job region {self.region.name} ({self.region.source})"
        if self.path == "bigquery":
            return f"BigQuery IO in {self.dataset} ({self.dataset_location}); {where}"
        bucket = f" ({self.bucket_location})" if self.bucket_location else ""
        return (
            f"GCS JSONL via {self.gcs_prefix}{bucket}: export from {self.dataset} ({self.dataset_location}) "
            f"-> job -> load back; {where}; {self.reason}"
        )


def default_gcs_prefix(project: str, region: str) -> str:
    """The staging folder when none is configured: ``gs://<project>-vb-<region>/vertex-batch``."""
    return f"gs://{project}-vb-{region}/{STAGING_FOLDER}"


def choose_plan(
    *,
    dataset: str,
    dataset_location: str,
    region: Region,
    requested_input: str = "bigquery",
    gcs_prefix: str | None = None,
) -> IOPlan:
    """Pick the IO path for a dataset location and a job region; raises ``ConfigurationError`` when none works."""
    if region.name == GLOBAL:
        raise ConfigurationError(
            f"job region 'global' ({region.source}): the global endpoint is not supported for batch jobs; "
            f"set --location to a region such as {region_for(dataset_location)}"
        )
    project = dataset.split(".", 1)[0]
    prefix = gcs_prefix or default_gcs_prefix(project, region.name)
    if requested_input == "gcs":
        return IOPlan("gcs", region, dataset, dataset_location, prefix, reason="meta.vertex_batch.input is 'gcs'")
    if dataset_location.lower() == region.name:
        return IOPlan("bigquery", region, dataset, dataset_location)
    if not contains(dataset_location, region.name):
        suggested = region_for(dataset_location)
        raise ConfigurationError(
            f"{dataset} is in {dataset_location} but the job region is {region.name} ({region.source}): batch jobs "
            f"read and write BigQuery only in their own region and {dataset_location} data cannot be staged "
            f"there; run the jobs in {suggested} (--location {suggested})"
        )
    reason = f"batch jobs cannot use BigQuery datasets in the {dataset_location.upper()} multi-region"
    return IOPlan("gcs", region, dataset, dataset_location, prefix, reason=reason)


def check_same_location(request_dataset: str, request_location: str, work_dataset: str, work_location: str) -> None:
    """BigQuery cannot read and write in different locations: the work dataset must sit with the request table."""
    if request_location.upper() != work_location.upper():
        raise ConfigurationError(
            f"destination dataset {work_dataset} is in {work_location} but the request table's dataset "
            f"{request_dataset} is in {request_location}; BigQuery cannot read and write in different "
            f"locations: use a destination_dataset in {request_location}"
        )


def prepare_bucket(client: storage.Client, plan: IOPlan, *, create: bool, dry_run: bool = False) -> IOPlan:
    """Check (and, for the default staging bucket, create) the bucket of a ``gcs`` plan; return it with its location.

    The bucket must be in the job's region or in the multi-region that holds it and the dataset. Creation
    goes through the official client; when it is not allowed the error names what to create.
    """
    from google.api_core import exceptions as core

    if plan.path != "gcs" or plan.bucket is None:
        return plan
    name, region = plan.bucket, plan.region.name
    make = f"gcloud storage buckets create gs://{name} --location={region}"
    try:
        bucket = client.lookup_bucket(name)
    except core.Forbidden:
        return plan  # cannot read its metadata; the job itself will say if the bucket is unusable
    if bucket is None:
        if create and dry_run:
            return replace(plan, reason=f"{plan.reason}; the bucket will be created in {region}")
        if not create:
            raise ConfigurationError(
                f"staging bucket gs://{name} does not exist: create it with `{make}` "
                f"(or set meta.vertex_batch.gcs_prefix / var {VAR_GCS_PREFIX} to a bucket in {region})"
            )
        try:
            bucket = client.create_bucket(name, location=region)
        except (core.Forbidden, core.Conflict) as error:
            raise ConfigurationError(
                f"could not create staging bucket gs://{name} ({type(error).__name__}): create it with "
                f"`{make}` or set meta.vertex_batch.gcs_prefix / var {VAR_GCS_PREFIX} to a bucket in {region}"
            ) from error
    location = str(bucket.location or region).upper()
    usable_by_job = contains(location, region)
    colocated = location == plan.dataset_location.upper() or contains(plan.dataset_location, location)
    if not (usable_by_job and colocated):
        raise ConfigurationError(
            f"staging bucket gs://{name} is in {location}, not usable by jobs in {region} with data in "
            f"{plan.dataset_location}: use a bucket in {region.upper()} (`{make}`)"
        )
    return replace(plan, bucket_location=location)


def storage_client(connections: Connections) -> storage.Client:
    """A google-cloud-storage client for the run's project (``STORAGE_EMULATOR_HOST`` points it elsewhere)."""
    from google.cloud import storage

    return storage.Client(project=connections.project, credentials=connections.credentials)


def planner_for(connections: Connections, region: Region | None = None, dry_run: bool = False) -> Planner:
    """A planner that reads dataset locations and buckets through the run's official clients (``dry_run``:
    creates nothing)."""
    from vertex_batch.warehouse import Warehouse

    warehouse = Warehouse(connections.bigquery_client())
    return Planner(warehouse.dataset_location, lambda: storage_client(connections), region, dry_run=dry_run)


def run_region(
    option: str | None,
    configured: list[str | None],
    dataset_locations: list[str | None],
    env_location: str | None = None,
) -> Region | None:
    """The one region of a run's jobs: ``--location``, else the request models' configured location
    (``meta.vertex_batch.location`` / var ``vertex_batch_location``), else ``$VERTEX_BATCH_LOCATION``, else derived
    from their datasets' locations; None when nothing says (no dataset built yet).

    One run submits to one regional endpoint, so request models that need different regions are refused with
    the fix (run them separately with ``--select``).
    """
    if option:
        return Region(option.strip().lower(), "--location")
    wanted = {value.strip().lower() for value in configured if value}
    source = CONFIGURED_SOURCE
    if not wanted and env_location:
        return Region(env_location.strip().lower(), f"${ENV_LOCATION}")
    if not wanted:
        wanted = {region_for(location) for location in dataset_locations if location}
        source = "derived from dataset location " + ", ".join(sorted({loc for loc in dataset_locations if loc}))
    if len(wanted) > 1:
        raise ConfigurationError(
            f"the selected request models need jobs in several regions ({', '.join(sorted(wanted))}); "
            "run them separately (--select) or set --location"
        )
    return Region(wanted.pop(), source) if wanted else None


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


# --- production's location errors, as one line with the fix ---------------------------------------------
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
        "the global endpoint is not supported for batch jobs with BigQuery: set --location to a region "
        "such as us-central1",
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
