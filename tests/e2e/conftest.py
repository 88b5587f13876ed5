"""Fixtures for end-to-end runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import running_stack
from vertex_batch.local.stack import LocalStack


@pytest.fixture(scope="session", autouse=True)
def batch_lane() -> Iterator[None]:
    """End-to-end tests exercise batch jobs: every request model runs in lane batch ($VERTEX_BATCH_LANE) unless a
    test module removes it (tests/e2e/test_flex_lane_local.py does)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTEX_BATCH_LANE", "batch")
        yield


@pytest.fixture(scope="session")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack with the fast test backend, shared by the session (each test works in its own dataset;
    tests that count jobs filter them by their request table's label)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack
