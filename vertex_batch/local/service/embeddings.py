"""Text-embedding batch jobs (the ``text-embedding`` family): production's input rows, job parameters and
output rows. Which models exist, their vector size, input limit and rows per job come from the catalog.

Production (Vertex AI "Get batch text embeddings predictions"):
- Input: a BigQuery table with a ``content`` STRING column (other columns pass through), or JSONL lines
  ``{"content": "..."}``; optional ``task_type`` and ``title`` per row. At most 30,000 rows per job.
- Job-level ``modelParameters``: ``outputDimensionality`` (values are cut from the end) and
  ``autoTruncate`` (default true: longer inputs are cut silently; false: such a row fails with 400).
- Output, JSONL: ``{"instance": <input line>, "predictions": [{"embeddings": {"statistics":
  {"token_count": N, "truncated": false}, "values": [...]}}], "status": ""}``; BigQuery: the input
  columns, ``predictions`` (the same JSON array, as text) and ``status``.

Local choices (see the README's fidelity table): the vector comes from the service's embedding backend
(mean-pooled SmolLM2, or the fake test backend), always 768 values, unit length before any
``outputDimensionality`` cut (which is not re-normalised, as documented for production). The backend's
own tokenizer counts tokens. A task type other than the default RETRIEVAL_QUERY is put in front of the
text, and a title too for RETRIEVAL_DOCUMENT, so that they change the vector as they do in production.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import bigquery

from vertex_batch.catalog import ModelInfo
from vertex_batch.local.backends.embedding import DIMENSIONS, Embedding, EmbeddingBackend, load_embedding_backend
from vertex_batch.local.gemini import row_status
from vertex_batch.local.service.family import Batch, Family, Outcome, Pause, RowFault
from vertex_batch.local.service.gcs_io import GcsIO
from vertex_batch.local.service.model_host import BackendUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingModel:
    """What production documents for one text-embedding model."""

    dimensions: int
    max_input_tokens: int


def embedding_model(info: ModelInfo) -> EmbeddingModel:
    """The vector size and input limit of an embedding model, from its catalog entry."""
    return EmbeddingModel(dimensions=info.dimensions or DIMENSIONS, max_input_tokens=info.context_window or 2048)


#: ``task_type`` values production accepts; a row without one gets the default.
TASK_TYPES = (
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)
DEFAULT_TASK_TYPE = "RETRIEVAL_QUERY"
#: Columns an embeddings job adds to a BigQuery output row (``predictions`` holds JSON text).
OUTPUT_COLUMNS = (bigquery.SchemaField("predictions", "STRING"), bigquery.SchemaField("status", "STRING"))
#: The input column that holds the text, and the types it may have.
CONTENT_COLUMN = "content"
CONTENT_TYPES = ("STRING",)


class EmbeddingRowError(Exception):
    """A row (or every row, for a bad job parameter) that fails with a 400 INVALID_ARGUMENT status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def status(self) -> str:
        return row_status(400, self.message, "INVALID_ARGUMENT")


@dataclass(frozen=True)
class EmbeddingParameters:
    """A job's ``modelParameters`` for an embedding model."""

    output_dimensionality: int | None = None
    auto_truncate: bool = True


def _get(obj: Mapping[str, Any], camel: str) -> Any:
    """``obj[camel]`` or its snake_case spelling (proto3 JSON accepts both)."""
    if camel in obj:
        return obj[camel]
    return obj.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


def parameters(model_parameters: Any, model: EmbeddingModel) -> EmbeddingParameters:
    """Check a job's ``modelParameters``; raise ``EmbeddingRowError`` (every row fails) when invalid."""
    if model_parameters in (None, {}):
        return EmbeddingParameters()
    if not isinstance(model_parameters, Mapping):
        raise EmbeddingRowError("modelParameters must be a JSON object.")
    dimensionality = _get(model_parameters, "outputDimensionality")
    if dimensionality is not None:
        if isinstance(dimensionality, str) and dimensionality.strip().lstrip("-").isdigit():
            dimensionality = int(dimensionality)
        if isinstance(dimensionality, bool) or not isinstance(dimensionality, int | float):
            raise EmbeddingRowError(f"Invalid value for outputDimensionality: {json.dumps(dimensionality)}.")
        if dimensionality != int(dimensionality) or not 1 <= dimensionality <= model.dimensions:
            raise EmbeddingRowError(
                f"outputDimensionality {dimensionality:g} is not supported: the model supports values from "
                f"1 to {model.dimensions}."
            )
        dimensionality = int(dimensionality)
    auto_truncate = _get(model_parameters, "autoTruncate")
    if auto_truncate is None:
        auto_truncate = True
    if isinstance(auto_truncate, str) and auto_truncate.lower() in ("true", "false"):
        auto_truncate = auto_truncate.lower() == "true"
    if not isinstance(auto_truncate, bool):
        raise EmbeddingRowError(f"Invalid value for autoTruncate: {json.dumps(auto_truncate)}.")
    return EmbeddingParameters(output_dimensionality=dimensionality, auto_truncate=auto_truncate)


@dataclass(frozen=True)
class EmbeddingInstance:
    """One input row: the text to embed and its task."""

    content: str
    task_type: str = DEFAULT_TASK_TYPE
    title: str | None = None

    @property
    def model_input(self) -> str:
        """The text the backend embeds: a non-default task type and a RETRIEVAL_DOCUMENT title go first."""
        text = self.content
        if self.title and self.task_type == "RETRIEVAL_DOCUMENT":
            text = f"title: {self.title}\n{text}"
        if self.task_type != DEFAULT_TASK_TYPE:
            text = f"task: {self.task_type}\n{text}"
        return text


def instance(row: Mapping[str, Any]) -> EmbeddingInstance:
    """The instance of one input row (a BigQuery row or a JSONL line); raise ``EmbeddingRowError``."""
    content = row.get("content")
    if content is None:
        raise EmbeddingRowError('The instance has no content: each row needs a "content" string to embed.')
    if not isinstance(content, str):
        raise EmbeddingRowError(f"content must be a string, not {json.dumps(content)[:80]}.")
    if not content.strip():
        raise EmbeddingRowError("The content is empty. Add text to embed and try again.")
    task_type = _get(row, "taskType")
    if task_type in (None, ""):
        task_type = DEFAULT_TASK_TYPE
    if not isinstance(task_type, str) or task_type.upper() not in TASK_TYPES:
        raise EmbeddingRowError(f"Invalid task_type {json.dumps(task_type)}: use one of {', '.join(TASK_TYPES)}.")
    title = row.get("title")
    if title is not None and not isinstance(title, str):
        raise EmbeddingRowError(f"title must be a string, not {json.dumps(title)[:80]}.")
    return EmbeddingInstance(content=content, task_type=task_type.upper(), title=title or None)


def predictions(embedding: Embedding, params: EmbeddingParameters) -> list[dict[str, Any]]:
    """The ``predictions`` array of a successful row, values cut to ``outputDimensionality``."""
    values = list(embedding.values)
    if params.output_dimensionality is not None:
        values = values[: params.output_dimensionality]
    return [
        {
            "embeddings": {
                "statistics": {"token_count": embedding.token_count, "truncated": embedding.truncated},
                "values": values,
            }
        }
    ]


def too_long(embedding: Embedding, model: EmbeddingModel) -> str:
    """The row error for an input over the model's limit when ``autoTruncate`` is false."""
    return (
        f"Unable to submit request because the input token count is {embedding.input_tokens} but the model "
        f"supports up to {model.max_input_tokens}. Reduce the input token count and try again, or set "
        "autoTruncate to true."
    )


@dataclass(frozen=True)
class RowOutcome:
    """The ``predictions`` (``[]`` for a failed row) and ``status`` of one input row."""

    predictions: list[dict[str, Any]]
    status: str

    @property
    def ok(self) -> bool:
        return self.status == ""


def embed_rows(
    rows: Sequence[Mapping[str, Any]],
    backend: EmbeddingBackend,
    model: EmbeddingModel,
    model_parameters: Any = None,
) -> list[RowOutcome]:
    """One outcome per input row, in order. Bad rows fail alone; a bad job parameter fails every row;
    a backend failure fails the rows of this call with 500 INTERNAL."""
    try:
        params = parameters(model_parameters, model)
    except EmbeddingRowError as error:
        return [RowOutcome([], error.status) for _ in rows]
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    positions: list[int] = []
    texts: list[str] = []
    for position, row in enumerate(rows):
        try:
            texts.append(instance(row).model_input)
            positions.append(position)
        except EmbeddingRowError as error:
            outcomes[position] = RowOutcome([], error.status)
    try:
        vectors = backend.embed(texts, model.max_input_tokens) if texts else []
    except Exception as error:
        failure = row_status(500, f"Internal error encountered: the local embedding model failed: {error}")
        for position in positions:
            outcomes[position] = RowOutcome([], failure)
        return [outcome for outcome in outcomes if outcome is not None]
    for position, embedding in zip(positions, vectors, strict=True):
        if embedding.truncated and not params.auto_truncate:
            outcomes[position] = RowOutcome([], EmbeddingRowError(too_long(embedding, model)).status)
        else:
            outcomes[position] = RowOutcome(predictions(embedding, params), "")
    return [outcome for outcome in outcomes if outcome is not None]


def bigquery_row(
    source: Mapping[str, Any], columns: Sequence[Mapping[str, str]], outcome: RowOutcome
) -> dict[str, Any]:
    """A BigQuery output row: the input columns, ``predictions`` as JSON text, ``status``."""
    values = {column["name"]: source.get(column["name"]) for column in columns}
    return {**values, "predictions": json.dumps(outcome.predictions), "status": outcome.status}


def jsonl_row(source: Mapping[str, Any], outcome: RowOutcome) -> dict[str, Any]:
    """A JSONL output line: the input line as ``instance``, ``predictions``, ``status``."""
    return {"instance": dict(source), "predictions": outcome.predictions, "status": outcome.status}


class TextEmbeddingFamily(Family):
    """Text-embedding rows: ``content`` in; ``predictions`` and ``status`` out (JSONL: ``instance`` too)."""

    name = "text-embedding"
    request_key = CONTENT_COLUMN
    request_types = CONTENT_TYPES
    reserved = tuple(field.name for field in OUTPUT_COLUMNS)
    added_columns = OUTPUT_COLUMNS
    line_example = '{"content": "..."}'
    embeds = True

    def jsonl_columns(self, rows: list[dict[str, Any]]) -> list[dict[str, str]]:
        return GcsIO.infer_columns(rows, first=None, skip=self.reserved)

    def table_row(self, values: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        return bigquery_row(values, [{"name": name} for name in values], _row_outcome(outcome))

    def line(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        return jsonl_row(source, _row_outcome(outcome))

    def predictions(
        self, batches: Iterator[Batch], backend: Any, row_fault: RowFault, pause: Pause
    ) -> Iterator[list[tuple[dict[str, Any], Outcome]]]:
        model = embedding_model(self.info)
        for batch in batches:
            outcomes = embed_rows([source for _, source in batch], backend, model, self.job.spec.get("modelParameters"))
            for position, (index, _) in enumerate(batch):
                fault = row_fault(index)
                if fault:
                    outcomes[position] = RowOutcome([], fault)
            pause(len(batch))
            yield [
                (source, Outcome(outcome.predictions, outcome.status or None))
                for (_, source), outcome in zip(batch, outcomes, strict=True)
            ]


def _row_outcome(outcome: Outcome) -> RowOutcome:
    return RowOutcome(outcome.response or [], outcome.failure or "")


class EmbeddingHost:
    """The embedding backend that goes with the service's generation backend, loaded on first use."""

    def __init__(self, backend: str, options: Mapping[str, object] | None = None) -> None:
        self.backend = backend
        self.options = {key: value for key, value in (options or {}).items() if key == "model_path"}
        self._lock = threading.Lock()
        self._loaded: EmbeddingBackend | None = None
        self._error: str | None = None

    def get(self) -> EmbeddingBackend:
        """The backend; raises ``BackendUnavailable`` (the job fails with code 13) when it cannot load."""
        with self._lock:
            if self._loaded is None and self._error is None:
                try:
                    self._loaded = load_embedding_backend(self.backend, **self.options)
                    log.info("embedding backend %s ready (%s)", self.backend, self._loaded.model_version)
                except Exception as error:
                    log.exception("embedding backend %s failed to load", self.backend)
                    self._error = f"the embedding backend for {self.backend!r} failed to load: {error}"
            if self._loaded is None:
                raise BackendUnavailable(self._error or "the embedding backend is unavailable")
            return self._loaded

    def close(self) -> None:
        close = getattr(self._loaded, "close", None)
        if callable(close):
            close()
