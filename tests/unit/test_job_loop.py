"""The job loop against in-memory fakes: chunking, the concurrency cap, retries and their timing, attach after a
crash, budget stop, cancel, mixed end states, and the old re-entrancy KeyError scenario."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from tests.unit.fakes import BAD_ROLE, RATE_LIMITED, World, fail_first, request_model
from vertex_batch.budget import Budget
from vertex_batch.errors import JobError
from vertex_batch.job_loop import Phase
from vertex_batch.jobs import LABEL_ATTEMPT, LABEL_CHUNK, LABEL_RUN, JobState, label_value, table_label
from vertex_batch.report import EXIT_BUDGET, EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

pytestmark = pytest.mark.unit


def run_all(world: World, model, rows: int, **loop_options) -> object:
    world.add(model, rows)
    loop = world.loop(**loop_options)
    world.settle(loop, model, wait=True)
    return loop


@pytest.mark.parametrize(
    ("rows", "per_job", "cap"),
    [(1, 10, 1), (10, 10, 1), (11, 10, 1), (25, 10, 2), (100, 7, 3), (50, 50, 4), (40, 5, 8), (9, 1, 2)],
)
def test_chunks_respect_the_row_limit_and_the_concurrency_cap(rows: int, per_job: int, cap: int) -> None:
    world = World()
    model = request_model(per_job=per_job)
    loop = run_all(world, model, rows, cap=cap)
    chunks = math.ceil(rows / per_job)
    assert len(world.jobs.creates) == chunks
    assert all(len(world.tables.get(s.input_table, [])) == 0 for s in world.warehouse.staged), "inputs dropped"
    assert [s.rows for s in world.warehouse.staged] == [min(per_job, rows - i * per_job) for i in range(chunks)]
    running_at_create = [running for _, _, running in world.jobs.creates]
    assert max(running_at_create) <= cap - 1
    assert max(running_at_create) == min(cap, chunks) - 1, "the cap is used, not just respected"
    assert Counter(world.warehouse.landed_keys(model.name)) == Counter(world.warehouse.requests[model.name])
    assert not loop.active
    assert loop.report.exit_code == EXIT_OK


def test_nothing_pending_submits_nothing() -> None:
    world = World()
    model = request_model()
    run_all(world, model, 5)
    loop = world.loop(run_id="r2")
    world.settle(loop, model, wait=True)
    assert len(world.jobs.creates) == 1
    assert loop.report.jobs == []


def test_job_labels_identify_the_run_table_chunk_and_attempt() -> None:
    world = World()
    model = request_model(per_job=3)
    run_all(world, model, 7, run_id="Run.2026")
    labels = [job.spec.labels for job in world.jobs.jobs.values()]
    assert [label[LABEL_CHUNK] for label in labels] == ["1", "2", "3"]
    assert {label[LABEL_ATTEMPT] for label in labels} == {"1"}
    assert {label[LABEL_RUN] for label in labels} == {label_value("Run.2026")}
    assert all(label["vertex_batch_table"] == table_label(model.table_id) for label in labels)


@pytest.mark.parametrize(
    ("failing_attempts", "max_attempts", "answered", "last_attempt"),
    [(0, 3, 20, 1), (1, 3, 20, 2), (2, 3, 20, 3), (3, 3, 0, 3), (5, 2, 0, 2), (1, 1, 0, 1), (4, 8, 20, 5)],
)
def test_retry_rounds_until_answered_or_out_of_attempts(
    failing_attempts: int, max_attempts: int, answered: int, last_attempt: int
) -> None:
    world = World(responder=fail_first(failing_attempts))
    model = request_model(attempts=max_attempts, per_job=8)
    loop = run_all(world, model, 20, backoff=10.0)
    assert len(world.warehouse.answered(model.name)) == answered
    attempts = {int(job.spec.labels[LABEL_ATTEMPT]) for job in world.jobs.jobs.values()}
    assert max(attempts) == last_attempt
    assert attempts == set(range(1, last_attempt + 1))
    per_key = Counter(world.warehouse.landed_keys(model.name))
    assert set(per_key.values()) == {min(failing_attempts + 1, max_attempts)}, "each attempt lands a row once"
    if answered == 0:
        assert loop.report.models[0].failures, "the retryable failures are reported"


@pytest.mark.parametrize(("backoff", "attempts"), [(10.0, 3), (60.0, 4), (0.0, 3)])
def test_retry_rounds_wait_backoff_doubling(backoff: float, attempts: int) -> None:
    world = World(responder=fail_first(attempts - 1), duration=10.0)
    model = request_model(attempts=attempts)
    run_all(world, model, 4, backoff=backoff, poll=5.0)
    created = sorted((int(job.spec.labels[LABEL_ATTEMPT]), job.created_at) for job in world.jobs.jobs.values())
    for (attempt, at), (_, next_at) in itertools.pairwise(created):
        finished = at + 10.0
        delay = backoff * 2 ** (attempt - 1)
        assert next_at >= finished + delay, f"attempt {attempt + 1} waited its backoff"
        assert next_at <= finished + delay + 5.0, "and not much longer than one poll interval after it"


def test_other_jobs_keep_being_polled_while_a_retry_waits() -> None:
    def duration(spec) -> float:
        return 60.0 if spec.display_name.startswith("vertex-batch b ") else 10.0

    world = World(responder=fail_first(1, keys={"a-00000"}), duration=duration)
    first, second = world.add(request_model("a"), 1), world.add(request_model("b"), 1)
    loop = world.loop(backoff=30.0, poll=5.0)
    world.settle(loop, first, second)
    b_job = next(job for job in world.jobs.jobs.values() if job.spec.display_name.startswith("vertex-batch b "))
    a_retry = next(job for job in world.jobs.jobs.values() if job.spec.labels[LABEL_ATTEMPT] == "2")
    assert 40.0 <= a_retry.created_at < 60.0, "a's retry went out while b still ran"
    b_polls = [t for t, name in world.jobs.gets if name == b_job.name]
    assert any(10.0 < t < a_retry.created_at for t in b_polls), "b is polled during a's backoff"
    assert all(later - earlier <= 5.0 for earlier, later in itertools.pairwise(b_polls)), "b polled every 5 s"
    assert world.warehouse.answered("a") == {"a-00000"} and world.warehouse.answered("b") == {"b-00000"}


def test_retry_needing_several_chunks_while_the_cap_is_reached() -> None:
    """The old runner raised KeyError here: a nested poll landed a job the outer poll still held."""
    world = World(responder=fail_first(1, keys={f"reviews-{i:05d}" for i in range(6)}), duration=10.0)
    model = request_model(per_job=2, attempts=3)
    other = request_model("busy", per_job=1)
    world.add(model, 6)
    world.add(other, 3)
    loop = world.loop(cap=2, backoff=1.0)
    world.settle(loop, model, other)
    assert world.warehouse.answered(model.name) == set(world.warehouse.requests[model.name])
    assert world.warehouse.answered("busy") == set(world.warehouse.requests["busy"])
    retry_jobs = [job for job in world.jobs.jobs.values() if job.spec.labels[LABEL_ATTEMPT] == "2"]
    assert len(retry_jobs) == 3, "the retry round needed three chunks"
    assert max(running for _, _, running in world.jobs.creates) <= 1
    assert Counter(world.warehouse.landed_keys(model.name)).most_common(1)[0][1] == 2, "each row landed once a round"
    assert all(item.phase == Phase.LANDED for item in loop.items)


@pytest.mark.parametrize("crash_point", ["after_record", "before_record"])
def test_attach_after_a_crash_creates_no_duplicate_job(crash_point: str) -> None:
    world = World(duration=30.0)
    model = world.add(request_model(per_job=5), 10)
    crashed = world.loop(run_id="r1", cap=1)
    world.settle(crashed, model, wait=False)  # one job submitted, then the process dies
    assert len(world.jobs.creates) == 1
    if crash_point == "before_record":
        world.ledger.rows.clear()  # died between create and the ledger write
    world.clock.t = 5.0
    rerun = world.loop(run_id="r2", cap=1)
    world.settle(rerun, model, wait=True)
    names = [name for _, name, _ in world.jobs.creates]
    assert len(names) == len(set(names)) == 2, "the first chunk's job was reused, only the second was created"
    assert Counter(world.warehouse.landed_keys(model.name)) == Counter(world.warehouse.requests[model.name])
    assert all(entry.landed for entry in world.ledger.rows.values())


def test_attach_lands_a_job_that_finished_while_nobody_watched() -> None:
    world = World(duration=10.0)
    model = world.add(request_model(), 4)
    first = world.loop(run_id="r1")
    world.settle(first, model, wait=False)
    world.clock.t = 100.0
    second = world.loop(run_id="r2")
    assert second.attach(model) == 1
    second.run(wait=True)
    assert len(world.jobs.creates) == 1
    assert sorted(world.warehouse.landed_keys(model.name)) == world.warehouse.requests[model.name]
    (job,) = world.jobs.jobs.values()
    assert job.spec.input_uri in world.warehouse.discarded_uris, "its staged input is removed, as the job reports it"
    again = world.loop(run_id="r3")
    assert again.attach(model) == 0, "a landed job is not attached again"


def test_a_failed_earlier_job_is_not_reused() -> None:
    world = World(end_state=lambda spec: JobState.FAILED)
    model = world.add(request_model(), 3)
    first = world.loop(run_id="r1")
    world.settle(first, model, wait=True)
    assert first.report.exit_code == EXIT_FAILED
    world.jobs.end_state = lambda spec: JobState.SUCCEEDED
    world.ledger.rows.clear()
    second = world.loop(run_id="r2")
    world.settle(second, model, wait=True)
    assert len(world.jobs.creates) == 2
    assert second.report.exit_code == EXIT_OK


def test_a_job_that_disappeared_ends_failed() -> None:
    world = World()
    model = world.add(request_model(), 2)
    loop = world.loop()
    world.settle(loop, model, wait=False)
    world.jobs.jobs.clear()
    loop.run(wait=True)
    assert loop.report.jobs[0]["state"] == "FAILED" and loop.report.jobs[0]["error"] == "job not found"


@pytest.mark.parametrize(
    ("limit", "jobs", "stopped"),
    [(1.0, 3, False), (0.30, 3, False), (0.25, 2, True), (0.15, 1, True), (0.05, 0, True)],
)
def test_budget_stops_before_the_job_that_would_cross_it(limit: float, jobs: int, stopped: bool) -> None:
    world = World()
    model = world.add(request_model(per_job=10), 30)  # three jobs of 10 rows, $0.10 each
    loop = run_all(world, model, 30, cap=1, budget=Budget(limit))
    assert len(world.jobs.creates) == jobs
    assert bool(loop.report.budget_stop) == stopped
    assert len(world.warehouse.answered(model.name)) == 10 * jobs, "what landed is kept"
    assert (loop.report.exit_code == EXIT_BUDGET) == stopped
    if stopped:
        assert "above --max-cost" in loop.report.budget_stop


def test_budget_stops_a_retry_round_and_keeps_completed_rows() -> None:
    world = World(responder=fail_first(1, keys={"reviews-00000"}))
    model = request_model(per_job=10)
    loop = run_all(world, model, 10, budget=Budget(0.105), backoff=1.0)
    assert len(world.jobs.creates) == 1, "the retry round would cross the budget"
    assert loop.report.budget_stop
    assert len(world.warehouse.answered(model.name)) == 9


@pytest.mark.parametrize("at", [1.0, 5.0, 9.0])
def test_cancel_keeps_completed_rows_and_submits_nothing_more(at: float) -> None:
    world = World(duration=10.0)
    model = world.add(request_model(per_job=10), 40)
    loop = world.loop(cap=2)
    world.settle(loop, model, wait=False)
    world.clock.t = at
    cancelled = loop.cancel()
    loop.run(wait=True)
    assert len(cancelled) == 2 and sorted(world.jobs.cancels) == sorted(cancelled)
    assert len(world.jobs.creates) == 2, "queued chunks are dropped"
    landed = world.warehouse.landed_keys(model.name)
    assert len(landed) == 2 * int(10 * at / 10.0)
    assert len(landed) == len(set(landed))
    assert {job["state"] for job in loop.report.jobs} == {"CANCELLED"}
    assert loop.report.exit_code == EXIT_FAILED


@pytest.mark.parametrize(
    ("state", "exit_code", "rows_landed"),
    [
        (JobState.SUCCEEDED, EXIT_OK, 5),
        (JobState.PARTIALLY_SUCCEEDED, EXIT_OK, 5),
        (JobState.FAILED, EXIT_FAILED, 0),
        (JobState.EXPIRED, EXIT_FAILED, 0),
        (JobState.PAUSED, EXIT_FAILED, 0),
    ],
)
def test_end_states(state: JobState, exit_code: int, rows_landed: int) -> None:
    world = World(end_state=lambda spec: state)
    model = request_model()
    loop = run_all(world, model, 5)
    (job,) = loop.report.jobs
    assert job["state"] == state.name.removeprefix("JOB_STATE_")
    assert job["landed_rows"] == rows_landed
    assert loop.report.exit_code == exit_code
    assert all(entry.landed for entry in world.ledger.rows.values())


def test_mixed_end_states_in_one_run() -> None:
    world = World(
        end_state=lambda spec: JobState.EXPIRED if spec.labels[LABEL_CHUNK] == "2" else JobState.SUCCEEDED,
        responder=fail_first(9, BAD_ROLE, keys={"reviews-00000"}),
    )
    model = request_model(per_job=3)
    loop = run_all(world, model, 9)
    assert sorted(job["state"] for job in loop.report.jobs) == ["EXPIRED", "SUCCEEDED", "SUCCEEDED"]
    assert len(world.warehouse.landed_keys(model.name)) == 6
    assert loop.report.models[0].failures == [(BAD_ROLE, 1)], "permanent row errors are reported, not retried"
    assert len(world.jobs.creates) == 3
    assert loop.report.exit_code == EXIT_FAILED


def test_permanent_row_errors_are_not_retried() -> None:
    world = World(responder=fail_first(9, BAD_ROLE))
    model = request_model()
    loop = run_all(world, model, 3)
    assert len(world.jobs.creates) == 1
    assert loop.report.exit_code == EXIT_OK  # the runner sets EXIT_PARTIAL from the landing table's outcome
    loop.report.models[0].failed_rows = 3
    assert loop.report.exit_code == EXIT_PARTIAL


def test_one_pass_at_a_time_lands_every_row_once() -> None:
    """``resume`` without --wait: many single passes, each a new process, land each row once."""
    world = World(responder=fail_first(1, RATE_LIMITED, keys={"reviews-00001"}), duration=10.0)
    model = world.add(request_model(per_job=2), 5)
    passes = 0
    while True:
        loop = world.loop(run_id="r1", backoff=0.0, cap=2)
        world.settle(loop, model, wait=False)
        passes += 1
        if not loop.active:
            break
        world.clock.t += 4.0
    assert passes > 3
    assert world.warehouse.answered(model.name) == set(world.warehouse.requests[model.name])
    assert Counter(world.warehouse.landed_keys(model.name))["reviews-00001"] == 2
    assert len(world.jobs.creates) == 4


def test_the_loop_sleeps_only_between_passes_and_not_when_idle() -> None:
    world = World()
    model = request_model()
    loop = world.loop()
    loop.run(wait=True)
    assert world.clock.sleeps == []
    run_all(world, model, 3, poll=7.0)
    assert set(world.clock.sleeps) == {7.0}


def test_a_ledger_job_that_no_longer_exists_is_closed_not_attached() -> None:
    world = World(duration=30.0)
    model = world.add(request_model(), 2)
    first = world.loop(run_id="r1")
    world.settle(first, model, wait=False)
    world.jobs.jobs.clear()  # the service forgot the job (deleted, or another project)
    second = world.loop(run_id="r2")
    assert second.attach(model) == 0
    (entry,) = world.ledger.rows.values()
    assert (entry.landed, entry.state, entry.error_message) == (True, "FAILED", "job no longer exists")


def test_a_refused_job_leaves_no_staged_input() -> None:
    world = World()
    world.jobs.refuse = "model gemini-nope not found"
    model = world.add(request_model(per_job=2), 5)
    loop = world.loop(cap=1)
    with pytest.raises(JobError, match="gemini-nope"):
        world.settle(loop, model)
    assert sorted(world.warehouse.discarded) == sorted(s.input_table for s in world.warehouse.staged)
    assert not loop.items
