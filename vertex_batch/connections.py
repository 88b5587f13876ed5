"""Where the runner's clients point: the local stack (endpoints from the environment) or Google Cloud (ADC)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from vertex_batch.errors import ConfigurationError
from vertex_batch.regions import ENV_LOCATION, GLOBAL

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import aiplatform_v1, bigquery

ENV_BIGQUERY_ENDPOINT = "VERTEX_BATCH_BIGQUERY_ENDPOINT"
ENV_API_ENDPOINT = "VERTEX_BATCH_API_ENDPOINT"
DEFAULT_LOCATION = "us-central1"


def api_host(location: str) -> str:
    """The Vertex AI API host of a location: ``us-central1-aiplatform.googleapis.com``, ``aiplatform.googleapis.com``
    for ``global``, ``aiplatform.us.rep.googleapis.com`` for the ``us``/``eu`` multi-region endpoints (the
    locations page of the Vertex AI docs)."""
    location = location.lower()
    if location == GLOBAL:
        return "aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class Connections:
    """Project, region and endpoints of one run. ``None`` endpoints mean the real Google APIs."""

    project: str
    location: str = DEFAULT_LOCATION
    bigquery_endpoint: str | None = None
    vertex_endpoint: str | None = None

    @classmethod
    def from_env(cls, project: str, location: str | None = None) -> Connections:
        """Endpoints from ``VERTEX_BATCH_*`` variables (set for the local stack), else the cloud."""
        return cls(
            project=project,
            location=location or os.environ.get(ENV_LOCATION) or DEFAULT_LOCATION,
            bigquery_endpoint=os.environ.get(ENV_BIGQUERY_ENDPOINT) or None,
            vertex_endpoint=os.environ.get(ENV_API_ENDPOINT) or None,
        )

    @property
    def is_local(self) -> bool:
        return self.vertex_endpoint is not None

    @cached_property
    def credentials(self) -> Credentials:
        """Anonymous for local endpoints; Application Default Credentials for Google Cloud."""
        if self.is_local:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except DefaultCredentialsError as error:
            raise ConfigurationError(
                "no Google credentials found: run `gcloud auth application-default login` or set "
                f"GOOGLE_APPLICATION_CREDENTIALS (or set {ENV_API_ENDPOINT} to use the local stack)"
            ) from error
        return credentials

    def bigquery_client(self) -> bigquery.Client:
        """A google-cloud-bigquery client for this project."""
        from google.api_core.client_options import ClientOptions
        from google.cloud import bigquery

        options = ClientOptions(api_endpoint=self.bigquery_endpoint) if self.bigquery_endpoint else None
        return bigquery.Client(project=self.project, credentials=self.credentials, client_options=options)

    def job_service_client(self) -> aiplatform_v1.JobServiceClient:
        """The official Vertex AI JobServiceClient (REST transport) for this region."""
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1

        endpoint = self.vertex_endpoint or api_host(self.location)
        return aiplatform_v1.JobServiceClient(
            credentials=self.credentials,
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
        )

    def llm_utility_client(self) -> aiplatform_v1.LlmUtilityServiceClient:
        """The official Vertex AI LlmUtilityServiceClient (REST transport) for this region: countTokens."""
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1

        endpoint = self.vertex_endpoint or api_host(self.location)
        return aiplatform_v1.LlmUtilityServiceClient(
            credentials=self.credentials,
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
        )
