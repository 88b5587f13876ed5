"""Test ordering for ``scripts/test.sh``'s workers (``pytest -n 3 --dist loadfile``): the longest modules
start first, so that no worker is left with a long module at the end (longest-first scheduling)."""

from __future__ import annotations

import pytest

# Folders by how long their modules take: whole runs through the CLI and dbt (minutes), then modules that start
# servers and run jobs, then the rest (seconds).
FOLDER_RANKS = {"e2e": 1, "dbt": 2, "conformance": 2, "service": 2, "smoke": 2}


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Order modules by rank, keeping the collected order within a rank and within a module."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        if item.path in slow_modules:
            return 0
        return FOLDER_RANKS.get(item.path.parent.name, 3)

    items.sort(key=rank)
