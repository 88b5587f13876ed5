"""Refuse before paying (``prechecks``) through the real runner over fakes: a request model with duplicate or NULL
keys is refused with one line (counts, example keys), exit 2, nothing of it staged or submitted, while the
others proceed; rows with nothing to ask are skipped and counted, never paid."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.unit.fakes import World, request_model
from tests.unit.test_runner_modes import FakeDbt, FakeRunner
from vertex_batch.prechecks import KeyAudit, audit_of, audit_sql, refusal, skipped_warning
from vertex_batch.report import EXIT_OK, EXIT_REFUSED
from vertex_batch.run_guard import RunGuard

pytestmark = pytest.mark.unit


@dataclass
class DirtyDbt(FakeDbt):
    """dbt whose build of ``requests_a`` leaves ``extra`` keys in it (duplicates, NULLs)."""

    extra: tuple = ()

    def build(self, selectors, excludes=()) -> None:
        super().build(selectors, excludes)
        if "+requests_a" in selectors:
            self.world.warehouse.requests["requests_a"] += list(self.extra)


def test_duplicate_and_null_keys_refuse_the_model_before_any_job() -> None:
    world = World()
    dbt = DirtyDbt(world, extra=("requests_a-1", "requests_a-3", "requests_a-3", None))
    said: list[str] = []
    runner = FakeRunner(world, dbt)
    runner.progress.message = said.append  # type: ignore[method-assign]
    report = runner.build()
    assert report.exit_code == EXIT_REFUSED == 2
    assert world.jobs.creates == [] and world.warehouse.staged == [], "nothing staged, nothing paid"
    (line,) = report.refused
    assert "requests_a" in line and "2 duplicate key(s) on 5 rows" in line and "1 row(s) with a NULL key" in line
    assert "requests_a-1" in line and "requests_a-3" in line and "\n" not in line
    assert any("requests_b: waits, it needs the answers of requests_a" in text for text in said)
    assert [selectors for selectors, _ in dbt.builds] == [("+requests_a",), ("*",)]
    assert "requests_a+" in dbt.builds[-1][1], "nothing fed by the refused model is built"


def test_a_refused_model_does_not_stop_the_others_of_its_wave() -> None:
    world = World()
    good, bad = world.add(request_model("good"), 3), world.add(request_model("bad"), 2)
    world.warehouse.requests["bad"].append(None)
    loop = world.loop()
    guard = RunGuard(loop, loop.report, world.leases, 60.0, wait_for_lease=True)
    admitted = guard.admit([good, bad])
    assert admitted == [good] and list(guard.refused) == ["bad"]
    world.settle(loop, *admitted)
    assert len(world.warehouse.answered("good")) == 3 and world.warehouse.landed_keys("bad") == []


def test_empty_requests_are_skipped_counted_and_never_paid() -> None:
    world = World()
    dbt = FakeDbt(world)
    world.warehouse.empty = {"requests_a-0", "requests_a-4"}
    said: list[str] = []
    runner = FakeRunner(world, dbt)
    runner.progress.message = said.append  # type: ignore[method-assign]
    report = runner.build()
    assert report.exit_code == EXIT_OK
    submitted = [key for job in world.jobs.jobs.values() for key in job.keys]
    assert "requests_a-0" not in submitted and len([k for k in submitted if k.startswith("requests_a")]) == 3
    (model,) = [one for one in report.models if one.request_model == "requests_a"]
    assert model.skipped_rows == 2
    assert any("2 row(s) with a NULL or empty `request` are skipped" in text for text in said)


@pytest.mark.parametrize(
    ("audit", "refused"),
    [
        (KeyAudit(rows=3), False),
        (KeyAudit(rows=3, empty_requests=1, empty_request_examples=("7",)), False),
        (KeyAudit(rows=3, null_keys=1), True),
        (KeyAudit(rows=3, duplicate_keys=1, duplicate_rows=2, duplicate_examples=("9",)), True),
    ],
)
def test_only_key_problems_refuse(audit: KeyAudit, refused: bool) -> None:
    assert (refusal("m", ("id",), audit) is not None) is refused
    assert (skipped_warning("m", "generate", audit) is not None) is bool(audit.empty_requests)


def test_audit_rows_become_counts_and_at_most_five_sorted_examples() -> None:
    rows = [("rows", None, 12), ("duplicate", None, 6), ("duplicate_rows", None, 12), ("null_key", None, 0)]
    rows += [("duplicate", f"k{i}", 2) for i in (6, 5, 4, 3, 2, 1)]
    audit = audit_of(rows)
    assert (audit.rows, audit.duplicate_keys, audit.duplicate_rows, audit.null_keys) == (12, 6, 12, 0)
    assert audit.duplicate_examples == ("k1", "k2", "k3", "k4", "k5")


@pytest.mark.parametrize(("key", "kind"), [(("id",), "generate"), (("a", "b"), "embed")])
def test_one_query_reads_the_table_once_per_finding(key: tuple[str, ...], kind: str) -> None:
    sql = audit_sql("p.ds.t", key, kind)
    assert sql.count("FROM `p.ds.t`") == 1
    assert ("content IS NULL" in sql) is (kind == "embed")
    assert ("'null_key', k" in sql) is (len(key) > 1), "composite keys name their NULL rows"
