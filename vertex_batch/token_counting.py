"""Input tokens of the pending rows, counted with the model's own tokenizer.

The model's ``countTokens`` (the official ``LlmUtilityServiceClient``) counts every pending row when there are at
most ``FULL_COUNT_ROWS``; otherwise the rows are sorted by request size and cut into ``SAMPLE_STRATA`` equal strata,
one row of each is counted, and each stratum's bytes are scaled by its sampled tokens per byte (``sampling.py``).
A row the service refuses falls back to bytes / 4 alone; any other failure stops counting and the rest falls back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from vertex_batch.costs import estimate_input_tokens
from vertex_batch.ports import QueryRunner
from vertex_batch.sampling import FULL_COUNT_ROWS, SAMPLE_STRATA, stratified_total

COUNT_THREADS = 8


class RowRefused(ValueError):
    """The token counter refused one request (a 400): only that row falls back to bytes / 4."""


class TokenCounter(Protocol):
    """Counts the prompt tokens of one request with ``model``'s tokenizer; ``RowRefused`` for a bad request."""

    def count(self, model: str, request: dict[str, Any]) -> int: ...


@dataclass(frozen=True)
class InputCount:
    """Input tokens of the pending rows, with the 95% error of a sampled count."""

    rows: int
    tokens: int
    error_tokens: int
    counted_rows: int
    method: str


def _request(value: Any) -> dict[str, Any]:
    """A request from ``TO_JSON_STRING(request)`` (a JSON column, or a STRING column holding JSON)."""
    loaded = json.loads(value) if isinstance(value, str) else value
    if isinstance(loaded, str):
        loaded = json.loads(loaded)
    return loaded if isinstance(loaded, dict) else {}


def _count_each(counter: TokenCounter, model: str, requests: Sequence[tuple[str, int]]) -> tuple[list[int], list[str]]:
    """Tokens of each ``(request JSON, bytes)``; a row that cannot be counted falls back to bytes / 4."""
    problems: list[str] = []
    broken: list[BaseException] = []

    def one(item: tuple[str, int]) -> int:
        text, size = item
        if broken:
            problems.append("")
            return estimate_input_tokens(size)
        try:
            return counter.count(model, _request(text))
        except Exception as error:  # any failure falls back to bytes / 4, and is reported
            problems.append(str(error).splitlines()[0][:160] if str(error) else type(error).__name__)
            if not isinstance(error, ValueError):
                broken.append(error)
            return estimate_input_tokens(size)

    with ThreadPoolExecutor(max_workers=COUNT_THREADS) as pool:
        counts = list(pool.map(one, requests))
    return counts, problems


def _fallback_note(problems: list[str]) -> str:
    if not problems:
        return ""
    first = next((problem for problem in problems if problem), "")
    return f"; {len(problems)} row(s) could not be counted and use bytes / 4 (first error: {first})"


def count_input(
    runner: QueryRunner, pending_query: str, rows: int, model: str, counter: TokenCounter | None
) -> InputCount:
    """Input tokens of the rows ``pending_query`` selects (see the module docstring)."""
    if rows == 0:
        return InputCount(0, 0, 0, 0, "no rows")
    if counter is None:
        (total_bytes,) = runner.run(f"SELECT SUM(LENGTH(TO_JSON_STRING(request))) FROM ({pending_query})")[0]
        tokens = estimate_input_tokens(int(total_bytes or 0))
        return InputCount(rows, tokens, 0, 0, "request bytes / 4 (no token counter for this model)")
    if rows <= FULL_COUNT_ROWS:
        found = runner.run(f"SELECT TO_JSON_STRING(request), LENGTH(TO_JSON_STRING(request)) FROM ({pending_query})")
        counts, problems = _count_each(counter, model, [(row[0], int(row[1] or 0)) for row in found])
        method = f"countTokens on every row ({len(counts)})"
        return InputCount(rows, sum(counts), 0, len(counts), method + _fallback_note(problems))
    step = math.ceil(rows / SAMPLE_STRATA)
    middle = step // 2
    strata = runner.run(
        "WITH p AS (SELECT TO_JSON_STRING(request) AS r, LENGTH(TO_JSON_STRING(request)) AS b "
        f"FROM ({pending_query})), "
        "s AS (SELECT r, b, ROW_NUMBER() OVER (ORDER BY b, FARM_FINGERPRINT(r)) - 1 AS i FROM p) "
        f"SELECT DIV(i, {step}) AS stratum, COUNT(*) AS n, SUM(b) AS bytes, "
        f"COALESCE(MAX(IF(MOD(i, {step}) = {middle}, r, NULL)), MAX(IF(MOD(i, {step}) = 0, r, NULL))) AS sample, "
        f"COALESCE(MAX(IF(MOD(i, {step}) = {middle}, b, NULL)), MAX(IF(MOD(i, {step}) = 0, b, NULL))) AS sample_b "
        "FROM s GROUP BY stratum ORDER BY stratum"
    )
    samples = [(row[3], int(row[4] or 1)) for row in strata]
    counts, problems = _count_each(counter, model, samples)
    total, error = stratified_total([int(row[2] or 0) for row in strata], counts, [size for _, size in samples])
    method = (
        f"countTokens on {len(counts)} of {rows} rows (one per stratum of {step} rows by request size), "
        f"scaled by bytes; ± is a 95% interval" + _fallback_note(problems)
    )
    return InputCount(rows, round(total), round(error), len(counts), method)


@dataclass
class VertexTokenCounter:
    """``TokenCounter`` through ``aiplatform_v1.LlmUtilityServiceClient.count_tokens`` (REST), for Gemini requests."""

    connections: Any  # vertex_batch.connections.Connections
    _client: Any = None

    def count(self, model: str, request: dict[str, Any]) -> int:
        from google.api_core import exceptions as core
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format

        from vertex_batch.job_client import model_resource

        if self._client is None:
            self._client = self.connections.llm_utility_client()
        name = model_resource(model, self.connections.project, self.connections.location)
        message = aiplatform_v1.CountTokensRequest(endpoint=name, model=name)
        try:
            json_format.ParseDict(request, message._pb, ignore_unknown_fields=True)
        except json_format.ParseError:
            message = aiplatform_v1.CountTokensRequest(endpoint=name, model=name)
            kept = {key: request[key] for key in ("contents", "systemInstruction") if key in request}
            json_format.ParseDict(kept, message._pb, ignore_unknown_fields=True)
        message.endpoint, message.model = name, name
        try:
            return int(self._client.count_tokens(request=message).total_tokens)
        except core.InvalidArgument as error:
            raise RowRefused(error.message) from error
