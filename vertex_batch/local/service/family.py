"""The contract of a model family in the local batch service, and the loop the generating families share.

A family (``ModelInfo.family``: gemini, claude, chat-completions, gemini-embedding, text-embedding) says how
its input rows look (the BigQuery column or JSONL key holding the request, the column names the output
reserves, the input columns the output drops), how a row is answered, and how its output rows look (the
columns a BigQuery output adds, a JSONL line, a failed row's error). The executor does the rest the same way
for every family: the input snapshot, chunked and shuffled writes, restart and resume, ``completionStats``.
``families.family_for`` picks a job's family.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from google.cloud import bigquery

from vertex_batch.catalog import ModelInfo
from vertex_batch.local.backends import BackendRowError, ChatPrompt, Generation, generate_batches
from vertex_batch.local.gemini import RPC_STATUS, RowError, row_status
from vertex_batch.local.service import bigquery_io
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import InputError
from vertex_batch.local.service.gcs_io import GcsIO
from vertex_batch.local.service.store import JobRecord

#: ``(row index, input row)`` pairs of one model batch.
Batch = list[tuple[int, dict[str, Any]]]
#: The injected failure of a row by its input index (fault injection), as a Gemini row status, or ``None``.
RowFault = Callable[[int], str | None]
#: Waits for the injected per-row delay of ``n`` rows.
Pause = Callable[[int], None]
#: Loads a backend (the generation or the embedding one) when a family needs it.
BackendGetter = Callable[[], Any]


@dataclass(frozen=True)
class Outcome:
    """One row's answer: the family's response JSON, and its failure (``None`` when the row succeeded)."""

    response: Any
    failure: Any = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def google_error(status_text: str) -> tuple[int, str, str]:
    """``(code, message, status)`` of a Gemini row status (``Bad Request: {"error": {...}}``)."""
    error = json.loads(status_text.split(": ", 1)[1])["error"]
    return int(error["code"]), str(error["message"]), str(error["status"])


class Family:
    """A model family's rows. Subclasses set the class attributes and override what differs from Gemini's."""

    name: ClassVar[str]
    #: The BigQuery column and JSONL key that hold a row's request, and its BigQuery types.
    request_key: ClassVar[str] = "request"
    request_types: ClassVar[tuple[str, ...]] = ("JSON", "STRING")
    #: Output column names an input column may not have.
    reserved: ClassVar[tuple[str, ...]] = bigquery_io.RESERVED_COLUMNS
    #: Input columns the output leaves out.
    dropped: ClassVar[tuple[str, ...]] = ()
    #: Columns a BigQuery output adds after the input columns, and the condition that counts a row as answered.
    added_columns: ClassVar[tuple[bigquery.SchemaField, ...]] = bigquery_io.OUTPUT_COLUMNS
    ok_sql: ClassVar[str] = "status = ''"
    #: A JSONL input line, for the import error of an input without requests.
    line_example: ClassVar[str] = '{"request": {...}}'
    #: Whether the family answers with the embedding backend rather than the generation backend.
    embeds: ClassVar[bool] = False

    def __init__(
        self,
        info: ModelInfo,
        job: JobRecord,
        config: ServiceConfig,
        read_text: Callable[[str], str] | None = None,
    ) -> None:
        self.info = info
        self.job = job
        self.config = config
        self.read_text = read_text

    # -- input -----------------------------------------------------------------------------------
    def check_lines(self, rows: Sequence[dict[str, Any]]) -> None:
        """Refuse a JSONL input none of whose lines holds a request (the import fails, code 3)."""
        if rows and not any(self.request_key in row for row in rows):
            raise InputError(
                f"None of the input lines has a {self.request_key} field: each line must be {self.line_example}."
            )

    def jsonl_columns(self, rows: list[dict[str, Any]]) -> list[dict[str, str]]:
        """BigQuery columns of JSONL lines (for a BigQuery destination)."""
        return GcsIO.infer_columns(rows, first=self.request_key, skip=self.reserved)

    # -- output ----------------------------------------------------------------------------------
    def failure(self, code: int, message: str, status: str | None = None) -> Any:
        """A failed row's error as the family writes it (Gemini: ``Bad Request: {"error": {...}}``)."""
        return row_status(code, message, status)

    def fault(self, status_text: str) -> Any:
        """An injected failure (given as a Gemini row status) in the family's own shape."""
        return self.failure(*google_error(status_text))

    def table_row(self, values: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        """A BigQuery output row: the kept input columns' ``values`` and what the job adds."""
        return {
            **values,
            "response": outcome.response,
            "status": outcome.failure or "",
            "processed_time": at.isoformat(),
        }

    def line(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        """A JSONL output line for the input line ``source``."""
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+00:00"
        echoed = {key: value for key, value in source.items() if key not in (self.request_key, *self.reserved)}
        return {
            self.request_key: source.get(self.request_key),
            "response": outcome.response,
            "status": outcome.failure or "",
            "processed_time": stamp,
            **echoed,
        }

    @staticmethod
    def line_ok(line: dict[str, Any]) -> bool:
        """Whether a written JSONL line is an answered row (for resuming a job)."""
        return line.get("status") == ""

    # -- answers ---------------------------------------------------------------------------------
    def backend(self, generation: BackendGetter, embedding: BackendGetter) -> Any:
        """The backend this family answers with."""
        return embedding() if self.embeds else generation()

    def predictions(
        self, batches: Iterator[Batch], backend: Any, row_fault: RowFault, pause: Pause
    ) -> Iterator[list[tuple[dict[str, Any], Outcome]]]:
        """Each batch's input rows with their outcomes, in order."""
        raise NotImplementedError


class GenerativeFamily(Family):
    """A family answered by the chat backends: each row becomes a ``ChatPrompt``, each answer a response."""

    def to_prompt(self, source: dict[str, Any]) -> ChatPrompt:
        """The prompt of one input row; raises ``RowError`` for a request the family refuses."""
        raise NotImplementedError

    def response(self, generation: Generation, prompt: ChatPrompt) -> Any:
        """The family's response JSON for one answer."""
        raise NotImplementedError

    def empty_response(self) -> Any:
        """A failed row's ``response`` (Gemini: ``{}``)."""
        return {}

    def failed(self, code: int, message: str, status: str | None = None) -> Outcome:
        return Outcome(self.empty_response(), self.failure(code, message, status))

    def predictions(
        self, batches: Iterator[Batch], backend: Any, row_fault: RowFault, pause: Pause
    ) -> Iterator[list[tuple[dict[str, Any], Outcome]]]:
        """Rows that fail before the model (an injected fault, a refused request) skip it; a backend with
        continuous batching (``generate_stream``) decodes later batches while earlier ones are written."""
        taken: deque[tuple[Batch, list[Outcome | None], list[int], list[ChatPrompt]]] = deque()

        def prompts() -> Iterator[list[ChatPrompt]]:
            for batch in batches:
                outcomes: list[Outcome | None] = [None] * len(batch)
                positions: list[int] = []
                batch_prompts: list[ChatPrompt] = []
                for position, (index, source) in enumerate(batch):
                    fault = row_fault(index)
                    if fault:
                        outcomes[position] = Outcome(self.empty_response(), self.fault(fault))
                        continue
                    try:
                        batch_prompts.append(self.to_prompt(source))
                        positions.append(position)
                    except RowError as err:
                        outcomes[position] = self.failed(err.code, err.message, err.status)
                pause(len(batch))
                taken.append((batch, outcomes, positions, batch_prompts))
                yield batch_prompts

        for results in generate_batches(backend, prompts()):
            batch, outcomes, positions, batch_prompts = taken.popleft()
            for position, prompt, result in zip(positions, batch_prompts, results, strict=True):
                outcomes[position] = self._outcome(prompt, result)
            yield [(source, outcome) for (_, source), outcome in zip(batch, outcomes, strict=True) if outcome]

    def _outcome(self, prompt: ChatPrompt, result: Generation | Exception) -> Outcome:
        if isinstance(result, Generation):
            return Outcome(self.response(result, prompt))
        if isinstance(result, BackendRowError):
            return self.failed(400, result.message, RPC_STATUS[400])
        return self.failed(500, f"Internal error encountered: the local model failed: {result}", RPC_STATUS[500])


def no_pause(rows: int) -> None:
    """A ``Pause`` that does not wait."""


def stop_pause(stop: threading.Event, seconds_per_row: float) -> Pause:
    """A ``Pause`` of ``seconds_per_row`` a row that ends early when ``stop`` is set."""
    if seconds_per_row <= 0:
        return no_pause

    def pause(rows: int) -> None:
        stop.wait(seconds_per_row * rows)

    return pause
