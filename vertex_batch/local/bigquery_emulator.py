"""Entry point of the local BigQuery emulator (local-bigquery 0.3.2) with one fix applied.

local-bigquery 0.3.2 (and 0.4.0) answers a CREATE TABLE AS SELECT job without a ``destinationTable``;
dbt-bigquery then fails with ``'NoneType' object has no attribute 'path'``. The wrapper below reports the
statement's ``ddlTargetTable`` as the job's destination, which is what BigQuery itself does.
"""

from __future__ import annotations

import sys

from local_bigquery import cli
from local_bigquery.jobs import query

from vertex_batch.local import duckdb_extensions

_original_execute = query._execute


def _execute_with_ctas_destination(*args, **kwargs):
    statistics, children, destination = _original_execute(*args, **kwargs)
    if destination is None and statistics.statementType == "CREATE_TABLE_AS_SELECT":
        destination = statistics.ddlTargetTable
    return statistics, children, destination


query._execute = _execute_with_ctas_destination


def main(argv: list[str] | None = None) -> None:
    """Run ``local-bigquery`` with the CTAS fix in place (and DuckDB's extensions installed offline)."""
    duckdb_extensions.install()
    cli.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
