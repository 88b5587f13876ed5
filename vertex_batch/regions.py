"""Where a run's jobs go and how rows reach them: the job location and the IO path, with the reason for each.

Production's rules (the model catalog and ``docs/fidelity.md`` cite them): a batch job reads and writes BigQuery
only in datasets of its own region, never in the ``US``/``EU`` multi-regions; base Gemini models may run on the
``global`` endpoint (no data residency), where BigQuery IO is not documented, so jobs there read and write Cloud
Storage; the ``us``/``eu`` multi-region endpoints serve the models the catalog says, also through Cloud Storage.
The IO path is then BigQuery when the dataset is in the job's region, else JSONL files in a staging bucket
(export -> job -> load back). Pure policy: the adapters read dataset and bucket locations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from vertex_batch.errors import ConfigurationError

#: The region a job runs in when only the dataset location says where: the multi-region's usual Gemini region.
REGION_FOR_MULTI_REGION = {"US": "us-central1", "EU": "europe-west4"}
#: Region name prefixes inside each multi-region (a bucket or dataset there is compatible with those regions).
MULTI_REGION_MEMBERS = {"US": ("us-",), "EU": ("europe-",)}
GLOBAL = "global"
#: Locations that are endpoints rather than regions: jobs there read and write Cloud Storage.
ENDPOINT_LOCATIONS = (GLOBAL, "us", "eu")
VAR_LOCATION = "vertex_batch_location"
VAR_GCS_PREFIX = "vertex_batch_gcs_prefix"
ENV_LOCATION = "VERTEX_BATCH_LOCATION"
STAGING_FOLDER = "vertex-batch"
CONFIGURED_SOURCE = f"meta.vertex_batch.location, var {VAR_LOCATION} or ${ENV_LOCATION}"

IOPath = Literal["bigquery", "gcs"]


def region_for(dataset_location: str) -> str:
    """The job region that suits a dataset location: ``US`` -> ``us-central1``, a region -> itself."""
    return REGION_FOR_MULTI_REGION.get(dataset_location.upper(), dataset_location.lower())


def contains(location: str, region: str) -> bool:
    """Whether data in ``location`` (a region or a multi-region) may be used with a job in ``region``; a job on
    the ``global`` endpoint may use data anywhere, one on ``us``/``eu`` data in that multi-region."""
    region = region.lower()
    if region == GLOBAL:
        return True
    if region in ("us", "eu"):
        return location.upper() == region.upper() or location.lower().startswith(MULTI_REGION_MEMBERS[region.upper()])
    upper = location.upper()
    if upper in MULTI_REGION_MEMBERS:
        return region.startswith(MULTI_REGION_MEMBERS[upper])
    return location.lower() == region


@dataclass(frozen=True)
class Region:
    """A job location (a region, ``global``, ``us`` or ``eu``) and the setting it came from."""

    name: str
    source: str
    derived: bool = False  # from dataset locations: the runner may move it to where the models are served

    @property
    def is_endpoint(self) -> bool:
        """``global`` or a multi-region endpoint: not a region, no BigQuery IO."""
        return self.name in ENDPOINT_LOCATIONS

    def why(self) -> str:
        """One line for the plan, ``--dry-run`` and ``doctor``."""
        if self.name == GLOBAL:
            return f"job location global ({self.source}): any region Vertex AI picks, no data residency"
        if self.name in ("us", "eu"):
            return f"job location {self.name} ({self.source}): the {self.name.upper()} multi-region endpoint"
        return f"job region {self.name} ({self.source})"


def job_region(dataset_location: str, option: str | None = None, configured: str | None = None) -> Region:
    """The location of a request model's jobs: ``--location``, else the configured one (``meta.vertex_batch.location``
    > var ``vertex_batch_location`` > ``$VERTEX_BATCH_LOCATION``), else derived from the dataset location."""
    if option:
        return Region(option.strip().lower(), "--location")
    if configured:
        return Region(configured.strip().lower(), CONFIGURED_SOURCE)
    return Region(region_for(dataset_location), f"derived from dataset location {dataset_location}", True)


def run_region(
    option: str | None,
    configured: list[str | None],
    dataset_locations: list[str | None],
    env_location: str | None = None,
) -> Region | None:
    """The one location of a run's jobs: ``--location``, else the request models' configured location
    (``meta.vertex_batch.location`` / var ``vertex_batch_location``), else ``$VERTEX_BATCH_LOCATION``, else derived
    from their datasets' locations; None when nothing says (no dataset built yet).

    One run submits to one endpoint, so request models that need different regions are refused with the fix
    (run them separately with ``--select``).
    """
    if option:
        return Region(option.strip().lower(), "--location")
    wanted = {value.strip().lower() for value in configured if value}
    source = CONFIGURED_SOURCE
    if not wanted and env_location:
        return Region(env_location.strip().lower(), f"${ENV_LOCATION}")
    derived = not wanted
    if derived:
        wanted = {region_for(location) for location in dataset_locations if location}
        source = "derived from dataset location " + ", ".join(sorted({loc for loc in dataset_locations if loc}))
    if len(wanted) > 1:
        raise ConfigurationError(
            f"the selected request models need jobs in several regions ({', '.join(sorted(wanted))}); "
            "run them separately (--select) or set --location"
        )
    return Region(wanted.pop(), source, derived) if wanted else None


def fit_location(region: Region, served: Callable[[str], bool]) -> Region:
    """A derived job region where the models are not served gives way to the multi-region endpoint that holds it
    (data stays in that multi-region), else to ``global``; a region someone set stays (the run then refuses it
    with where the models are served)."""
    if not region.derived or served(region.name):
        return region
    multi = next((name for name, prefixes in MULTI_REGION_MEMBERS.items() if region.name.startswith(prefixes)), None)
    for candidate in ([multi.lower()] if multi else []) + [GLOBAL]:
        if served(candidate):
            why = f"{region.source}; the model is not served for batch in {region.name}"
            return replace(region, name=candidate, source=why)
    return region


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

    @property
    def bucket_region(self) -> str:
        """Where a staging bucket of this plan is created: the job's region, else (an endpoint) the dataset's
        location, so that BigQuery can export to it and load from it."""
        return self.dataset_location.lower() if self.region.is_endpoint else self.region.name

    def describe(self) -> str:
        """One line for the progress output and ``--dry-run``."""
        where = self.region.why()
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
    bigquery_io: bool = True,
) -> IOPlan:
    """Pick the IO path for a dataset location and a job location (``bigquery_io``: the model's family takes
    BigQuery at all); raises ``ConfigurationError`` when none works."""
    project = dataset.split(".", 1)[0]
    prefix = gcs_prefix or default_gcs_prefix(project, region.name)
    if not contains(dataset_location, region.name):
        suggested = region_for(dataset_location)
        raise ConfigurationError(
            f"{dataset} is in {dataset_location} but the job location is {region.name} ({region.source}): batch "
            f"jobs read and write data only in their own region and {dataset_location} data cannot be staged "
            f"there; run the jobs in {suggested} (--location {suggested}) or on the global endpoint (--location global)"
        )
    if requested_input == "gcs":
        return IOPlan("gcs", region, dataset, dataset_location, prefix, reason="meta.vertex_batch.input is 'gcs'")
    if not bigquery_io:
        reason = "the model takes JSONL in Cloud Storage only (BigQuery tables are not supported)"
        return IOPlan("gcs", region, dataset, dataset_location, prefix, reason=reason)
    if region.name == GLOBAL:
        reason = "batch jobs on the global endpoint read and write Cloud Storage (BigQuery IO there is not documented)"
        return IOPlan("gcs", region, dataset, dataset_location, prefix, reason=reason)
    if region.is_endpoint:
        reason = (
            f"batch jobs on the {region.name} endpoint read and write Cloud Storage (BigQuery IO is not documented)"
        )
        return IOPlan("gcs", region, dataset, dataset_location, prefix, reason=reason)
    if dataset_location.lower() == region.name:
        return IOPlan("bigquery", region, dataset, dataset_location)
    reason = f"batch jobs cannot use BigQuery datasets in the {dataset_location.upper()} multi-region"
    return IOPlan("gcs", region, dataset, dataset_location, prefix, reason=reason)
