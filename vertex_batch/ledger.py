"""The job ledger's rows: one per batch job, in the table ``vertex_batch_jobs`` beside each request model.

Plain data and the column contract; ``ledger_table.py`` reads and writes the table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

_TYPES = {
    str: "STRING",
    int: "INT64",
    float: "FLOAT64",
    bool: "BOOL",
    datetime: "TIMESTAMP",
}


@dataclass
class LedgerEntry:
    """What the ledger knows of one job."""

    job_name: str
    run_id: str
    request_model: str
    attempt: int
    chunk: int
    state: str
    input_table: str
    output_table: str
    rows_submitted: int
    output_uri: str = ""
    successful_count: int = 0
    failed_count: int = 0
    incomplete_count: int = 0
    prompt_tokens: int = 0
    candidate_tokens: int = 0
    total_tokens: int = 0
    estimated_cost_usd: float = 0.0
    actual_cost_usd: float = 0.0
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str = ""
    landed: bool = False
    updated_at: datetime | None = None


def _column_type(name: str) -> str:
    annotation = LedgerEntry.__annotations__[name]
    for python_type, sql_type in _TYPES.items():
        if python_type.__name__ in str(annotation):
            return sql_type
    raise TypeError(name)


COLUMNS = [(field.name, _column_type(field.name)) for field in fields(LedgerEntry)]
