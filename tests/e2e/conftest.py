"""Fixtures for end-to-end runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import running_stack
from vertex_batch.local.stack import LocalStack


@pytest.fixture(scope="session")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack with the fast test backend, shared by the session (each test works in its own dataset;
    tests that count jobs filter them by their request table's label)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack
