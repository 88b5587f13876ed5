"""Writes that lose a race with another writer are run again (``concurrent_writes``): production's wording, the
emulator's, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from google.api_core import exceptions as core

from vertex_batch.concurrent_writes import is_concurrent_write
from vertex_batch.warehouse import Warehouse

pytestmark = pytest.mark.unit
SERIALIZE = "Could not serialize access to table my-project:ds.vertex_batch_jobs due to concurrent update"
OUTSTANDING = "Too many DML statements outstanding against table p:d.t, limit is 20."


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (core.BadRequest(SERIALIZE, errors=[{"reason": "invalidQuery"}]), True),
        (core.BadRequest("Query error: Transaction is aborted due to concurrent update against table p:d.t"), True),
        (core.BadRequest(f"Resources exceeded during query execution: {OUTSTANDING}"), True),
        (core.BadRequest("Failed to commit: Failed to commit DuckLake transaction."), True),
        (core.BadRequest('TransactionContext Error: Catalog write-write conflict on create with "t"'), True),
        (core.RetryError("gave up", cause=core.BadRequest(SERIALIZE)), True),
        (core.BadRequest("Syntax error: Unexpected keyword MERGE at [1:1]"), False),
        (core.NotFound("Not found: Table p:d.t"), False),
        (RuntimeError("could not serialize access to table t due to concurrent update"), False),
    ],
)
def test_only_lost_races_are_retried(error: BaseException, retried: bool) -> None:
    assert is_concurrent_write(error) is retried


@dataclass
class RacingClient:
    """A BigQuery client whose first ``lost`` statements lose a race."""

    lost: int
    statements: list[str] = field(default_factory=list)

    def query(self, sql: str, job_config: object = None) -> RacingClient:
        self.statements.append(sql)
        return self

    def result(self, max_results: int | None = None) -> list:
        if len(self.statements) <= self.lost:
            raise core.BadRequest(SERIALIZE)
        return []

    def delete_table(self, table: str, not_found_ok: bool = False) -> None:
        self.statements.append(f"DROP {table}")
        if len(self.statements) <= self.lost:
            raise core.BadRequest("Failed to commit: Failed to commit DuckLake transaction.")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("google.api_core.retry.retry_unary.time.sleep", lambda seconds: None)


def test_a_statement_that_lost_a_race_is_run_again() -> None:
    client = RacingClient(lost=2)
    Warehouse(client).execute("MERGE `p.d.vertex_batch_jobs` t USING ...")  # type: ignore[arg-type]
    assert len(client.statements) == 3, "a new query job each time, until it wins"


def test_a_drop_that_lost_a_race_is_run_again() -> None:
    client = RacingClient(lost=1)
    Warehouse(client).drop("p.d.t")  # type: ignore[arg-type]
    assert client.statements == ["DROP p.d.t", "DROP p.d.t"]


def test_other_errors_are_not_retried() -> None:
    class Broken(RacingClient):
        def result(self, max_results: int | None = None) -> list:
            raise core.BadRequest("Syntax error")

    client = Broken(lost=0)
    with pytest.raises(core.BadRequest, match="Syntax error"):
        Warehouse(client).execute("MERGE nonsense")  # type: ignore[arg-type]
    assert len(client.statements) == 1
