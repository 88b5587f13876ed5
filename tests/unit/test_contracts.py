"""Contracts written on both sides, checked to agree: retryable row statuses (Python, runner SQL, dbt macro),
the landing table's name and columns (Python and the batch_output macro), and documented defaults."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.macro_render import package_macros
from tests.unit.status_corpus import STATUSES
from vertex_batch.landing import LANDED_COLUMNS, LANDING_SUFFIX, landing_columns, landing_table, ledger_table
from vertex_batch.settings import RequestModelDefaults
from vertex_batch.transient_errors import (
    RETRYABLE_ROW_CODES,
    RETRYABLE_ROW_STATUSES,
    RETRYABLE_ROW_TYPES,
    is_retryable_row_status,
    retryable_status_sql,
)

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
MACROS = package_macros("_internal/helpers.sql", "responses/status.sql", "responses/batch_output.sql")


@pytest.mark.parametrize(("status", "retryable"), STATUSES)
def test_python_rule_classifies_the_corpus(status: str, retryable: bool) -> None:
    assert is_retryable_row_status(status) is retryable


def test_macro_and_runner_share_the_retryable_codes_and_statuses() -> None:
    sql = MACROS.is_retryable("status")
    codes = re.search(r"\) in \(([\d, ]+)\) then true", sql)
    assert codes and tuple(int(code) for code in codes.group(1).split(",")) == RETRYABLE_ROW_CODES
    names = re.search(r"\) in \(('[A-Z_]+'(?:, '[A-Z_]+')*)\) then true", sql)
    assert names and tuple(name.strip("' ") for name in names.group(1).split(",")) == RETRYABLE_ROW_STATUSES
    types = re.search(r"\) in \(('[a-z_]+'(?:, '[a-z_]+')*)\) then true", sql)
    assert types and tuple(name.strip("' ") for name in types.group(1).split(",")) == RETRYABLE_ROW_TYPES


def _words(sql: str) -> re.Pattern[str]:
    match = re.search(r"regexp_contains\(upper\((?:[^)]*)\), r'([^']+)'\)", sql, re.IGNORECASE)
    assert match, sql
    return re.compile(match.group(1))


@pytest.mark.parametrize(("status", "retryable"), [(s, r) for s, r in STATUSES if s and "{" not in s])
def test_plain_text_statuses_macro_regex_and_runner_agree(status: str, retryable: bool) -> None:
    """A status without a JSON body: the word search of the macro and of the runner's SQL decide."""
    leading = re.match(r"^\s*(\d{3})\b", status)
    by_code = bool(leading) and int(leading.group(1)) in RETRYABLE_ROW_CODES
    for pattern in (_words(MACROS.is_retryable("status")), _words(retryable_status_sql("status"))):
        assert (by_code or bool(pattern.search(status.upper()))) is retryable


def test_runner_sql_has_the_macros_structure() -> None:
    """Same extraction of body, code and status as the macro (the emulator test evaluates both)."""
    runner = retryable_status_sql("status").lower()
    macro = MACROS.is_retryable("status").lower()
    for fragment in ("safe.parse_json(regexp_extract(status, r'(?s)(\\{.*\\})'))", "'$.error.code'", "'$.status'"):
        assert fragment in runner and fragment in macro


def test_landing_table_name_is_the_macros() -> None:
    relation = type("Relation", (), {"identifier": "review_requests"})()
    assert MACROS.landing_identifier(relation) == "review_requests" + LANDING_SUFFIX
    assert landing_table("p.ds.review_requests") == "p.ds.review_requests__batch_output"
    assert ledger_table("p.ds.review_requests") == "p.ds.vertex_batch_jobs"


@pytest.mark.parametrize("family", sorted(LANDED_COLUMNS))
def test_landing_columns_are_the_macros(family: str) -> None:
    python = [(name, kind.lower()) for name, kind in landing_columns(family)]
    assert python == list(MACROS.batch_output_columns(family))


def test_landing_columns_of_a_kind_are_its_first_family() -> None:
    assert MACROS.batch_output_columns("generate") == MACROS.batch_output_columns("gemini")
    assert MACROS.batch_output_columns("embed") == MACROS.batch_output_columns("text-embedding")


def test_documented_request_model_defaults_match_the_settings() -> None:
    docs = (REPO / "models" / "vertex_batch_docs.md").read_text()
    defaults = RequestModelDefaults()
    for name in ("model", "max_rows_per_job", "max_attempts", "input", "lane", "flex_max_rows"):
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"vertex_batch_{name}" in row and str(getattr(defaults, name)) in row, row
    assert "destination_dataset" not in docs


def test_the_package_declares_no_runner_defaults_of_its_own() -> None:
    """dbt_project.yml's vars must not restate (and drift from) the settings' defaults."""
    declared = yaml.safe_load((REPO / "dbt_project.yml").read_text()).get("vars", {})
    assert not {f"vertex_batch_{name}" for name in RequestModelDefaults.model_fields} & set(declared)


def test_macro_var_fallbacks_are_the_settings_defaults() -> None:
    """A macro reading ``var('vertex_batch_<name>', <fallback>)`` falls back to the same default as the runner; the
    model's fallback is the catalog's default model, read from the generated catalog macro."""
    defaults = RequestModelDefaults()
    found = []
    for path in (REPO / "macros").rglob("*.sql"):
        for name, fallback in re.findall(r"var\('vertex_batch_(\w+)',\s*'?([^')]+)'?\)", path.read_text()):
            if name == "model":
                assert fallback == "vertex_batch._catalog(", f"{path.name}: the default model is the catalog's"
                found.append(name)
            elif name in RequestModelDefaults.model_fields:
                found.append(name)
                assert fallback == str(getattr(defaults, name)), f"{path.name}: var vertex_batch_{name}"
    assert "model" in found
    catalog_macro = package_macros("_internal/catalog.sql")
    assert catalog_macro._catalog()["default_model"] == defaults.model


def test_the_runner_never_imports_the_local_stack() -> None:
    """Dependencies point one way: the local stack may use the runner, never the reverse (the CLI, a thin layer
    over both, starts the stack for ``--local``, ``local`` and ``demo``)."""
    offenders = []
    for path in sorted((REPO / "vertex_batch").glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            offenders += [f"{path.name}: {name}" for name in names if name.startswith("vertex_batch.local")]
    assert offenders == []
