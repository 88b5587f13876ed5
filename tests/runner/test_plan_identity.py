"""The location-aware IO plan, production's location errors as one line, and the row identity (pure functions)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.unit.macro_render import package_macros
from vertex_batch.catalog import model_name as model_id
from vertex_batch.errors import ConfigurationError
from vertex_batch.identity import canonical_params, fingerprint, fingerprint_sql, staged_columns_sql
from vertex_batch.location_errors import location_hint
from vertex_batch.regions import Region, choose_plan, contains, job_region, region_for, run_region
from vertex_batch.settings import RequestModelDefaults
from vertex_batch.staging_bucket import prepare_bucket

pytestmark = pytest.mark.unit


def test_region_is_derived_from_the_dataset_location_when_unset() -> None:
    assert region_for("US") == "us-central1"
    assert region_for("EU") == "europe-west4"
    assert region_for("asia-northeast1") == "asia-northeast1"
    assert job_region("US").name == "us-central1"
    assert "derived" in job_region("EU").source


def test_region_setting_precedence() -> None:
    assert job_region("US", option="europe-west4", configured="us-east1") == Region("europe-west4", "--location")
    assert job_region("US", configured="US-EAST1").name == "us-east1"


def test_multi_region_contains_its_regions_only() -> None:
    assert contains("US", "us-central1") and contains("EU", "europe-west4")
    assert not contains("US", "europe-west4") and not contains("us-east1", "us-central1")
    assert contains("us-central1", "US-CENTRAL1")


def test_dataset_in_the_job_region_uses_bigquery_io() -> None:
    plan = choose_plan(dataset="p.ds", dataset_location="us-central1", region=job_region("us-central1"))
    assert plan.path == "bigquery" and plan.gcs_prefix is None
    assert "BigQuery IO" in plan.describe() and "us-central1" in plan.describe()


@pytest.mark.parametrize("location", ["US", "EU"])
def test_multi_region_dataset_goes_through_gcs(location: str) -> None:
    plan = choose_plan(dataset="p.ds", dataset_location=location, region=job_region(location))
    assert plan.path == "gcs"
    assert plan.gcs_prefix == f"gs://p-vb-{region_for(location)}/vertex-batch"
    assert "multi-region" in plan.describe() and "export" in plan.describe()


def test_requested_gcs_input_and_configured_prefix_are_kept() -> None:
    plan = choose_plan(
        dataset="p.ds",
        dataset_location="us-central1",
        region=job_region("us-central1"),
        requested_input="gcs",
        gcs_prefix="gs://mine/x",
    )
    assert (plan.path, plan.bucket) == ("gcs", "mine")


def test_impossible_locations_fail_in_one_line_with_the_fix() -> None:
    with pytest.raises(ConfigurationError) as other_region:
        choose_plan(dataset="p.ds", dataset_location="asia-east1", region=job_region("US", option="us-central1"))
    with pytest.raises(ConfigurationError) as outside:
        choose_plan(dataset="p.ds", dataset_location="US", region=job_region("US", option="europe-west4"))
    assert "--location asia-east1" in str(other_region.value)
    assert "--location us-central1" in str(outside.value)
    for error in (other_region, outside):
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("location", ["US", "EU", "us-central1", "asia-east1"])
def test_global_jobs_go_through_cloud_storage_and_say_why(location: str) -> None:
    plan = choose_plan(dataset="p.ds", dataset_location=location, region=job_region(location, option="global"))
    assert plan.path == "gcs" and plan.gcs_prefix == "gs://p-vb-global/vertex-batch"
    assert plan.bucket_region == location.lower(), "the staging bucket sits with the dataset"
    assert "global endpoint" in plan.describe() and "no data residency" in plan.describe()


def test_multi_region_endpoint_takes_its_own_multi_region_only() -> None:
    plan = choose_plan(dataset="p.ds", dataset_location="EU", region=job_region("EU", option="eu"))
    assert plan.path == "gcs" and "eu endpoint" in plan.describe()
    with pytest.raises(ConfigurationError, match="--location"):
        choose_plan(dataset="p.ds", dataset_location="US", region=job_region("US", option="eu"))


def test_a_model_without_bigquery_io_goes_through_cloud_storage() -> None:
    plan = choose_plan(
        dataset="p.ds", dataset_location="us-central1", region=job_region("us-central1"), bigquery_io=False
    )
    assert plan.path == "gcs" and "Cloud Storage only" in plan.reason


class FakeBucket:
    def __init__(self, location: str) -> None:
        self.location = location


class FakeStorage:
    def __init__(self, existing: dict[str, str], may_create: bool = True) -> None:
        self.buckets = existing
        self.may_create = may_create

    def lookup_bucket(self, name: str) -> FakeBucket | None:
        return FakeBucket(self.buckets[name]) if name in self.buckets else None

    def create_bucket(self, name: str, location: str) -> FakeBucket:
        from google.api_core import exceptions as core

        if not self.may_create:
            raise core.Forbidden("no storage.buckets.create")
        self.buckets[name] = location.upper()
        return FakeBucket(location.upper())


def gcs_plan(prefix: str | None = None):
    return choose_plan(dataset="p.ds", dataset_location="US", region=job_region("US"), gcs_prefix=prefix)


def test_default_bucket_is_created_in_the_job_region() -> None:
    storage = FakeStorage({})
    plan = prepare_bucket(storage, gcs_plan(), create=True)
    assert storage.buckets == {"p-vb-us-central1": "US-CENTRAL1"}
    assert plan.bucket_location == "US-CENTRAL1"


def test_bucket_that_cannot_be_created_names_what_to_create() -> None:
    with pytest.raises(ConfigurationError, match=r"gcloud storage buckets create gs://p-vb-us-central1 --location="):
        prepare_bucket(FakeStorage({}, may_create=False), gcs_plan(), create=True)
    with pytest.raises(ConfigurationError, match="does not exist"):
        prepare_bucket(FakeStorage({}), gcs_plan("gs://mine/x"), create=False)


@pytest.mark.parametrize(
    ("location", "usable"), [("US", True), ("US-CENTRAL1", True), ("EU", False), ("US-EAST1", False)]
)
def test_bucket_location_must_suit_job_and_dataset(location: str, usable: bool) -> None:
    storage = FakeStorage({"mine": location})
    if usable:
        assert prepare_bucket(storage, gcs_plan("gs://mine/x"), create=False).bucket_location == location
    else:
        with pytest.raises(ConfigurationError, match="gs://mine is in"):
            prepare_bucket(storage, gcs_plan("gs://mine/x"), create=False)


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("Not found: Dataset p:analytics was not found in location us-central1", "route through GCS"),
        ("Failed to import data. Not found: Dataset p-tp:llm_bp_tenant_dataset_1 was not found in location US", "US"),
        ("Cannot read and write in different locations: source: us-central1, destination: US", "route through GCS"),
        ("BigQuery input in the US multi-region is not supported", "multi-regions"),
        ("Batch prediction with BigQuery is not supported in the global endpoint", "--location"),
        ("Failed to get GCS bucket location for vb-x. Please check that the bucket exists", "gcloud storage buckets"),
    ],
)
def test_production_location_errors_become_one_line_with_the_fix(message: str, fix: str) -> None:
    hint = location_hint(message)
    assert hint is not None and fix in hint and "\n" not in hint


def test_other_errors_are_not_location_errors() -> None:
    assert location_hint("Please use a valid role: user, model.") is None


def test_model_id_drops_the_publisher_prefix_only() -> None:
    assert model_id("gemini-2.5-flash") == "gemini-2.5-flash"
    assert model_id("publishers/google/models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert model_id("projects/p/locations/l/publishers/google/models/gemini-2.0-flash") == "gemini-2.0-flash"
    assert model_id("projects/p/locations/l/models/123") == "projects/p/locations/l/models/123"


def test_fingerprint_covers_model_parameters_and_request() -> None:
    request = '{"contents":[{"parts":[{"text":"hi"}],"role":"user"}]}'
    base = fingerprint("gemini-2.5-flash", None, request)
    assert base == hashlib.sha256(f"gemini-2.5-flash\n{{}}\n{request}".encode()).hexdigest()
    assert base == fingerprint("publishers/google/models/gemini-2.5-flash", {}, request)
    assert base != fingerprint("gemini-2.0-flash", None, request)
    assert base != fingerprint("gemini-2.5-flash", {"autoTruncate": False}, request)
    assert base != fingerprint("gemini-2.5-flash", None, request.replace("hi", "ho"))
    assert canonical_params({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'


def test_fingerprint_sql_renders_the_contract_expression() -> None:
    sql = fingerprint_sql("publishers/google/models/gemini-2.5-flash", {"b": "it's"})
    assert sql == (
        "to_hex(sha256(concat('gemini-2.5-flash', '\\n', '{\"b\": \"it\\'s\"}', '\\n', to_json_string(request))))"
    )
    assert staged_columns_sql(["id"], "m").startswith("id, request, to_hex(")
    assert staged_columns_sql(["id"], "m").endswith(" AS request_fingerprint")


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (None, None),
        ("gemini-2.0-flash", None),
        ("publishers/google/models/gemini-2.5-pro", {}),
        ("text-embedding-005", {"outputDimensionality": 256, "autoTruncate": False}),
        ("it's-a-model", {"b": "x, y: z", "a": [1, 2]}),
    ],
)
def test_the_dbt_macro_renders_the_runners_fingerprint_sql(model: str | None, params: dict | None) -> None:
    """One contract, two renderers: the macro's SQL (dbt's tojson is json.dumps) is the runner's, character for
    character, so a row staged by the runner joins its answers in the flatten macros."""
    dbt_context = {
        "var": lambda name, default=None: default,
        "tojson": lambda value, default=None, sort_keys=False: json.dumps(value, sort_keys=sort_keys),
    }
    macros = package_macros(
        "_internal/helpers.sql",
        "_internal/catalog.sql",
        "responses/response_fields.sql",
        "requests/request_fingerprint.sql",
        globals=dbt_context,
    )
    rendered = macros.request_fingerprint("request", model, params).strip()
    assert rendered == fingerprint_sql(model or RequestModelDefaults().model, params)


def test_run_region_precedence_and_conflicts() -> None:
    assert run_region("europe-west4", ["us-east1"], ["US"], "us-central1") == Region("europe-west4", "--location")
    assert run_region(None, ["us-east1", None], ["US"], "us-central1").name == "us-east1"
    assert run_region(None, [None], ["EU"], "us-central1") == Region("us-central1", "$VERTEX_BATCH_LOCATION")
    assert run_region(None, [None], ["EU", "europe-west4"], None).name == "europe-west4"
    assert run_region(None, [None], [None], None) is None
    with pytest.raises(ConfigurationError, match="several regions"):
        run_region(None, [None, None], ["US", "EU"], None)
