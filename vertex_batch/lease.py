"""One worker at a time per request model: ``build``, ``submit`` and ``resume`` hold a lease on each request model
of their run while they work.

Two processes on the same rows would both submit them (paid twice) and both land the same jobs. So each command
takes, before it builds, stages or submits anything, a lease per request model: a row in ``vertex_batch_leases``
beside the ledger naming its holder (``host:pid:token``), its run and its expiry on the warehouse's clock. A
heartbeat renews it while the command works (every quarter of its length); the command releases it when it ends,
Ctrl-C included. A lease whose holder died (SIGKILL, a lost machine) is taken over once it expires. A second
process finds the lease held: it waits for it, or (``resume`` without ``--wait``) exits 75 with one line naming
the holder. A holder that could not renew in time stops before its next create (``LeaseLost``).

Plain logic over a ``LeaseStore`` (``lease_table.BigQueryLeases``, or a fake in the unit tests).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from vertex_batch.errors import LeaseHeld, LeaseLost
from vertex_batch.ports import Clock
from vertex_batch.request_models import RequestModel

#: How often a waiting process asks again, at most (it asks sooner when the lease expires sooner).
WAIT_POLL_S = 5.0


def holder_name() -> str:
    """This process, as a lease names it: ``host:pid:token`` (the token tells apart reused pids)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease now, and for how much longer unless renewed."""

    name: str
    run_id: str
    seconds_left: float

    def describe(self) -> str:
        return f"{self.name} (run {self.run_id}; its lease ends in {max(self.seconds_left, 0):.0f} s unless renewed)"


class LeaseStore(Protocol):
    """Where leases live: one per request model, keyed by its table."""

    def ready(self, model: RequestModel) -> bool:
        """Whether a lease can be kept for ``model`` yet (its dataset exists)."""
        ...

    def take(self, model: RequestModel, holder: str, run_id: str, seconds: float) -> Holder | None:
        """Take (or renew) the lease when it is free, expired or ours: None; else who holds it."""
        ...

    def renew(self, models: list[RequestModel], holder: str, seconds: float) -> list[str]:
        """Extend ``holder``'s leases; return the tables of those that are no longer ``holder``'s."""
        ...

    def release(self, models: list[RequestModel], holder: str) -> None:
        """Give up ``holder``'s leases."""
        ...


@dataclass
class RunLease:
    """The leases of one command on the request models of its run."""

    store: LeaseStore
    run_id: str
    seconds: float
    clock: Clock
    say: Callable[[str], object]
    holder: str = field(default_factory=holder_name)
    held: dict[str, RequestModel] = field(default_factory=dict)
    lost: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def acquire(self, models: Iterable[RequestModel], wait: bool) -> None:
        """Take the lease of each of ``models`` (in table order, so two runs never wait on each other in a
        circle); wait while another holds one, or raise ``LeaseHeld`` when not ``wait``. Models whose dataset does
        not exist yet are left for a later call (after dbt builds them)."""
        for model in sorted(models, key=lambda one: one.table_id):
            if model.table_id in self.held or not self.store.ready(model):
                continue
            told = ""
            while (other := self.store.take(model, self.holder, self.run_id, self.seconds)) is not None:
                if not wait:
                    raise LeaseHeld(
                        f"run {self.run_id}: request model {model.name} is being worked on by {other.describe()}; "
                        "try again later, or `vertex-batch resume --wait` to wait for it"
                    )
                if other.name != told:
                    self.say(f"{model.name}: waiting for {other.describe()}")
                    told = other.name
                self.clock.sleep(min(max(other.seconds_left, 1.0), WAIT_POLL_S))
            with self._lock:
                self.held[model.table_id] = model

    def renew(self) -> None:
        """Extend every lease held; a lease found taken by another is lost (``check`` then stops the command)."""
        with self._lock:
            models = list(self.held.values())
        if not models:
            return
        gone = self.store.renew(models, self.holder, self.seconds)
        if gone:
            self.lost = f"the lease on {', '.join(sorted(gone))} was taken over by another process"

    def check(self) -> None:
        """Raise ``LeaseLost`` when a lease of this command is no longer its own (called before each create)."""
        if self.lost:
            raise LeaseLost(f"run {self.run_id}: {self.lost}; stopping before submitting anything more")

    def release(self) -> None:
        with self._lock:
            models, self.held = list(self.held.values()), {}
        if models:
            self.store.release(models, self.holder)


@dataclass
class Heartbeat:
    """Renews a ``RunLease`` every ``seconds / 4`` on a daemon thread while the command works; when renewing
    keeps failing for the lease's whole length, the lease counts as lost."""

    lease: RunLease
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._beat, name="vertex-batch-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)

    def _beat(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.lease.seconds / 4):
            try:
                self.lease.renew()
                last_ok = time.monotonic()
            except Exception as error:  # a warehouse hiccup: try again on the next beat
                self.failures += 1
                if time.monotonic() - last_ok > self.lease.seconds:
                    self.lease.lost = f"the lease could not be renewed for {self.lease.seconds:.0f} s ({error})"
