"""Where a request model's answers land, and in which shape: the one Python owner of the landing contract.

The dbt side renders the same rule in ``macros/responses/batch_output.sql`` (``landing_identifier``,
``batch_output_columns``); ``tests/unit/test_contracts.py`` checks that both agree.

Rule: the landing table is ``<request model's project>.<request model's dataset>.<request table>__batch_output``,
beside the request model; so is the job ledger ``vertex_batch_jobs``.
"""

from __future__ import annotations

LANDING_SUFFIX = "__batch_output"
LEDGER_TABLE = "vertex_batch_jobs"

# Columns a batch job adds to each input row (BigQuery output of a Gemini batch job).
JOB_OUTPUT_COLUMNS = (("response", "JSON"), ("status", "STRING"), ("processed_time", "TIMESTAMP"))
# Columns the runner adds when it lands a job's output rows.
LANDING_EXTRA_COLUMNS = (("batch_job_name", "STRING"), ("batch_attempt", "INT64"), ("landed_at", "TIMESTAMP"))
# Every column a landed row has beyond the request model's own, in order.
BATCH_OUTPUT_COLUMNS = JOB_OUTPUT_COLUMNS + LANDING_EXTRA_COLUMNS
#: Rows answered outside a batch job land with ``batch_job_name`` = ``<lane>/<run id>/...``; every other row came
#: from a batch job. The lane decides what share of the standard price a row pays (``costs.share_sql``).
LANE_PREFIXES = {"flex": "flex/", "online": "online/"}


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
