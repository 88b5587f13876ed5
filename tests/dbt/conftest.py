"""Fixtures that run the dbt package against the local BigQuery emulator: one emulator per test session,
on free ports, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from dbt_harness import Warehouse
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from vertex_batch.local.stack import LocalStack, StackConfig


@pytest.fixture(scope="session")
def bigquery_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """A BigQuery emulator on free ports for the whole session; its environment is exported for dbt."""
    config = StackConfig.with_free_ports(tmp_path_factory.mktemp("stack"))
    stack = LocalStack(config)
    saved = {name: os.environ.get(name) for name in config.client_env()}
    try:
        stack.up(only=("bigquery",))
        os.environ.update(config.client_env())
        yield config
    finally:
        stack.down()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def warehouse(bigquery_stack: StackConfig) -> Warehouse:
    client = bigquery.Client(
        project=bigquery_stack.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_stack.bigquery_url),
    )
    return Warehouse(bigquery_stack, client)
