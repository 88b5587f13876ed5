"""Where a request model's answers land, and in which shape: the one Python owner of the landing contract.

The dbt side renders the same rule in ``macros/responses/batch_output.sql`` (``landing_identifier``,
``batch_output_columns``); ``tests/unit/test_contracts.py`` checks that both agree.

Rule: the landing table is ``<request model's project>.<request model's dataset>.<request table>__batch_output``,
beside the request model; so is the job ledger ``vertex_batch_jobs``.

Shape, per family (``landing_columns``): the request model's key columns and ``request_fingerprint``, then what
production's output rows hold (the request and the answer as the family writes them, see ``families.py``), then
the runner's ``batch_job_name``, ``batch_attempt`` and ``landed_at``. Every generating family lands
``request``, ``response``, ``status`` ('' on success) and ``processed_time``, so the flatten macros read them
alike: chat completions carry no ``status`` or processing time, so landing derives ``status`` from their
``error`` and ``processed_time`` from the completion's ``created``. Families whose rows are named by an id
(``families.FAMILY_ROWS``) keep it as ``custom_id`` and get their key columns and fingerprint back by joining
the output to the staged input on it (``joined_landing_sql``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from vertex_batch.families import family_rows
from vertex_batch.identity import FINGERPRINT_COLUMN, ROW_ID_COLUMN

LANDING_SUFFIX = "__batch_output"
LEDGER_TABLE = "vertex_batch_jobs"

# Columns a batch job adds to each input row (BigQuery output of a Gemini batch job).
JOB_OUTPUT_COLUMNS = (("response", "JSON"), ("status", "STRING"), ("processed_time", "TIMESTAMP"))
# Columns the runner adds when it lands a job's output rows.
LANDING_EXTRA_COLUMNS = (("batch_job_name", "STRING"), ("batch_attempt", "INT64"), ("landed_at", "TIMESTAMP"))
# Every column a landed Gemini row has beyond the request model's own, in order.
BATCH_OUTPUT_COLUMNS = JOB_OUTPUT_COLUMNS + LANDING_EXTRA_COLUMNS

_REQUEST = (("request", "JSON"),)
_ID = ((ROW_ID_COLUMN, "STRING"),)
#: A landed row's columns after the key columns and ``request_fingerprint``, before ``LANDING_EXTRA_COLUMNS``.
LANDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "gemini": _REQUEST + JOB_OUTPUT_COLUMNS,
    "claude": _ID + _REQUEST + JOB_OUTPUT_COLUMNS,
    "chat-completions": (
        *_ID,
        ("id", "STRING"),
        *_REQUEST,
        ("response", "JSON"),
        ("error", "JSON"),
        ("status", "STRING"),
        ("processed_time", "TIMESTAMP"),
    ),
    "gemini-embedding": _ID + _REQUEST + JOB_OUTPUT_COLUMNS,
    "text-embedding": (("content", "STRING"), ("predictions", "JSON"), ("status", "STRING")),
}
#: Rows answered outside a batch job land with ``batch_job_name`` = ``<lane>/<run id>/...``; every other row came
#: from a batch job. The lane decides what share of the standard price a row pays (``costs.share_sql``).
LANE_PREFIXES = {"flex": "flex/", "online": "online/"}


def landing_columns(family: str) -> tuple[tuple[str, str], ...]:
    """The landing table's columns after the key columns and ``request_fingerprint``: (name, BigQuery type)."""
    return LANDED_COLUMNS[family] + LANDING_EXTRA_COLUMNS


def reserved_columns(family: str) -> tuple[str, ...]:
    """Column names a request model of ``family`` may not have: those a job's output or the landing table adds."""
    rows = family_rows(family)
    names = [name for name, _ in LANDED_COLUMNS[family] if name not in ("request", "content")]
    names += [name for name, _ in rows.output if name != rows.row_id_field] if rows else []
    return tuple(dict.fromkeys(names))


def joined_landing_sql(
    family: str, key: Sequence[str], output_table: str, input_table: str, output_columns: Collection[str]
) -> str:
    """The landing rows of a job whose rows are named by an id: its output (``output_columns`` are the columns
    it has) joined to its staged input on the id; the runner's columns are the query parameters ``@job`` and
    ``@attempt``."""
    rows = family_rows(family)
    assert rows is not None, f"{family} rows pass their key columns through the job"

    def out(name: str, missing: str) -> str:
        return f"o.{name}" if name in output_columns else missing

    error = "error" in output_columns
    status_parts = ["NULLIF(o.status, '')"] if "status" in output_columns else []
    status_parts.append("IF(o.error IS NULL, '', TO_JSON_STRING(o.error))" if error else "''")
    processed = [out("processed_time", "")] if "processed_time" in output_columns else []
    if family == "chat-completions" and "response" in output_columns:
        processed.append("TIMESTAMP_SECONDS(SAFE_CAST(JSON_VALUE(o.response, '$.created') AS INT64))")
    values = {
        ROW_ID_COLUMN: f"o.{rows.row_id_field}",
        "id": out("id", "CAST(NULL AS STRING)"),
        "request": f"i.{rows.request_field}",
        "response": out("response", "CAST(NULL AS JSON)"),
        "error": out("error", "CAST(NULL AS JSON)"),
        "status": f"COALESCE({', '.join(status_parts)})" if len(status_parts) > 1 else status_parts[0],
        "processed_time": f"COALESCE({', '.join([*processed, 'CURRENT_TIMESTAMP()'])})",
    }
    columns = [f"i.{column}" for column in (*key, FINGERPRINT_COLUMN)]
    columns += [f"{values[name]} AS {name}" for name, _ in LANDED_COLUMNS[family]]
    columns += ["@job AS batch_job_name", "@attempt AS batch_attempt", "CURRENT_TIMESTAMP() AS landed_at"]
    return (
        f"SELECT {', '.join(columns)} FROM `{output_table}` AS o "
        f"JOIN `{input_table}` AS i ON i.{ROW_ID_COLUMN} = o.{rows.row_id_field}"
    )


def lane_sql(job_name_column: str) -> str:
    """The lane of a landed row (``'batch'``, ``'flex'`` or ``'online'``) from its ``batch_job_name``."""
    cases = " ".join(
        f"when starts_with({job_name_column}, '{prefix}') then '{lane}'" for lane, prefix in LANE_PREFIXES.items()
    )
    return f"(case {cases} else 'batch' end)"


def dataset_of(table_id: str) -> str:
    """``project.dataset`` of ``project.dataset.table``."""
    return table_id.rsplit(".", 1)[0]


def landing_table(request_table: str) -> str:
    """The landing table of the request table ``project.dataset.table``."""
    return f"{request_table}{LANDING_SUFFIX}"


def ledger_table(request_table: str) -> str:
    """The job ledger of the request table's dataset."""
    return f"{dataset_of(request_table)}.{LEDGER_TABLE}"
