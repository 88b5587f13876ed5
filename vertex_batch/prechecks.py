"""Checks of a request table before anything is staged or paid: keys that name one row each, requests present.

A key names the row an answer joins back to. A NULL key cannot be joined, and a key on two rows gets two
answers (both paid) that nobody can tell apart; so a request model with either is refused with one line (the
counts and up to five example keys) and nothing of it is submitted, while the other request models of the run
proceed. A row whose request is NULL or empty (``request``: SQL NULL, JSON ``null``, ``''``, ``{}``; ``content``
of an embeddings request model: NULL or blank) has nothing to ask: it is skipped (never staged, never paid) with
a warning that counts it. One query per request model does all of it; the package's dbt data tests
(``unique``/``not_null``) stay available for ``dbt test``.

This module owns the rules and their SQL; ``warehouse.Warehouse.requests_sql`` stages only rows that pass
``request_present_sql``; ``batch_io.WarehouseIO.audit`` runs ``audit_sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EXAMPLES = 5


@dataclass(frozen=True)
class KeyAudit:
    """What one pass over a request table found: rows, NULL keys, duplicate keys and empty requests."""

    rows: int = 0
    null_keys: int = 0
    duplicate_keys: int = 0  # distinct keys found on more than one row
    duplicate_rows: int = 0  # rows that carry them
    empty_requests: int = 0  # rows with a key but nothing to ask (skipped)
    duplicate_examples: tuple[str, ...] = ()
    null_key_examples: tuple[str, ...] = ()
    empty_request_examples: tuple[str, ...] = ()


def request_missing_sql(kind: str) -> str:
    """A boolean expression: the row's request is NULL or empty (``content`` for an embeddings request model)."""
    if kind == "embed":
        return "(content IS NULL OR TRIM(content) = '')"
    return "(request IS NULL OR TRIM(TO_JSON_STRING(request), '\" ') IN ('', 'null', '{}'))"


def request_present_sql(kind: str) -> str:
    """The rows a job may be given: those with something to ask."""
    return f"NOT {request_missing_sql(kind)}"


def _key_text_sql(key: Sequence[str]) -> str:
    if len(key) == 1:
        return f"CAST({key[0]} AS STRING)"
    parts = ", ', ', ".join(f"IFNULL(CAST({column} AS STRING), 'NULL')" for column in key)
    return f"CONCAT('(', {parts}, ')')"


def audit_sql(table: str, key: Sequence[str], kind: str) -> str:
    """One query over ``table``: rows ``(finding, example, n)``; a NULL ``example`` carries a count."""
    null_key = " OR ".join(f"{column} IS NULL" for column in key)
    keyed = (
        f"WITH t AS (SELECT {_key_text_sql(key)} AS k, ({null_key}) AS null_key, {request_missing_sql(kind)} AS "
        f"missing FROM `{table}`), dup AS (SELECT k, COUNT(*) AS n FROM t WHERE NOT null_key GROUP BY k "
        "HAVING COUNT(*) > 1) "
    )
    counts = [
        "SELECT 'rows' AS finding, CAST(NULL AS STRING) AS example, COUNT(*) AS n FROM t",
        "SELECT 'null_key', NULL, COUNTIF(null_key) FROM t",
        "SELECT 'empty_request', NULL, COUNTIF(missing AND NOT null_key) FROM t",
        "SELECT 'duplicate', NULL, COUNT(*) FROM dup",
        "SELECT 'duplicate_rows', NULL, IFNULL(SUM(n), 0) FROM dup",
    ]
    examples = [
        f"(SELECT 'duplicate', k, n FROM dup ORDER BY k LIMIT {EXAMPLES})",
        f"(SELECT 'empty_request', k, 1 FROM t WHERE missing AND NOT null_key ORDER BY k LIMIT {EXAMPLES})",
    ]
    if len(key) > 1:  # a composite key's other columns tell the rows apart; one NULL column alone says nothing
        examples.append(f"(SELECT 'null_key', k, 1 FROM t WHERE null_key ORDER BY k LIMIT {EXAMPLES})")
    return keyed + " UNION ALL ".join([*counts, *examples])


def audit_of(rows: Sequence[Sequence[Any]]) -> KeyAudit:
    """The ``KeyAudit`` of ``audit_sql``'s rows."""
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for finding, example, n in rows:
        if example is None:
            counts[finding] = int(n or 0)
        else:
            examples.setdefault(finding, []).append(str(example))
    return KeyAudit(
        rows=counts.get("rows", 0),
        null_keys=counts.get("null_key", 0),
        duplicate_keys=counts.get("duplicate", 0),
        duplicate_rows=counts.get("duplicate_rows", 0),
        empty_requests=counts.get("empty_request", 0),
        duplicate_examples=tuple(sorted(examples.get("duplicate", []))[:EXAMPLES]),
        null_key_examples=tuple(sorted(examples.get("null_key", []))[:EXAMPLES]),
        empty_request_examples=tuple(sorted(examples.get("empty_request", []))[:EXAMPLES]),
    )


def _examples(values: Sequence[str]) -> str:
    return f" (e.g. {', '.join(values)})" if values else ""


def refusal(name: str, key: Sequence[str], audit: KeyAudit) -> str | None:
    """The one-line refusal of a request model whose key does not name one row each, else None."""
    problems = []
    columns = ", ".join(key)
    if audit.duplicate_keys:
        examples = _examples(audit.duplicate_examples)
        problems.append(f"{audit.duplicate_keys} duplicate key(s) on {audit.duplicate_rows} rows{examples}")
    if audit.null_keys:
        problems.append(f"{audit.null_keys} row(s) with a NULL key{_examples(audit.null_key_examples)}")
    if not problems:
        return None
    return (
        f"request model {name}: key ({columns}) must name one row each: {', '.join(problems)}; nothing of it "
        "was submitted (fix the model; dbt unique and not_null tests on the key find these rows)"
    )


def skipped_warning(name: str, kind: str, audit: KeyAudit) -> str | None:
    """The warning for rows skipped because they have nothing to ask, else None."""
    if not audit.empty_requests:
        return None
    column = "content" if kind == "embed" else "request"
    return (
        f"{name}: {audit.empty_requests} row(s) with a NULL or empty `{column}` are skipped (not submitted, "
        f"not paid){_examples(audit.empty_request_examples)}"
    )
