"""Fixtures of the local batch-service tests: one pair of emulators per session, services per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage
from svc_helpers import LOCATION, PROJECT, ServiceProcess

from vertex_batch.local.stack import LocalStack, StackConfig, free_ports


@pytest.fixture(scope="session")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The whole local stack, started once by its own launcher: both emulators and a service with the fake
    backend (``service`` below); other services are started beside it by ``start_service``."""
    config = StackConfig.with_free_ports(
        tmp_path_factory.mktemp("stack"),
        backend="fake-fast-test",
        workers=2,
        service_args=("--max-requests-per-job", "50"),
    )
    stack = LocalStack(config)
    try:
        stack.up()
        yield config
    finally:
        stack.down()


@pytest.fixture(scope="session")
def bq(stack_config: StackConfig) -> bigquery.Client:
    return bigquery.Client(
        PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=stack_config.bigquery_url),
    )


@pytest.fixture(scope="session")
def gcs(stack_config: StackConfig) -> storage.Client:
    return storage.Client(
        PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": stack_config.gcs_url}
    )


def regional_dataset(bq: bigquery.Client, name: str, location: str) -> str:
    """A dataset in one region: Vertex AI refuses BigQuery datasets in other regions and multi-regions."""
    dataset = bigquery.Dataset(f"{PROJECT}.{name}")
    dataset.location = location
    bq.create_dataset(dataset, exists_ok=True)
    return name


@pytest.fixture(scope="session")
def dataset(bq: bigquery.Client) -> str:
    """A dataset in the jobs' region."""
    return regional_dataset(bq, "service_tests", LOCATION)


@pytest.fixture(scope="session")
def east_dataset(bq: bigquery.Client) -> str:
    """A dataset in us-east5, where the catalog serves Claude and Llama."""
    return regional_dataset(bq, "service_tests_east5", "us-east5")


@pytest.fixture(scope="session")
def bucket(gcs: storage.Client) -> str:
    gcs.create_bucket("service-tests")
    return "service-tests"


@pytest.fixture(scope="session")
def start_service(
    stack_config: StackConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a service with extra arguments; every service started is stopped at the end of the session."""
    started: list[ServiceProcess] = []

    def start(*extra_args: str, env: dict[str, str] | None = None) -> ServiceProcess:
        state = tmp_path_factory.mktemp("vertex")
        service = ServiceProcess(
            free_ports(1)[0],
            Path(state) / "state",
            stack_config.bigquery_url,
            stack_config.gcs_url,
            extra_args,
            env or {},
        )
        started.append(service)
        service.start()
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def service(stack_config: StackConfig) -> ServiceProcess:
    """The stack's own service (fake backend, at most 50 requests per job), shared by the fast tests."""
    return ServiceProcess(
        stack_config.vertex_port,
        stack_config.state_dir / "vertex",
        stack_config.bigquery_url,
        stack_config.gcs_url,
    )
