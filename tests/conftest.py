"""Test ordering for ``scripts/test.sh``'s workers (``pytest -n 3 --dist loadfile --no-loadscope-reorder``): the
slow modules start first, one per worker, so that none is left for the end; then the modules that start servers."""

from __future__ import annotations

import pytest

# Folders whose modules start servers and run whole batch jobs: minutes, not seconds.
SERVER_FOLDERS = ("e2e", "dbt", "conformance")


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Order modules by rank, keeping the collected order within a rank and within a module."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        if item.path in slow_modules:
            return 0
        return 1 if item.path.parent.name in SERVER_FOLDERS else 2

    items.sort(key=rank)
