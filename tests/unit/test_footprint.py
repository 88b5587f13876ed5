"""A bounded footprint: however many commands run, what they staged and no job needs is removed when each ends,
no lease or intent is left behind, and dbt target folders stay a few (the partial-parse reuse still works)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.fakes import World
from tests.unit.test_runner_modes import FakeDbt, FakeRunner
from vertex_batch.dbt_graph import KEEP_TARGETS, PARTIAL_PARSE_FILE, DbtProject
from vertex_batch.errors import ServiceUnavailable
from vertex_batch.job_create import is_intent
from vertex_batch.report import EXIT_OK, EXIT_RUNNING

pytestmark = pytest.mark.unit


def test_fifty_resumes_leave_nothing_behind() -> None:
    """A scheduler's life: submit, a crash between staging and creating, then ``resume`` fifty times."""
    world = World(duration=10.0)
    dbt = FakeDbt(world)
    world.jobs.unavailable = 99  # the first submit stages three chunks and cannot create any
    with pytest.raises(ServiceUnavailable):
        FakeRunner(world, dbt, run_id="r1").submit()
    world.jobs.unavailable = 0
    assert world.warehouse.work_tables(), "the killed submit left staged inputs"
    codes = []
    for _ in range(50):
        world.clock.t += 6.0
        codes.append(FakeRunner(world, dbt, run_id="r1").resume(wait=False).exit_code)
        assert world.leases.rows == {}, "every command releases its leases"
    assert EXIT_RUNNING in codes and codes[-1] == EXIT_OK
    assert world.warehouse.work_tables() == [], "no staged input or raw output is left"
    assert not any(is_intent(name) for name in world.ledger.rows)
    assert all(entry.landed for entry in world.ledger.rows.values())
    for name in ("requests_a", "requests_b"):
        assert sorted(world.warehouse.landed_keys(name)) == sorted(world.warehouse.requests[name])


def test_staged_tables_a_killed_process_left_are_swept_by_the_next_command() -> None:
    world = World(duration=10.0)
    dbt = FakeDbt(world)
    FakeRunner(world, dbt, run_id="r1").submit()
    orphan = "p.ds.requests_a__r0_a1_c9_in"  # staged by a process killed before it created the job
    world.tables[orphan] = [{"key": "requests_a-0"}]
    world.clock.t += 11.0
    FakeRunner(world, dbt, run_id="r1").resume(wait=False)
    assert orphan not in world.tables
    assert all(entry.input_table in world.tables for entry in world.ledger.rows.values() if not entry.landed)


def _folders(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.is_dir()]


def test_target_folders_stay_a_few_and_the_newest_parse_is_reused(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(dead.stdout)  # a pid that no longer runs
    for number in range(50):  # fifty finished commands, each a parse and a build
        for label in ("parse", "build"):
            folder = tmp_path / f"{gone}-{number:02d}-{label}"
            folder.mkdir()
            if label == "parse":
                (folder / PARTIAL_PARSE_FILE).write_bytes(f"parse {number}".encode())
            stamp = 1_000_000 + 2 * number + (label == "build")
            os.utime(folder, (stamp, stamp))
    live = tmp_path / f"{os.getppid()}-01-build"  # a folder of a process still running (the test's parent)
    live.mkdir()
    os.utime(live, (1, 1))
    target = DbtProject(project_dir=tmp_path, target_root=tmp_path)._target_path("parse")
    assert (target / PARTIAL_PARSE_FILE).read_bytes() == b"parse 49", "the newest partial parse seeds the next"
    left = _folders(tmp_path)
    assert live in left, "a running process's folder is never removed"
    assert len(left) <= KEEP_TARGETS + 2, "the newest few, the live one and the new one"


def test_staged_jsonl_folders_no_job_needs_are_removed() -> None:
    from dataclasses import dataclass, field

    from vertex_batch.staging_bucket import Planner

    @dataclass
    class Blob:
        name: str
        deleted: list[str]

        def delete(self) -> None:
            self.deleted.append(self.name)

    @dataclass
    class Storage:
        names: list[str]
        deleted: list[str] = field(default_factory=list)

        def list_blobs(self, bucket: str, prefix: str) -> list[Blob]:
            return [Blob(name, self.deleted) for name in self.names if name.startswith(prefix)]

    base = "vb/reviews"
    names = [f"{base}/r1/a1/c1/input-0.jsonl", f"{base}/r1/a1/c1/output/p/predictions.jsonl"]
    names += [f"{base}/r1/a1/c2/input-0.jsonl", f"{base}/r2/a1/c1/input-0.jsonl", "vb/other/r1/a1/c1/input-0.jsonl"]
    storage = Storage(names)
    planner = Planner(lambda dataset: "US", lambda: storage)  # type: ignore[arg-type, return-value]
    removed = planner.remove_stale(f"gs://bucket/{base}", 3, keep={f"gs://bucket/{base}/r1/a1/c2/output"})
    assert removed == [f"gs://bucket/{base}/r1/a1/c1", f"gs://bucket/{base}/r2/a1/c1"]
    assert sorted(storage.deleted) == sorted([*names[:2], names[3]]), "a job's folder in use and other models' stay"
