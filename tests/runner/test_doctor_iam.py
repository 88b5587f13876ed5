"""The doctor's Vertex AI Service Agent checks over fake IAM policies (they cannot run against the local stack)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.api_core import exceptions as core

from vertex_batch.connections import Connections
from vertex_batch.doctor import AGENT, Doctor
from vertex_batch.regions import IOPlan, Region

pytestmark = pytest.mark.unit

AGENT_EMAIL = AGENT.format(number="123")
BQ_PLAN = IOPlan("bigquery", Region("us-central1", "--location"), "p.regional", "us-central1")
GCS_PLAN = IOPlan("gcs", Region("us-central1", "derived"), "p.analytics", "US", "gs://p-vb-us-central1/vertex-batch")


class FakeCredentials:
    service_account_email = "runner@p.iam.gserviceaccount.com"


class FakeDoctor(Doctor):
    def __init__(self, number: str | None, project_roles: set[str] | None, dataset_roles=(), bucket_roles=()):
        connections = Connections(project="p")
        connections.__dict__["credentials"] = FakeCredentials()  # cached_property: no ADC lookup
        entries = [SimpleNamespace(entity_id=AGENT_EMAIL, role=role) for role in dataset_roles]
        policy = SimpleNamespace(
            bindings=[{"role": role, "members": {f"serviceAccount:{AGENT_EMAIL}"}} for role in bucket_roles]
        )
        bigquery = SimpleNamespace(get_dataset=lambda dataset: SimpleNamespace(access_entries=entries))
        storage = SimpleNamespace(bucket=lambda name: SimpleNamespace(get_iam_policy=lambda **_: policy))
        super().__init__(connections, planner=None, bigquery=lambda: bigquery, storage=lambda: storage)  # type: ignore[arg-type]
        self.number, self.roles = number, project_roles

    def _project_number(self) -> str | None:
        return self.number

    def _project_roles(self, agent: str) -> set[str] | None:
        return self.roles


def test_credentials_name_the_identity() -> None:
    check = FakeDoctor("123", set()).credentials()
    assert check.status == "ok" and "runner@p.iam.gserviceaccount.com" in check.detail


def test_project_wide_service_agent_role_covers_datasets_and_buckets() -> None:
    checks = FakeDoctor("123", {"roles/aiplatform.serviceAgent"}).service_agent([BQ_PLAN, GCS_PLAN])
    assert [check.status for check in checks] == ["ok", "ok"]
    assert all(AGENT_EMAIL in check.detail for check in checks)


def test_resource_grants_are_read_and_missing_ones_say_what_to_grant() -> None:
    doctor = FakeDoctor("123", set(), dataset_roles=["WRITER"], bucket_roles=["roles/storage.objectViewer"])
    dataset, bucket = doctor.service_agent([BQ_PLAN, GCS_PLAN])
    assert dataset.status == "ok"
    assert bucket.blocking and "add-iam-policy-binding gs://p-vb-us-central1" in bucket.detail
    assert "roles/storage.objectAdmin" in bucket.detail


def test_unreadable_project_prints_the_agent_address_and_the_roles() -> None:
    (check,) = FakeDoctor(None, None).service_agent([BQ_PLAN, GCS_PLAN])
    assert check.status == "warning" and not check.blocking
    assert "service-PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com" in check.detail
    assert "roles/bigquery.dataEditor on dataset p.regional" in check.detail
    assert "roles/storage.objectAdmin on gs://p-vb-us-central1" in check.detail


def test_unreadable_dataset_access_is_a_warning_with_the_grant() -> None:
    doctor = FakeDoctor("123", set())

    def forbidden(dataset: str) -> None:
        raise core.Forbidden("no bigquery.datasets.get")

    doctor.bigquery = lambda: SimpleNamespace(get_dataset=forbidden)  # type: ignore[assignment]
    (check,) = doctor.service_agent([BQ_PLAN])
    assert check.status == "warning" and "roles/bigquery.dataEditor" in check.detail
