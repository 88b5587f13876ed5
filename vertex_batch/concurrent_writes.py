"""BigQuery writes that lose a race with another writer, and the retry that runs them again.

Production (BigQuery, snapshot isolation): UPDATE, DELETE and MERGE are *mutating* DML; two of them on one table
run at once, up to 20 more queue as PENDING, and when concurrent ones touch the same partition one of them
conflicts; BigQuery reruns it up to three times, then fails it with ``400`` ``reason: "invalidQuery"``
(``status: INVALID_ARGUMENT``) and the message ``Could not serialize access to table P:D.T due to concurrent
update`` (inside a multi-statement transaction: ``Transaction is aborted due to concurrent update against table
…``); past the queue: ``Resources exceeded during query execution: Too many DML statements outstanding against
table P:T, limit is 20``. Sources: https://cloud.google.com/bigquery/docs/data-manipulation-language ("Concurrent
jobs", "DML statement conflicts"), https://cloud.google.com/blog/products/data-analytics/dml-without-limits-now-in-bigquery,
the error body quoted in github.com/confluentinc/kafka-connect-bigquery/issues/279 and
github.com/m-lab/etl-gardener/issues/272 (``Error 400: Could not serialize access to table … due to concurrent
update, invalidQuery``). A failed statement commits nothing, so running it again is safe.

The local BigQuery emulator (DuckDB on DuckLake) answers the same race with ``400 invalidQuery`` and ``Failed to
commit DuckLake transaction`` or ``Catalog write-write conflict``.
"""

from __future__ import annotations

from google.api_core import exceptions as core
from google.api_core.retry import Retry

#: Lower-cased fragments of the messages above; one owner for production's wording and the emulator's.
CONCURRENT_WRITE_MESSAGES = (
    "could not serialize access to table",
    "due to concurrent update",
    "too many dml statements outstanding against table",
    "catalog write-write conflict",
    "failed to commit ducklake transaction",
)


def is_concurrent_write(error: BaseException) -> bool:
    """True for a write that failed because another writer changed the same table at the same time."""
    if isinstance(error, core.RetryError) and error.cause is not None:
        error = error.cause
    if not isinstance(error, core.GoogleAPICallError):
        return False
    text = str(error).lower()
    return any(fragment in text for fragment in CONCURRENT_WRITE_MESSAGES)


#: Runs a write again (a new query job each time) while it loses races; about five minutes in all.
WRITE_RETRY = Retry(predicate=is_concurrent_write, initial=0.5, maximum=15.0, multiplier=2.0, timeout=300.0)
