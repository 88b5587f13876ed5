"""The ports of the Flex and online lanes: a caller that answers one request, and a store that stages a model's
pending requests and lands the answers as a batch job's output rows would land.

Protocols and plain data only: no Google client is imported here. ``online_calls.OnlineCalls`` and
``lane_warehouse.LaneWarehouse`` are the adapters; ``tests/unit/fakes.py`` has in-memory ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from vertex_batch.catalog import Lane
from vertex_batch.request_models import Landed, Pending, RequestModel

#: ``usageMetadata.trafficType`` of a call served as Flex PayGo (aiplatform_v1 ``TrafficType.ON_DEMAND_FLEX``).
FLEX_TRAFFIC = "ON_DEMAND_FLEX"


@dataclass(frozen=True)
class CallResult:
    """One call's outcome: the ``GenerateContentResponse`` JSON, or ``response`` None and a failed row's ``status``
    in production's form (``Bad Request: {"error": {...}}``); ``traffic`` is the answer's ``trafficType``."""

    response: Mapping[str, Any] | None
    status: str
    processed_time: datetime
    traffic: str | None = None
    fatal: bool = False  # a refusal of the call itself (401, 403, 404), not of the row: it does not land


@dataclass(frozen=True)
class LaneRequest:
    """One staged request: its row number in the staged input and its ``GenerateContentRequest`` JSON text."""

    row: int
    request: str


@dataclass(frozen=True)
class StagedCalls:
    """A model's pending rows staged for calls: where they are kept and the requests to send."""

    input_table: str
    requests: tuple[LaneRequest, ...]


@dataclass(frozen=True)
class Answer:
    """A call's result for a staged row, and the lane whose price it is charged at."""

    row: int
    result: CallResult
    lane: Lane


@dataclass(frozen=True)
class Recovered:
    """An append found in the landing table without its ledger row (a run killed between the two writes)."""

    job_name: str
    attempt: int
    successful: int
    failed: int
    landed: Landed


class OnlineCaller(Protocol):
    """Sends one ``GenerateContentRequest`` (JSON text) and returns its result; safe to call from several threads.
    Retries transient errors itself; a failure is a ``CallResult`` with a status, never an exception."""

    def __call__(self, request_json: str) -> CallResult: ...


class AnswerStore(Protocol):
    """The warehouse side of a lane."""

    def stage_calls(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> StagedCalls:
        """Keep ``pending``'s rows (numbered) and return their requests."""
        ...

    def land_answers(
        self, model: RequestModel, staged: StagedCalls, answers: list[Answer], job_name: str, attempt: int
    ) -> Landed:
        """Append the answered rows to the landing table under ``job_name`` (once per job name), as a batch job's
        output rows land; the cost is that of the answers' lane."""
        ...

    def release(self, staged: StagedCalls) -> None:
        """Drop the staged rows."""
        ...

    def recover(self, model: RequestModel, known: set[str]) -> list[Recovered]:
        """Lane appends in the landing table whose job names are not in ``known`` (the ledger's), with their
        usage and exact cost."""
        ...


class LaneAdapters(Protocol):
    """What a run's lanes need: a caller per lane and model, and the store."""

    store: AnswerStore

    def caller(self, lane: Lane, model: RequestModel) -> OnlineCaller: ...
