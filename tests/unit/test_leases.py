"""One worker per request model (``lease``) over fakes: a second process waits or exits 75 naming the holder, an
expired lease is taken over, a lost lease stops the next create, and a command releases its leases when it ends
(Ctrl-C included), so the next ``build`` or ``resume`` attaches at once."""

from __future__ import annotations

import time

import pytest

from tests.unit.fake_leases import FakeLeases
from tests.unit.fakes import FakeClock, World, request_model
from tests.unit.test_runner_modes import FakeDbt, FakeRunner
from vertex_batch.errors import LeaseHeld, LeaseLost
from vertex_batch.lease import Heartbeat, RunLease
from vertex_batch.report import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNNING

pytestmark = pytest.mark.unit
A, B = request_model("a"), request_model("b")


def lease(store: FakeLeases, holder: str, said: list[str] | None = None, seconds: float = 60.0) -> RunLease:
    sink = said if said is not None else []
    return RunLease(store, f"run-{holder}", seconds, store.clock, sink.append, holder=holder)


def test_a_second_holder_without_wait_is_told_who_holds_the_lease() -> None:
    store = FakeLeases(FakeClock())
    lease(store, "host:1:aa").acquire([A, B], wait=False)
    with pytest.raises(LeaseHeld) as refused:
        lease(store, "host:2:bb").acquire([B], wait=False)
    assert refused.value.exit_code == EXIT_RUNNING
    message = str(refused.value)
    assert "host:1:aa" in message and "run run-host:1:aa" in message and "\n" not in message


def test_a_waiting_holder_takes_over_once_the_lease_expires() -> None:
    clock = FakeClock()
    store = FakeLeases(clock)
    first = lease(store, "one", seconds=30.0)
    first.acquire([A], wait=True)
    said: list[str] = []
    second = lease(store, "two", said)
    second.acquire([A], wait=True)  # nobody renews "one" (killed): "two" waits out the 30 s
    assert 30.0 <= clock.t <= 31.0 and second.held == {A.table_id: A}
    assert len(said) == 1 and "waiting for one" in said[0], "the wait is said once"
    first.renew()
    with pytest.raises(LeaseLost, match="taken over"):
        first.check()


def test_release_frees_the_lease_at_once() -> None:
    clock = FakeClock()
    store = FakeLeases(clock)
    first = lease(store, "one")
    first.acquire([A, B], wait=False)
    first.release()
    lease(store, "two").acquire([A, B], wait=False)
    assert clock.t == 0.0 and store.rows[A.table_id][0] == "two"


def test_renewing_keeps_a_lease_past_its_length() -> None:
    clock = FakeClock()
    store = FakeLeases(clock)
    holder = lease(store, "one", seconds=10.0)
    holder.acquire([A], wait=False)
    for _ in range(5):
        clock.t += 8.0
        holder.renew()
    holder.check()
    with pytest.raises(LeaseHeld):
        lease(store, "two").acquire([A], wait=False)


def test_a_model_whose_dataset_does_not_exist_yet_is_leased_later() -> None:
    store = FakeLeases(FakeClock(), missing={A.table_id})
    holder = lease(store, "one")
    holder.acquire([A, B], wait=False)
    assert set(holder.held) == {B.table_id}
    store.missing.clear()
    holder.acquire([A, B], wait=False)
    assert set(holder.held) == {A.table_id, B.table_id}


def test_a_heartbeat_that_cannot_renew_for_the_lease_length_loses_it() -> None:
    class Failing(FakeLeases):
        def renew(self, models, holder, seconds):
            raise ConnectionError("warehouse unreachable")

    holder = lease(Failing(FakeClock()), "one", seconds=0.2)
    holder.acquire([A], wait=False)
    beat = Heartbeat(holder).start()
    time.sleep(0.6)
    beat.stop()
    assert beat.failures >= 2
    with pytest.raises(LeaseLost, match="could not be renewed"):
        holder.check()


def test_a_lost_lease_stops_the_loop_before_its_next_create() -> None:
    world = World()
    model = world.add(request_model(per_job=2), 6)
    holder = lease(world.leases, "one")
    holder.acquire([model], wait=False)
    holder.lost = "the lease on p.ds.reviews was taken over by another process"
    loop = world.loop()
    loop.guard = holder.check
    with pytest.raises(LeaseLost):
        world.settle(loop, model)
    assert world.jobs.creates == []
    assert world.warehouse.discarded == [], "staged tables are left to the new holder (same run: same names)"


def test_resume_without_wait_exits_75_while_another_process_works_on_the_run() -> None:
    world = World(duration=10.0)
    dbt = FakeDbt(world)
    FakeRunner(world, dbt, run_id="r1").submit()
    creates = len(world.jobs.creates)
    other = lease(world.leases, "other:9:cc", seconds=600.0)
    other.acquire([request_model("requests_a")], wait=False)
    with pytest.raises(LeaseHeld, match="other:9:cc"):
        FakeRunner(world, dbt, run_id="r1").resume(wait=False)
    assert len(world.jobs.creates) == creates and not any(name == "*" for name, _ in dbt.builds)

    report = FakeRunner(world, dbt, run_id="r1").resume(wait=True)  # waits the other out, then finishes the run
    assert report.exit_code == EXIT_OK and len(world.jobs.creates) == creates + 2
    assert world.leases.rows == {}, "the leases are released when the command ends"


def test_ctrl_c_releases_the_lease_and_names_what_is_left() -> None:
    world = World(duration=50.0)
    dbt = FakeDbt(world)
    said: list[str] = []
    runner = FakeRunner(world, dbt, run_id="r1", detach=True)
    runner.progress.message = said.append  # type: ignore[method-assign]
    sleep = world.clock.sleep

    def interrupt(seconds: float) -> None:
        if world.jobs.creates:
            raise KeyboardInterrupt
        sleep(seconds)

    world.clock.sleep = interrupt  # type: ignore[method-assign]
    report = runner.build()
    world.clock.sleep = sleep  # type: ignore[method-assign]
    assert report.exit_code == EXIT_INTERRUPTED
    assert world.leases.rows == {}, "the next command is not kept waiting"
    (left,) = [line for line in said if "resume --run r1" in line]
    assert all(name in left for _, name, _ in world.jobs.creates)
    resumed = FakeRunner(world, dbt, run_id="r1").resume(wait=True)
    assert resumed.exit_code == EXIT_OK and len(world.jobs.creates) == 3 + 2, "it attached to the jobs left"
