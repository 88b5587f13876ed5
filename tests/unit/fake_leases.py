"""The fake clock and an in-memory lease store (``lease.LeaseStore``) on it, for the unit tests' ``World``."""

from __future__ import annotations

from dataclasses import dataclass, field

from vertex_batch.lease import Holder
from vertex_batch.request_models import RequestModel


@dataclass
class FakeClock:
    """Time moves only when the loop sleeps."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += seconds


@dataclass
class FakeLeases:
    """``lease.LeaseStore`` in memory, on the fake clock: table id → (holder, run, expires at)."""

    clock: FakeClock
    rows: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # request tables whose dataset does not exist yet
    takes: int = 0

    def ready(self, model: RequestModel) -> bool:
        return model.table_id not in self.missing

    def take(self, model: RequestModel, holder: str, run_id: str, seconds: float) -> Holder | None:
        self.takes += 1
        now = self.clock.now()
        current = self.rows.get(model.table_id)
        if current is None or current[0] == holder or current[2] <= now:
            self.rows[model.table_id] = (holder, run_id, now + seconds)
            return None
        return Holder(current[0], current[1], current[2] - now)

    def renew(self, models: list[RequestModel], holder: str, seconds: float) -> list[str]:
        gone = []
        for model in models:
            if self.rows.get(model.table_id, ("",))[0] == holder:
                self.rows[model.table_id] = (holder, self.rows[model.table_id][1], self.clock.now() + seconds)
            else:
                gone.append(model.table_id)
        return gone

    def release(self, models: list[RequestModel], holder: str) -> None:
        for model in models:
            if self.rows.get(model.table_id, ("",))[0] == holder:
                del self.rows[model.table_id]
