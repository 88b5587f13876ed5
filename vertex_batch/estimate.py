"""Cost estimates before submitting: counted input tokens, output from evidence, a range and its assumptions.

- **Input**: the model's own ``countTokens`` (through the official ``LlmUtilityServiceClient``) counts every
  pending row when there are at most ``FULL_COUNT_ROWS``; otherwise the rows are sorted by request size and
  cut into ``SAMPLE_STRATA`` equal strata, one row of each is counted, and each stratum's bytes are scaled
  by its sampled tokens-per-byte. The stated error is a 95% interval (successive-difference variance of
  the per-stratum ratios).
- **Output** (candidates + thoughts per row): this request model's past answers in its landing table
  (mean, median and 90th percentile) when there are any; else ``maxOutputTokens`` (which bounds answer
  and thoughts together) and the thinking budget the requests set, or the model's documented defaults.
- **Cost**: ``costs.py`` prices, batch discount, no implicit-cache discount assumed (an upper estimate).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.api_core import exceptions as core

from vertex_batch.costs import ModelPrice, Usage, estimate_input_tokens, model_key, price_for, unknown_price_warning
from vertex_batch.errors import BudgetExceeded
from vertex_batch.ports import Estimate, Landed, Pending, RequestModel

#: Pending rows up to which every row is counted.
FULL_COUNT_ROWS = 200
#: Strata (and counted rows) of a sampled estimate.
SAMPLE_STRATA = 200
#: Past answers read from the landing table (the most recent).
HISTORY_ROWS = 5000
COUNT_THREADS = 8
Z_95 = 1.96
#: Answer length assumed per row when a request sets no maxOutputTokens and there is no history.
ASSUMED_ANSWER_TOKENS = 512
#: Thinking assumed per row for dynamic thinking (budget -1 or unset on a thinking model), no history.
ASSUMED_DYNAMIC_THINKING_TOKENS = 1024


@dataclass(frozen=True)
class ModelDefaults:
    """A model's documented output defaults (Vertex AI model pages)."""

    max_output_tokens: int  # bounds answer + thoughts together
    thinks_by_default: bool


#: Documented defaults by price-table name; other models: 8192 output tokens, no thinking.
MODEL_DEFAULTS = {
    "gemini-2.5-pro": ModelDefaults(65_536, True),
    "gemini-2.5-flash": ModelDefaults(65_536, True),
    "gemini-2.5-flash-lite": ModelDefaults(65_536, False),
}
OTHER_MODEL_DEFAULTS = ModelDefaults(8_192, False)


class TokenCounter(Protocol):
    """Counts the prompt tokens of one ``GenerateContentRequest`` with ``model``'s tokenizer."""

    def count(self, model: str, request: dict[str, Any]) -> int: ...


class QueryRunner(Protocol):
    """Runs a query and returns its rows (``warehouse.Warehouse.run``)."""

    def run(self, sql: str) -> Sequence[Sequence[Any]]: ...


@dataclass(frozen=True)
class InputCount:
    """Input tokens of the pending rows, with the 95% error of a sampled count."""

    rows: int
    tokens: int
    error_tokens: int
    counted_rows: int
    method: str


@dataclass(frozen=True)
class OutputGuess:
    """Output tokens (candidates + thoughts) of the pending rows: expected, low and high."""

    tokens: int
    low: int
    high: int
    basis: str


@dataclass(frozen=True)
class CostEstimate:
    """What submitting the pending rows is expected to cost, as a range with its assumptions."""

    model: str
    input: InputCount
    output: OutputGuess
    price: ModelPrice | None
    assumptions: tuple[str, ...] = ()
    cached_share: float = 0.0  # share of input tokens served from the implicit cache (past answers)

    @property
    def priced(self) -> bool:
        return self.price is not None

    def _cost(self, input_tokens: int, output_tokens: int, cached_share: float) -> float:
        if self.price is None:
            return 0.0
        input_tokens = max(input_tokens, 0)
        tier = self.price.tier(input_tokens // max(self.input.rows, 1))
        usage = Usage(
            prompt=input_tokens, candidates=max(output_tokens, 0), cached_content=round(input_tokens * cached_share)
        )
        return tier.batch_cost(usage)

    @property
    def cost_usd(self) -> float:
        return self._cost(self.input.tokens, self.output.tokens, self.cached_share)

    @property
    def low_usd(self) -> float:
        return self._cost(self.input.tokens - self.input.error_tokens, self.output.low, self.cached_share)

    @property
    def high_usd(self) -> float:
        """No cache hits at the high end."""
        return self._cost(self.input.tokens + self.input.error_tokens, self.output.high, 0.0)

    def describe(self) -> list[str]:
        """Lines for ``--dry-run``: rows, tokens, cost range, then the assumptions."""
        error = f" ± {self.input.error_tokens}" if self.input.error_tokens else ""
        cost = (
            f"estimated batch cost ${self.cost_usd:.4f} (range ${self.low_usd:.4f} to ${self.high_usd:.4f})"
            if self.priced
            else "cost unknown (no price for this model)"
        )
        lines = [
            f"{self.input.rows} rows, {self.input.tokens}{error} input tokens, {self.output.tokens} output tokens "
            f"({self.output.low} to {self.output.high}), {cost} ({self.model})",
            f"  input: {self.input.method}",
            f"  output: {self.output.basis}",
        ]
        lines += [f"  assumption: {text}" for text in self.assumptions]
        return lines


# --- input ---------------------------------------------------------------------------------------------


def _request(value: Any) -> dict[str, Any]:
    """A request from ``TO_JSON_STRING(request)`` (a JSON column, or a STRING column holding JSON)."""
    loaded = json.loads(value) if isinstance(value, str) else value
    if isinstance(loaded, str):
        loaded = json.loads(loaded)
    return loaded if isinstance(loaded, dict) else {}


def _count_each(counter: TokenCounter, model: str, requests: Sequence[tuple[str, int]]) -> tuple[list[int], list[str]]:
    """Tokens of each ``(request JSON, bytes)``; a row that cannot be counted falls back to bytes / 4.

    A refused row (400) affects that row only; any other failure (permission, quota, outage) stops counting.
    """
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
            if not isinstance(error, core.InvalidArgument | ValueError):
                broken.append(error)
            return estimate_input_tokens(size)

    with ThreadPoolExecutor(max_workers=COUNT_THREADS) as pool:
        counts = list(pool.map(one, requests))
    return counts, problems


def count_input(
    runner: QueryRunner, pending_query: str, rows: int, model: str, counter: TokenCounter | None
) -> InputCount:
    """Input tokens of the rows ``pending_query`` selects (see the module docstring)."""
    if rows == 0:
        return InputCount(0, 0, 0, 0, "no rows")
    if counter is None:
        (total_bytes,) = runner.run(f"SELECT SUM(LENGTH(TO_JSON_STRING(request))) FROM ({pending_query})")[0]
        tokens = estimate_input_tokens(int(total_bytes or 0))
        return InputCount(rows, tokens, 0, 0, "request bytes / 4 (no token counter)")
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


def stratified_total(
    stratum_bytes: Sequence[int], sample_tokens: Sequence[int], sample_bytes: Sequence[int]
) -> tuple[float, float]:
    """Total tokens of strata (in size order) from one counted row each, and its 95% error.

    Each stratum's bytes are scaled by its sample's tokens per byte; the variance of a ratio within a
    stratum is estimated from successive differences between neighbouring strata.
    """
    ratios = [tokens / max(size, 1) for tokens, size in zip(sample_tokens, sample_bytes, strict=True)]
    total = sum(size * ratio for size, ratio in zip(stratum_bytes, ratios, strict=True))
    if len(ratios) < 2:
        return total, 0.0
    variance = sum((b - a) ** 2 for a, b in itertools.pairwise(ratios)) / (2 * (len(ratios) - 1))
    return total, Z_95 * math.sqrt(sum(size * size for size in stratum_bytes) * variance)


def _fallback_note(problems: list[str]) -> str:
    if not problems:
        return ""
    first = next((problem for problem in problems if problem), "")
    return f"; {len(problems)} row(s) could not be counted and use bytes / 4 (first error: {first})"


# --- output --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastAnswers:
    """Recent successful answers of a request model: output + thoughts per row, and the cached input share."""

    outputs: list[int]
    cached_share: float
    source: str


def past_answers(runner: QueryRunner, landing_table: str, model: str) -> PastAnswers:
    """Recent successful answers in the landing table, preferring ``model``'s own."""

    def count(name: str) -> str:
        return f"COALESCE(SAFE_CAST(JSON_VALUE(response, '$.usageMetadata.{name}') AS INT64), 0)"

    found = runner.run(
        f"SELECT {count('candidatesTokenCount')} + {count('thoughtsTokenCount')}, "
        f"JSON_VALUE(response, '$.modelVersion'), {count('promptTokenCount')}, {count('cachedContentTokenCount')} "
        f"FROM `{landing_table}` WHERE status = '' AND response IS NOT NULL "
        f"ORDER BY landed_at DESC LIMIT {HISTORY_ROWS}"
    )
    rows = [(int(row[0] or 0), str(row[1] or ""), int(row[2] or 0), int(row[3] or 0)) for row in found]
    same = [row for row in rows if model_key(row[1]) == model_key(model)]
    if same:
        source = f"{len(same)} past answers of {model_key(model)}"
    else:
        same = rows
        source = f"{len(rows)} past answers (model versions: {', '.join(sorted({row[1] for row in rows}))})"
    prompt = sum(row[2] for row in same)
    cached = sum(row[3] for row in same)
    return PastAnswers([row[0] for row in same], cached / prompt if prompt else 0.0, source)


def _percentile(values: Sequence[int], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def output_from_history(rows: int, past: Sequence[int], source: str) -> OutputGuess:
    """Expected = rows x mean; range rows x median .. rows x 90th percentile (the mean always inside)."""
    mean, median, p90 = statistics.fmean(past), statistics.median(past), _percentile(past, 0.9)
    return OutputGuess(
        tokens=round(rows * mean),
        low=round(rows * min(median, mean)),
        high=round(rows * max(p90, mean)),
        basis=(
            f"from {source} in the landing table: candidates + thoughts per row mean {mean:.1f}, "
            f"median {median:.1f}, p90 {p90:.1f}"
        ),
    )


def output_from_settings(
    runner: QueryRunner, pending_query: str, rows: int, model: str
) -> tuple[OutputGuess, list[str]]:
    """Output from the requests' ``maxOutputTokens`` and ``thinkingConfig``, or the model's defaults.

    On Gemini 2.5 ``maxOutputTokens`` bounds the answer and the thoughts together, so a capped row is
    estimated at its cap; an uncapped one at ``ASSUMED_ANSWER_TOKENS`` plus its thinking budget (or
    ``ASSUMED_DYNAMIC_THINKING_TOKENS`` for dynamic thinking), at most the model's maximum output.
    """
    defaults = MODEL_DEFAULTS.get(model_key(model), OTHER_MODEL_DEFAULTS)
    cap = "SAFE_CAST(JSON_VALUE(request, '$.generationConfig.maxOutputTokens') AS INT64)"
    budget = "SAFE_CAST(JSON_VALUE(request, '$.generationConfig.thinkingConfig.thinkingBudget') AS INT64)"
    (found,) = runner.run(
        f"SELECT COUNTIF({cap} IS NOT NULL), SUM(COALESCE({cap}, 0)), "
        f"COUNTIF({cap} IS NULL AND {budget} > 0), SUM(IF({cap} IS NULL AND {budget} > 0, {budget}, 0)), "
        f"COUNTIF({cap} IS NULL AND {budget} < 0), COUNTIF({cap} IS NULL AND {budget} IS NULL) "
        f"FROM ({pending_query})"
    )
    capped, cap_sum, budgeted, budget_sum, dynamic, unset = (int(value or 0) for value in found)
    uncapped = rows - capped
    thinking_rows = dynamic + (unset if defaults.thinks_by_default else 0)
    mid = cap_sum + uncapped * ASSUMED_ANSWER_TOKENS + budget_sum + thinking_rows * ASSUMED_DYNAMIC_THINKING_TOKENS
    high = cap_sum + uncapped * defaults.max_output_tokens
    assumptions = [
        f"no past answers: {capped} row(s) set maxOutputTokens, which bounds answer + thoughts (assumed used "
        f"in full, a quarter at the low end); {uncapped} do not (at most the model's {defaults.max_output_tokens})"
    ]
    if uncapped:
        assumptions.append(
            f"uncapped rows: answers assumed {ASSUMED_ANSWER_TOKENS} tokens; thinking billed as output: "
            f"{budgeted} row(s) set a thinking budget (assumed used), {thinking_rows} think dynamically "
            f"(assumed {ASSUMED_DYNAMIC_THINKING_TOKENS} tokens)"
        )
    guess = OutputGuess(
        tokens=mid,
        low=mid // 4,
        high=max(high, mid),
        basis="from the requests' maxOutputTokens and thinkingConfig, else the model's documented defaults",
    )
    return guess, assumptions


# --- the estimate --------------------------------------------------------------------------------------


def estimate_cost(
    runner: QueryRunner,
    pending_query: str,
    rows: int,
    model: str,
    landing_table: str | None,
    counter: TokenCounter | None,
) -> CostEstimate:
    """The counted estimate of submitting the ``rows`` pending rows ``pending_query`` selects."""
    counted = count_input(runner, pending_query, rows, model, counter)
    past = PastAnswers([], 0.0, "")
    if landing_table and rows:
        with contextlib.suppress(core.NotFound, core.BadRequest):  # no landing table yet: no history
            past = past_answers(runner, landing_table, model)
    assumptions: list[str] = ["no implicit-cache discount (cached prefixes make the actual cost lower)"]
    if past.outputs:
        output = output_from_history(rows, past.outputs, past.source)
        if past.cached_share:
            assumptions = [
                f"{past.cached_share:.0%} of input tokens served from the implicit cache, as in the past answers "
                "(none at the high end)"
            ]
    elif rows:
        output, more = output_from_settings(runner, pending_query, rows, model)
        assumptions = more + assumptions
    else:
        output = OutputGuess(0, 0, 0, "no rows")
    return CostEstimate(model, counted, output, price_for(model), tuple(assumptions), past.cached_share)


# --- the loop's cost port ------------------------------------------------------------------------------


@dataclass
class VertexTokenCounter:
    """``TokenCounter`` through ``aiplatform_v1.LlmUtilityServiceClient.count_tokens`` (REST)."""

    connections: Any  # vertex_batch.connections.Connections
    _client: Any = None

    def count(self, model: str, request: dict[str, Any]) -> int:
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format

        if self._client is None:
            self._client = self.connections.llm_utility_client()
        name = model if model.startswith("projects/") else (
            f"projects/{self.connections.project}/locations/{self.connections.location}/"
            f"publishers/google/models/{model.rsplit('/', 1)[-1]}"
        )  # fmt: skip
        message = aiplatform_v1.CountTokensRequest(endpoint=name, model=name)
        try:
            json_format.ParseDict(request, message._pb, ignore_unknown_fields=True)
        except json_format.ParseError:
            message = aiplatform_v1.CountTokensRequest(endpoint=name, model=name)
            kept = {key: request[key] for key in ("contents", "systemInstruction") if key in request}
            json_format.ParseDict(kept, message._pb, ignore_unknown_fields=True)
        message.endpoint, message.model = name, name
        return int(self._client.count_tokens(request=message).total_tokens)


@dataclass
class CountedCosts:
    """``ports.CostModel``: counted estimates (``estimate_cost``) and exact actual cost (``Landed.cost_usd``).

    ``refuse_unpriced`` (set with ``--max-cost``) turns a model without a price into ``BudgetExceeded``
    instead of a warning: a budget cannot hold for a cost nobody knows.
    """

    runner_for: Callable[[str], QueryRunner]
    counter_for: Callable[[str], TokenCounter | None]
    refuse_unpriced: bool = False
    warn: Callable[[str], None] = print
    estimates: dict[str, CostEstimate] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)
    _memo: dict[tuple[str, str, int], CostEstimate] = field(default_factory=dict)

    def check_price(self, model_name: str, gemini_model: str) -> ModelPrice | None:
        """The price of ``gemini_model``; a one-line warning once (or a refusal) when it has none."""
        price = price_for(gemini_model)
        if price is None:
            if self.refuse_unpriced:
                raise BudgetExceeded(
                    f"{model_name}: no price for model {gemini_model!r} in vertex_batch/prices.csv, so --max-cost "
                    "cannot be checked; add its price (or run without --max-cost)"
                )
            if gemini_model not in self._warned:
                self._warned.add(gemini_model)
                self.warn(unknown_price_warning(gemini_model))
        return price

    def estimate_for(self, model: RequestModel, pending: Pending) -> CostEstimate:
        """The full estimate of a request model's pending rows; the same rows are counted once per run."""
        self.check_price(model.name, model.settings.model)
        memo = (model.name, pending.fingerprint, pending.rows)
        if memo in self._memo:
            return self._memo[memo]
        if getattr(model.settings, "kind", "generate") == "embed":
            # Embeddings: content bytes / 4 as input (Pending.request_bytes), no output tokens.
            tokens = estimate_input_tokens(pending.request_bytes)
            result = CostEstimate(
                model.settings.model,
                InputCount(pending.rows, tokens, 0, 0, "content bytes / 4 (embeddings)"),
                OutputGuess(0, 0, 0, "embeddings have no output tokens"),
                price_for(model.settings.model),
            )
            self.estimates[model.name] = self._memo[memo] = result
            return result
        project = model.table_id.split(".", 1)[0]
        result = estimate_cost(
            self.runner_for(project),
            pending.query,
            pending.rows,
            model.settings.model,
            model.landing_table,
            self.counter_for(project),
        )
        self.estimates[model.name] = self._memo[memo] = result
        return result

    def estimate(self, model: RequestModel, pending: Pending) -> Estimate:
        result = self.estimate_for(model, pending)
        priced = result.priced
        return Estimate(
            result.input.tokens,
            result.output.tokens,
            result.cost_usd,
            low_usd=result.low_usd if priced else None,
            high_usd=result.high_usd if priced else None,
            details=tuple(result.describe()),
        )

    def actual(self, model: RequestModel, landed: Landed) -> float:
        """The landed job's exact cost; from token sums when the warehouse gave none; 0 for an unpriced model
        (never a refusal: the job already ran)."""
        if landed.cost_usd is not None:
            return float(landed.cost_usd)
        price = price_for(model.settings.model)
        if price is None:
            return 0.0
        usage = Usage(
            prompt=landed.prompt_tokens,
            candidates=max(landed.total_tokens - landed.prompt_tokens, landed.candidate_tokens),
        )
        return price.tiers[0].batch_cost(usage)
