"""The shape of the code, held by tests: the core imports no adapter, modules stay small, and model facts live
only in the model catalog (current models in every default and README example)."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from vertex_batch.catalog import DEFAULT_HORIZON_DAYS, catalog

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vertex_batch"
#: Modules of the domain core: they speak ports and plain data only.
CORE = (
    "ports.py",
    "job_loop.py",
    "jobs.py",
    "work.py",
    "budget.py",
    "request_models.py",
    "ledger.py",
    "regions.py",
    "lifecycle.py",
    "checks.py",
    "errors.py",
    "runner.py",
    "lanes.py",
    "lane_ports.py",
    "flex_lane.py",
    "prechecks.py",
    "lease.py",
    "run_guard.py",
    "job_create.py",
)
FORBIDDEN = ("google", "dbt", "vertex_batch.progress", "vertex_batch.cli", "vertex_batch.views", "tqdm")
MAX_LINES = 450
README_MAX_LINES = 249  # a newcomer reads it in five minutes; details live in docs/


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


#: What the core may import besides itself: plain data and rules, no client.
PLAIN = (*CORE, "catalog.py", "landing.py", "settings.py", "report.py", "location_errors.py", "usage.py", "costs.py")
PLAIN += ("families.py", "manifest.py", "identity.py")


def allowed(module: str) -> bool:
    if module.split(".")[0] in ("google", "dbt", "dbt_common", "tqdm") or module in FORBIDDEN:
        return False
    return not module.startswith("vertex_batch.") or f"{module.split('.')[1]}.py" in PLAIN


def test_the_core_imports_no_google_client_no_dbt_and_no_ui() -> None:
    """Transitively: a core module imports only the core, the catalog, costs and settings."""
    offenders = []
    for name in CORE:
        for module in imported(PACKAGE / name):
            if not allowed(module):
                offenders.append(f"{name}: {module}")
    assert offenders == []


def test_no_module_is_over_the_size_limit() -> None:
    long = [
        f"{path.relative_to(REPO)}: {count}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_the_readme_stays_short_and_links_its_docs() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {"docs/architecture.md", "docs/fidelity.md", "docs/runs.md", "docs/families.md", "benchmarks/README.md"}
    assert {path for path in linked if f"({path}" in readme} == linked
    assert all((REPO / path).exists() for path in linked)


def _model_names() -> set[str]:
    names = {name.lower() for model in catalog().models for name in (model.id, *model.aliases)}
    return {name for name in names if len(name) > 6}


def test_no_model_id_is_written_outside_the_catalog() -> None:
    """Model facts live in vertex_batch/catalog.toml; code and macros read them (examples and tests aside)."""
    pattern = re.compile("|".join(sorted((re.escape(name) for name in _model_names()), key=len, reverse=True)))
    generated = {REPO / "macros" / "_internal" / "catalog.sql"}
    found = []
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "macros").rglob("*.sql"), *(REPO / "macros").rglob("*.yml")]:
        if path in generated:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in pattern.finditer(line.lower()):
                found.append(f"{path.relative_to(REPO)}:{number}: {match.group()}")
    assert found == []


def test_defaults_and_readme_examples_name_models_that_stay_current() -> None:
    """No default and no README example may name a model retiring within 90 days of the catalog's check date."""
    horizon = catalog().checked + timedelta(days=DEFAULT_HORIZON_DAYS)
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- model table")
    end = readme.index("<!-- end of model table -->")
    examples = readme[:start] + readme[end:]
    named = {catalog().default_model} | {
        match.group(1) for match in re.finditer(r"'model':\s*'([^']+)'|model:\s*([\w.@-]+)", examples) if match.group(1)
    }
    named |= {match.group(1) for match in re.finditer(r"`((?:gemini|claude|text-embedding)-[\w.@-]*)`", examples)}
    for name in sorted(named):
        info = catalog().find(name)
        assert info is not None, f"{name}: not a catalog model"
        assert info.retirement is None or info.retirement > horizon, f"{name} retires on {info.retirement}"
