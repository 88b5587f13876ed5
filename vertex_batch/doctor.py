"""``vertex-batch doctor``: check, before paying for anything, that a run can work. One line per check.

Checks: Application Default Credentials and whose they are; the Vertex AI API in each job region; the model
there; each request model's dataset location against its job region (the IO plan) and the staging bucket;
the Vertex AI Service Agent's access to the datasets and buckets (from the IAM policies where the caller may
read them, otherwise the roles to grant). Against local endpoints (anonymous credentials) the IAM checks
say they were skipped. ``build`` runs the fast form (credentials, API, locations) before it submits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from google.api_core import exceptions as core

from vertex_batch.checks import Check
from vertex_batch.doctor_models import catalog_check, production_check
from vertex_batch.errors import VertexBatchError
from vertex_batch.lifecycle import served_in
from vertex_batch.regions import IOPlan, choose_plan, fit_location, job_region
from vertex_batch.staging_bucket import Planner

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    from vertex_batch.connections import Connections
    from vertex_batch.dbt_graph import DbtProject
    from vertex_batch.request_models import RequestModel

AGENT = "service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
# Roles that let the Vertex AI Service Agent read and write a dataset / bucket (project-wide or on the resource).
DATASET_ROLES = frozenset(
    {
        "roles/aiplatform.serviceAgent",
        "roles/bigquery.dataEditor",
        "roles/bigquery.dataOwner",
        "roles/bigquery.admin",
        "roles/editor",
        "roles/owner",
        "WRITER",
        "OWNER",
    }
)
BUCKET_ROLES = frozenset(
    {
        "roles/aiplatform.serviceAgent",
        "roles/storage.objectAdmin",
        "roles/storage.objectUser",
        "roles/storage.admin",
        "roles/editor",
        "roles/owner",
    }
)
GRANT_DATASET = "roles/bigquery.dataEditor"
GRANT_BUCKET = "roles/storage.objectAdmin"


def _one_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    return " ".join(str(text).split())[:300]


@dataclass
class Doctor:
    """Runs the checks for one project's request models."""

    connections: Connections
    planner: Planner
    bigquery: Callable[[], bigquery.Client]
    storage: Callable[[], storage.Client]

    @property
    def anonymous(self) -> bool:
        from google.auth.credentials import AnonymousCredentials

        return isinstance(self.connections.credentials, AnonymousCredentials)

    # --- the checks ---------------------------------------------------------------------------------
    def credentials(self) -> Check:
        try:
            credentials = self.connections.credentials
        except VertexBatchError as error:
            return Check("credentials", "problem", str(error))
        if self.anonymous:
            return Check("credentials", "ok", "local endpoints: anonymous credentials (no Google account used)")
        who = getattr(credentials, "service_account_email", None) or getattr(credentials, "account", None)
        kind = type(credentials).__module__.split(".")[-1]
        identity = who if who and who != "default" else f"{kind} credentials (gcloud auth application-default login)"
        return Check("credentials", "ok", f"Application Default Credentials found: {identity}")

    def vertex_api(self, region: str) -> Check:
        name = f"Vertex AI API in {region}"
        try:
            client = replace(self.connections, location=region).job_service_client()
            parent = f"projects/{self.connections.project}/locations/{region}"
            next(iter(client.list_batch_prediction_jobs(request={"parent": parent, "page_size": 1}).pages), None)
        except core.PermissionDenied as error:
            fix = (
                "enable it: gcloud services enable aiplatform.googleapis.com"
                if "SERVICE_DISABLED" in str(error) or "has not been used" in str(error)
                else "grant the caller roles/aiplatform.user"
            )
            return Check(name, "problem", f"{_one_line(error)}; {fix}")
        except (core.GoogleAPICallError, core.RetryError, OSError) as error:
            return Check(name, "problem", f"not reachable ({_one_line(error)}); check --location and the network")
        return Check(name, "ok", "reachable (batchPredictionJobs.list)")

    def location(self, request: RequestModel, option: str | None) -> tuple[Check, IOPlan | None]:
        """The IO plan of one request model (without creating anything)."""
        settings = request.settings
        name = f"{request.name} locations"
        dataset = request.table_id.rsplit(".", 1)[0]
        try:
            found = self.planner.dataset_location(dataset)
        except (core.GoogleAPICallError, OSError) as error:
            return Check(name, "problem", f"cannot read dataset {dataset}: {_one_line(error)}"), None
        if found is None:
            return Check(name, "warning", f"dataset {dataset} does not exist yet (dbt build creates it)"), None
        region = fit_location(job_region(found, option, settings.location), lambda name: served_in(request, name))
        info = settings.info
        try:
            plan = choose_plan(
                dataset=dataset,
                dataset_location=found,
                region=region,
                requested_input=settings.input,
                gcs_prefix=settings.gcs_prefix,
                bigquery_io=info is None or "bigquery" in info.batch_io,
            )
        except VertexBatchError as error:
            return Check(name, "problem", str(error)), None
        return Check(name, "ok", plan.describe()), plan

    def bucket(self, plan: IOPlan, configured: bool) -> Check:
        from vertex_batch.staging_bucket import prepare_bucket

        name = f"bucket gs://{plan.bucket}"
        try:
            ready = prepare_bucket(self.storage(), plan, create=False)
        except VertexBatchError as error:
            if "does not exist" in str(error) and not configured:
                return Check(
                    name,
                    "warning",
                    f"does not exist yet; build creates it in {plan.region.name} "
                    f"(needs storage.buckets.create), or create it yourself: {str(error).split('`')[1]}",
                )
            return Check(name, "problem", str(error))
        except (core.GoogleAPICallError, OSError) as error:
            return Check(name, "warning", f"could not check ({_one_line(error)})")
        where = ready.bucket_location or "location not readable"
        return Check(
            name, "ok", f"in {where}, usable by jobs in {plan.region.name} with data in {plan.dataset_location}"
        )

    def service_agent(self, plans: Sequence[IOPlan]) -> list[Check]:
        """The Vertex AI Service Agent's access to each dataset and bucket a job reads or writes."""
        name = "Vertex AI Service Agent"
        if self.anonymous:
            return [Check(name, "skipped", "local endpoints: IAM is not checked")]
        project = self.connections.project
        number = self._project_number()
        agent = AGENT.format(number=number or "PROJECT_NUMBER")
        if number is None:
            grants = "; ".join(self._grants(plans, agent))
            return [Check(name, "warning", f"could not read project {project}'s number; grant {agent}: {grants}")]
        project_roles = self._project_roles(agent)
        checks = []
        for plan in plans:
            if plan.path == "bigquery":
                checks.append(self._dataset_access(plan.dataset, agent, project_roles))
            elif plan.bucket:
                checks.append(self._bucket_access(plan.bucket, agent, project_roles))
        return checks or [Check(name, "ok", f"{agent}: nothing to check")]

    # --- helpers ---------------------------------------------------------------------------------------
    def _grants(self, plans: Sequence[IOPlan], agent: str) -> list[str]:
        grants = []
        for plan in plans:
            if plan.path == "bigquery":
                grants.append(f"{GRANT_DATASET} on dataset {plan.dataset}")
            elif plan.bucket:
                grants.append(f"{GRANT_BUCKET} on gs://{plan.bucket}")
        return grants or [f"{GRANT_DATASET} on the request models' datasets"]

    def _project_number(self) -> str | None:
        try:
            from google.cloud import resourcemanager_v3

            client = resourcemanager_v3.ProjectsClient(credentials=self.connections.credentials)
            return client.get_project(name=f"projects/{self.connections.project}").name.rsplit("/", 1)[-1]
        except (core.GoogleAPICallError, ImportError, OSError):
            return None

    def _project_roles(self, agent: str) -> set[str] | None:
        try:
            from google.cloud import resourcemanager_v3

            client = resourcemanager_v3.ProjectsClient(credentials=self.connections.credentials)
            policy = client.get_iam_policy(resource=f"projects/{self.connections.project}")
        except (core.GoogleAPICallError, ImportError, OSError):
            return None
        member = f"serviceAccount:{agent}"
        return {binding.role for binding in policy.bindings if member in binding.members}

    def _dataset_access(self, dataset: str, agent: str, project_roles: set[str] | None) -> Check:
        name = f"Vertex AI Service Agent on dataset {dataset}"
        if project_roles and project_roles & DATASET_ROLES:
            return Check(name, "ok", f"{agent} has {sorted(project_roles & DATASET_ROLES)[0]} on the project")
        try:
            entries = self.bigquery().get_dataset(dataset).access_entries
        except (core.GoogleAPICallError, OSError) as error:
            return Check(
                name, "warning", f"could not read its access ({_one_line(error)}); grant {agent} {GRANT_DATASET}"
            )
        roles = {entry.role for entry in entries if (entry.entity_id or "") == agent}
        if roles & DATASET_ROLES:
            return Check(name, "ok", f"{agent} has {sorted(roles & DATASET_ROLES)[0]}")
        return Check(name, "problem", f"{agent} cannot write it: grant it {GRANT_DATASET} on {dataset}")

    def _bucket_access(self, bucket: str, agent: str, project_roles: set[str] | None) -> Check:
        name = f"Vertex AI Service Agent on gs://{bucket}"
        grant = (
            f"gcloud storage buckets add-iam-policy-binding gs://{bucket} "
            f"--member=serviceAccount:{agent} --role={GRANT_BUCKET}"
        )
        if project_roles and project_roles & BUCKET_ROLES:
            return Check(name, "ok", f"{agent} has {sorted(project_roles & BUCKET_ROLES)[0]} on the project")
        try:
            policy = self.storage().bucket(bucket).get_iam_policy(requested_policy_version=3)
        except core.NotFound:
            return Check(name, "skipped", "the bucket does not exist yet")
        except (core.GoogleAPICallError, OSError) as error:
            return Check(name, "warning", f"could not read its IAM policy ({_one_line(error)}); `{grant}`")
        member = f"serviceAccount:{agent}"
        roles = {binding["role"] for binding in policy.bindings if member in binding.get("members", ())}
        if roles & BUCKET_ROLES:
            return Check(name, "ok", f"{agent} has {sorted(roles & BUCKET_ROLES)[0]}")
        return Check(name, "problem", f"{agent} cannot use it: `{grant}`")

    # --- all together ----------------------------------------------------------------------------------
    def run(self, models: Sequence[RequestModel], option: str | None = None, fast: bool = False) -> list[Check]:
        """Every check in order (``fast``: credentials, API and locations only)."""
        checks = [self.credentials()]
        if checks[0].blocking:
            return checks
        located = [self.location(model, option) for model in models]
        plans = [plan for _, plan in located if plan is not None]
        regions = sorted({plan.region.name for plan in plans}) or [option or self.connections.location]
        checks += [self.vertex_api(region) for region in regions]
        if not fast:
            pairs = {(m.settings.model, p.region.name) for m, (_, p) in zip(models, located, strict=True) if p}
            for model, region in sorted(pairs):
                checks.append(catalog_check(model, region))
                checks.append(production_check(self.connections, model, region))
        checks += [check for check, _ in located]
        if fast:
            return checks
        for model, (_, plan) in zip(models, located, strict=True):
            if plan is not None and plan.path == "gcs":
                checks.append(self.bucket(plan, configured=bool(model.settings.gcs_prefix)))
        checks += self.service_agent(plans)
        return checks


def project_checks(dbt: DbtProject, option: str | None = None, selectors: Sequence[str] = ()) -> list[Check]:
    """``vertex-batch doctor``: every check for the selected request models of a dbt project."""
    from vertex_batch.connections import Connections
    from vertex_batch.request_models import RequestModel
    from vertex_batch.settings import RequestModelDefaults
    from vertex_batch.staging_bucket import planner_for, storage_client

    manifest = dbt.parse()
    defaults = RequestModelDefaults.from_vars(dbt.project_vars())
    nodes = manifest.request_models(dbt.select(selectors) if selectors else None)
    if not nodes:
        return [Check("request models", "warning", "none selected (models with meta.vertex_batch)")]
    checks = []
    for project in sorted({node.database for node in nodes}):
        connections = Connections.from_env(project, option)
        models = []
        for node in (node for node in nodes if node.database == project):
            try:
                models.append(RequestModel(node.name, node.table_id, node.batch_settings(defaults), alias=node.alias))
            except VertexBatchError as error:
                checks.append(Check(f"{node.name} settings", "problem", str(error)))
        doctor = Doctor(
            connections, planner_for(connections), connections.bigquery_client, lambda c=connections: storage_client(c)
        )
        checks += doctor.run(models, option)
    return checks
