"""The job loop's two state machines, each changed only through its transition table.

A **work item** is one batch job of the run: queued → submitted → running → finished → landed (a poll may skip
ahead, never back). A **request model's retry round** is idle → check (a job of it landed) → planned (retryable
rows found, due at a time) → idle (staged, dropped, or nothing to retry). Any other move raises
``IllegalTransition``: a bug, never a user error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from vertex_batch.jobs import JobSnapshot, JobSpec, JobState
from vertex_batch.ledger import LedgerEntry
from vertex_batch.report import ModelReport
from vertex_batch.request_models import Pending, RequestModel, StagedInput


class Phase(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    FINISHED = "finished"
    LANDED = "landed"


class RetryPhase(StrEnum):
    IDLE = "idle"
    CHECK = "check"
    PLANNED = "planned"


PHASE_MOVES: Mapping[Phase, frozenset[Phase]] = {
    Phase.QUEUED: frozenset({Phase.SUBMITTED, Phase.RUNNING, Phase.FINISHED}),
    Phase.SUBMITTED: frozenset({Phase.SUBMITTED, Phase.RUNNING, Phase.FINISHED}),
    Phase.RUNNING: frozenset({Phase.RUNNING, Phase.FINISHED}),
    Phase.FINISHED: frozenset({Phase.LANDED}),
    Phase.LANDED: frozenset(),
}
RETRY_MOVES: Mapping[RetryPhase, frozenset[RetryPhase]] = {
    RetryPhase.IDLE: frozenset({RetryPhase.IDLE, RetryPhase.CHECK}),
    RetryPhase.CHECK: frozenset({RetryPhase.CHECK, RetryPhase.IDLE, RetryPhase.PLANNED}),
    RetryPhase.PLANNED: frozenset({RetryPhase.IDLE}),
}
IN_FLIGHT = frozenset({Phase.SUBMITTED, Phase.RUNNING})
_WAITING = frozenset({JobState.UNSPECIFIED, JobState.QUEUED, JobState.PENDING})

S = TypeVar("S", Phase, RetryPhase)


class IllegalTransition(RuntimeError):
    """A state change the tables do not allow."""


def transition[S: (Phase, RetryPhase)](current: S, to: S, moves: Mapping[S, frozenset[S]]) -> S:
    """``to``, when ``moves`` allows going there from ``current``; else ``IllegalTransition``."""
    if to not in moves[current]:
        raise IllegalTransition(f"{type(current).__name__} cannot move from {current.value} to {to.value}")
    return to


def phase_of(snapshot: JobSnapshot) -> Phase:
    """The phase a job's state puts its work item in (cancelling counts as running: it may still write rows)."""
    if snapshot.done:
        return Phase.FINISHED
    return Phase.SUBMITTED if snapshot.state in _WAITING else Phase.RUNNING


@dataclass
class WorkItem:
    """One batch job of the run, from staged input to landed output."""

    model: RequestModel
    entry: LedgerEntry
    phase: Phase
    spec: JobSpec | None = None
    staged: StagedInput | None = None
    snapshot: JobSnapshot | None = None

    @property
    def label(self) -> str:
        return f"{self.model.name} [attempt {self.entry.attempt}, chunk {self.entry.chunk}]"

    @property
    def in_flight(self) -> bool:
        return self.phase in IN_FLIGHT

    def observe(self, snapshot: JobSnapshot) -> None:
        """Record a poll (or the create's answer) and move to the phase it implies."""
        self.snapshot = snapshot
        self.phase = transition(self.phase, phase_of(snapshot), PHASE_MOVES)

    def landed(self) -> None:
        self.phase = transition(self.phase, Phase.LANDED, PHASE_MOVES)


@dataclass
class ModelState:
    """A request model within the run: its report, its latest attempt and its retry round."""

    model: RequestModel
    report: ModelReport
    attempt: int = 0
    retry: RetryPhase = RetryPhase.IDLE
    retry_at: float | None = None
    retry_rows: Pending | None = None

    def job_landed(self) -> None:
        """A job of this model landed: check for retryable rows once all its jobs have."""
        self.retry = transition(self.retry, RetryPhase.CHECK, RETRY_MOVES)

    def nothing_to_retry(self) -> None:
        self.retry = transition(self.retry, RetryPhase.IDLE, RETRY_MOVES)

    def plan_retry(self, at: float, rows: Pending) -> None:
        self.retry = transition(self.retry, RetryPhase.PLANNED, RETRY_MOVES)
        self.retry_at, self.retry_rows = at, rows

    def take_retry(self) -> Pending:
        """The planned round's rows; the round is then idle again."""
        assert self.retry_rows is not None
        rows = self.retry_rows
        self.drop_retry()
        return rows

    def drop_retry(self) -> None:
        """Forget a planned round (cancel, budget)."""
        if self.retry == RetryPhase.PLANNED:
            self.retry = transition(self.retry, RetryPhase.IDLE, RETRY_MOVES)
        self.retry_at = self.retry_rows = None

    def due(self, now: float) -> bool:
        return self.retry == RetryPhase.PLANNED and self.retry_at is not None and self.retry_at <= now
