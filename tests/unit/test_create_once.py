"""Creating each job once (``job_create``) over fakes: a create whose reply is lost is found by its labels and
never sent twice, a create that never reached the service is sent again, and an intent a killed process left in
the ledger is resolved by the next run (the job adopted, or the intent and its staged input dropped)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from tests.unit.fakes import FakeClock, World, request_model
from vertex_batch.errors import JobError, ServiceUnavailable
from vertex_batch.job_create import create_once, intent_labels, intent_name, is_intent, job_labels
from vertex_batch.jobs import LABEL_CHUNK, JobSpec

pytestmark = pytest.mark.unit
CORE = ("job_create", "job_loop", "lease", "prechecks", "run_guard", "ports", "work")


def spec_of(labels: dict[str, str]) -> JobSpec:
    return JobSpec("job", "gemini-3.5-flash", "bq://p.ds.in", "bq://p.ds.out", labels)


def every_row_once(world: World, model) -> bool:
    return Counter(world.warehouse.landed_keys(model.name)) == Counter(world.warehouse.requests[model.name])


@pytest.mark.parametrize("lost", [1, 2, 3, 100])
def test_lost_replies_make_exactly_one_job_per_chunk(lost: int) -> None:
    world = World()
    world.jobs.lost_replies = lost  # the service makes each job, then the reply is lost
    model = world.add(request_model(per_job=4), 10)
    loop = world.loop(cap=3)
    world.settle(loop, model)
    chunks = [job.spec.labels[LABEL_CHUNK] for job in world.jobs.jobs.values()]
    assert sorted(chunks) == ["1", "2", "3"], "one job per chunk, none created twice"
    assert every_row_once(world, model)
    assert not any(is_intent(name) for name in world.ledger.rows), "every intent was renamed to its job"
    assert all(entry.landed for entry in world.ledger.rows.values())


def test_a_create_that_never_reached_the_service_is_sent_again() -> None:
    world = World()
    world.jobs.unavailable = 2
    model = world.add(request_model(), 3)
    world.settle(world.loop(), model)
    assert len(world.jobs.jobs) == 1 and every_row_once(world, model)
    assert world.clock.sleeps[:2] == [2.0, 4.0], "a lookup after each failure, with growing pauses"


def test_create_once_looks_up_before_any_second_create() -> None:
    world = World()
    world.tables["p.ds.in"] = [{"key": "k"}]
    world.jobs.lost_replies = 1
    labels = job_labels("r1", request_model(), "f00d", 1, 1)
    job, found = create_once(world.jobs, spec_of(labels), world.clock)
    assert found and len(world.jobs.creates) == 1 and job.labels == labels
    taken_already = create_once(world.jobs, spec_of(labels), FakeClock(), taken={job.name})
    assert taken_already[0].name != job.name, "a job already somebody's is not adopted"


def test_create_once_gives_up_with_the_last_error() -> None:
    world = World()
    world.jobs.unavailable = 99
    with pytest.raises(ServiceUnavailable):
        create_once(world.jobs, spec_of(job_labels("r1", request_model(), "f", 1, 1)), world.clock, tries=3)
    assert world.jobs.jobs == {} and len(world.clock.sleeps) == 3


def test_intent_names_carry_the_labels_of_their_job() -> None:
    model = request_model()
    labels = job_labels("Run.7", model, "abc123", 2, 3)
    name = intent_name(labels)
    assert is_intent(name) and intent_labels(name, model) == labels


def test_an_intent_left_by_a_killed_process_is_adopted_when_its_job_exists() -> None:
    """Killed after the create, before the ledger named the job: the next run finds it by its labels."""
    world = World(duration=30.0)
    model = world.add(request_model(per_job=5), 10)
    world.jobs.lost_replies = 1
    find, calls = world.jobs.find, []

    def find_then_fail(labels):  # the lookup before the create answers; the one after the lost reply fails
        calls.append(labels)
        if len(calls) > 1:
            raise ServiceUnavailable("503 list failed")
        return find(labels)

    world.jobs.find = find_then_fail  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        world.settle(world.loop(run_id="r1", cap=1), model, wait=False)
    world.jobs.find = find  # type: ignore[method-assign]
    (intent,) = [name for name in world.ledger.rows if is_intent(name)]
    assert len(world.jobs.jobs) == 1
    staged = world.ledger.rows[intent].input_table
    assert staged in world.tables, "the staged input of a job that may exist is kept"
    world.settle(world.loop(run_id="r2", cap=1), model)
    assert len(world.jobs.jobs) == 2, "the first chunk's job was adopted, only the second created"
    assert every_row_once(world, model)
    assert not any(is_intent(name) for name in world.ledger.rows)


def test_an_intent_whose_job_was_never_created_is_dropped_with_its_staged_input() -> None:
    world = World()
    model = world.add(request_model(), 4)
    world.jobs.unavailable = 99
    with pytest.raises(ServiceUnavailable):
        world.settle(world.loop(run_id="r1"), model)
    (intent,) = [entry for name, entry in world.ledger.rows.items() if is_intent(name)]
    world.jobs.unavailable = 0
    world.settle(world.loop(run_id="r2"), model)
    assert intent.job_name not in world.ledger.rows and intent.input_table not in world.tables
    assert len(world.jobs.jobs) == 1 and every_row_once(world, model)


def test_a_refused_create_forgets_its_intent() -> None:
    world = World()
    world.jobs.refuse = "model gemini-nope not found"
    model = world.add(request_model(), 2)
    with pytest.raises(JobError, match="gemini-nope"):
        world.settle(world.loop(), model)
    assert world.ledger.rows == {} and world.warehouse.work_tables() == []


@pytest.mark.parametrize("module", CORE)
def test_core_modules_import_no_google_dbt_or_ui(module: str) -> None:
    source = (Path(__file__).resolve().parents[2] / "vertex_batch" / f"{module}.py").read_text()
    imported = [
        node.module or "" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name.split(".")[0] in {"google", "dbt", "rich"}]


@pytest.mark.parametrize("moment", ["after the create", "after the ledger named the job"])
def test_ctrl_c_right_after_a_create_keeps_the_input_its_job_reads(moment: str) -> None:
    """Ctrl-C between the create and the item's first state: the cancel drops queued chunks, but not the
    input of that one (a job on Cloud Storage input lands from it); the next run adopts or attaches the job."""
    world = World(duration=30.0)
    model = world.add(request_model(per_job=3), 9)
    create, record = world.jobs.create, world.ledger.record

    def create_then_interrupt(spec):
        create(spec)
        raise KeyboardInterrupt

    def record_then_interrupt(model, entry, replaces=None):
        record(model, entry, replaces)
        if replaces:
            raise KeyboardInterrupt

    if moment == "after the create":
        world.jobs.create = create_then_interrupt  # type: ignore[method-assign]
    else:
        world.ledger.record = record_then_interrupt  # type: ignore[method-assign]
    loop = world.loop(run_id="r1", cap=2)
    with pytest.raises(KeyboardInterrupt):
        world.settle(loop, model)
    loop.cancel()
    world.jobs.create, world.ledger.record = create, record  # type: ignore[method-assign]
    (job,) = world.jobs.jobs.values()
    assert job.spec.input_uri.removeprefix("bq://") in world.tables, "the created job's input is kept"
    assert len(world.warehouse.discarded) == 2, "the chunks never submitted are discarded"
    world.settle(world.loop(run_id="r2", cap=2), model)
    assert every_row_once(world, model) and len(world.jobs.jobs) == 3
