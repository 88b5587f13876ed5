"""Gemini embedding rows (the catalog's `gemini-embedding` family), as the batch embeddings page describes them.

Input: JSONL in Cloud Storage only (create refuses BigQuery, ``served_models.check_io``), up to the catalog's
rows per job, a line ``{"key": …, "request": {"content": {"parts": [{"text": …}]}, "embed_content_config":
{"task_type", "title", "output_dimensionality", "auto_truncate"}}}``. The request is parsed strictly as an
``EmbedContentRequest`` (``aiplatform_v1``/``v1beta1``; its older top-level ``taskType``, ``title``,
``outputDimensionality`` and ``autoTruncate`` are read too, ``embed_content_config`` wins); a model the catalog
marks ``ignores_task_type`` ignores task type and title ("silently ignored", the page says), the others apply them.

Output: the Gemini batch line (built on Gemini batch inference): the input ``key`` and ``request``,
``response`` an ``EmbedContentResponse`` (``embedding.values``, ``usageMetadata.promptTokenCount`` and
``totalTokenCount``, ``truncated`` when the input was cut), ``status`` and ``processed_time``. The response's
shape is the proto's; that batch lines carry exactly it is inferred.

Local choices: the embedding backend's vector (768 values) is carried to the model's size (the catalog's
``dimensions``, 3072) by a fixed random projection, which keeps cosine similarities close, and made unit
length; ``output_dimensionality`` cuts it from the end without re-normalising, as production documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np

from vertex_batch.local.backends.embedding import unit_values
from vertex_batch.local.gemini import RowError, content_text, invalid, load_json_object
from vertex_batch.local.proto_json import EMBED_REQUEST_TYPES, ProtoJsonError, parse_request
from vertex_batch.local.service.embeddings import EmbeddingInstance, embedding_model, too_long
from vertex_batch.local.service.family import Batch, Family, Outcome, Pause, RowFault

#: ``EmbedContentRequest``'s older top-level copies of ``embedContentConfig`` fields.
LEGACY_FIELDS = ("title", "taskType", "outputDimensionality", "autoTruncate")
#: Models that read task type and title from the text itself and ignore the config's.


@cache
def _projection(source: int, target: int) -> np.ndarray:
    """A fixed ``target x source`` Gaussian projection (Johnson-Lindenstrauss: angles are kept closely)."""
    return np.random.default_rng(20260101).standard_normal((target, source)) / np.sqrt(source)


def resized(values: tuple[float, ...], size: int) -> list[float]:
    """``values`` carried to ``size`` values of unit length (unchanged when they already have that size)."""
    if len(values) == size:
        return list(values)
    return list(unit_values(_projection(len(values), size) @ np.asarray(values)))


def _request(value: Any) -> dict[str, Any]:
    value = load_json_object(value, "an EmbedContentRequest")
    try:
        return parse_request(value, EMBED_REQUEST_TYPES)
    except ProtoJsonError as err:
        raise invalid(str(err)) from None


class GeminiEmbeddingFamily(Family):
    """Gemini embedding rows: Gemini batch lines around ``EmbedContentRequest``/``EmbedContentResponse``."""

    name = "gemini-embedding"
    embeds = True

    def _instance(self, source: dict[str, Any]) -> tuple[str, int | None, bool]:
        """The text to embed, the output size asked for, and ``autoTruncate``; raises ``RowError``."""
        request = _request(source.get("request"))
        text = content_text(request.get("content") or {})
        legacy = {key: request[key] for key in LEGACY_FIELDS if key in request}
        config = {**legacy, **request.get("embedContentConfig", {})}
        dimensions = config.get("outputDimensionality")
        limit = embedding_model(self.info).dimensions
        if dimensions is not None and not 1 <= int(dimensions) <= limit:
            raise invalid(
                f"outputDimensionality {dimensions} is not supported: the model supports values from 1 to {limit}."
            )
        if not self.info.ignores_task_type:
            task = config.get("taskType")
            task = None if task in (None, "TASK_TYPE_UNSPECIFIED") else str(task)
            text = EmbeddingInstance(text, task or "RETRIEVAL_QUERY", config.get("title") or None).model_input
        return text, None if dimensions is None else int(dimensions), config.get("autoTruncate", True) is not False

    def predictions(
        self, batches: Iterator[Batch], backend: Any, row_fault: RowFault, pause: Pause
    ) -> Iterator[list[tuple[dict[str, Any], Outcome]]]:
        model = embedding_model(self.info)
        for batch in batches:
            outcomes: list[Outcome | None] = [None] * len(batch)
            asked: list[tuple[int, str, int | None, bool]] = []
            for position, (index, source) in enumerate(batch):
                fault = row_fault(index)
                if fault:
                    outcomes[position] = Outcome({}, self.fault(fault))
                    continue
                try:
                    asked.append((position, *self._instance(source)))
                except RowError as err:
                    outcomes[position] = Outcome({}, self.failure(err.code, err.message, err.status))
            try:
                vectors = backend.embed([text for _, text, _, _ in asked], model.max_input_tokens) if asked else []
            except Exception as error:
                failure = self.failure(500, f"Internal error encountered: the local embedding model failed: {error}")
                vectors = [failure] * len(asked)
            for (position, _, dimensions, auto_truncate), vector in zip(asked, vectors, strict=True):
                outcomes[position] = self._outcome(vector, dimensions, auto_truncate)
            pause(len(batch))
            yield [(source, outcome) for (_, source), outcome in zip(batch, outcomes, strict=True) if outcome]

    def _outcome(self, embedding: Any, dimensions: int | None, auto_truncate: bool) -> Outcome:
        if isinstance(embedding, str):
            return Outcome({}, embedding)
        model = embedding_model(self.info)
        if embedding.truncated and not auto_truncate:
            return Outcome({}, self.failure(400, too_long(embedding, model)))
        values = resized(embedding.values, model.dimensions)[:dimensions]
        usage = {"promptTokenCount": embedding.token_count, "totalTokenCount": embedding.token_count}
        response: dict[str, Any] = {"embedding": {"values": values}, "usageMetadata": usage}
        if embedding.truncated:
            response["truncated"] = True
        return Outcome(response)
