"""Cost estimates before submitting: counted input tokens, output from evidence, a range and its assumptions.

- **Input**: ``token_counting.count_input`` (the model's own ``countTokens``, every row or one per size stratum).
- **Output** (answer + thinking per row): this request model's past answers in its landing table (mean, median and
  90th percentile) when there are any; else the requests' output caps (which bound answer and thinking together)
  and thinking settings, or the model's defaults from the model catalog.
- **Cost**: the catalog's price in force today, the lane's share, no implicit-cache discount assumed unless the
  past answers show one.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vertex_batch.catalog import Lane, ModelInfo, base_name, catalog, utc_today
from vertex_batch.costs import Usage, estimate_input_tokens, row_cost
from vertex_batch.families import REQUEST_LIMITS, family_output, max_output_sql
from vertex_batch.ports import QueryRunner
from vertex_batch.request_models import Estimate, Landed, Pending, RequestModel
from vertex_batch.sampling import percentile
from vertex_batch.token_counting import InputCount, TokenCounter, count_input

#: Past answers read from the landing table (the most recent).
HISTORY_ROWS = 5000
#: Answer length assumed per row when a request sets no output cap and there is no history.
ASSUMED_ANSWER_TOKENS = 512
#: Output cap assumed for a model whose catalog entry has none.
FALLBACK_MAX_OUTPUT = 8192
#: Thinking levels (Gemini's thinkingLevel, Claude's effort, chat-completions' reasoning_effort) that think.
THINKING_LEVELS = "'LOW', 'MEDIUM', 'HIGH', 'XHIGH', 'MAX'"


@dataclass(frozen=True)
class OutputGuess:
    """Output tokens (answer + thinking) of the pending rows: expected, low and high."""

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
    info: ModelInfo | None
    assumptions: tuple[str, ...] = ()
    cached_share: float = 0.0  # share of input tokens served from the implicit cache (past answers)
    lane: Lane = "batch"

    @property
    def priced(self) -> bool:
        return self.info is not None and self.info.price_at(utc_today()) is not None

    def _cost(self, input_tokens: int, output_tokens: int, cached_share: float) -> float:
        """USD of these totals at the tier of the mean prompt, the lane's share, today's price."""
        if self.info is None:
            return 0.0
        input_tokens = max(input_tokens, 0)
        price = self.info.price_at(utc_today(), input_tokens // max(self.input.rows, 1))
        if price is None:
            return 0.0
        usage = Usage(
            prompt=input_tokens, candidates=max(output_tokens, 0), cached_content=round(input_tokens * cached_share)
        )
        return row_cost(price, self.info.share(self.lane), self.info.discounts.cache_stacks, usage)

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
            f"estimated {self.lane} cost ${self.cost_usd:.4f} (range ${self.low_usd:.4f} to ${self.high_usd:.4f})"
            if self.priced
            else "cost unknown (no price for this model in the model catalog)"
        )
        lines = [
            f"{self.input.rows} rows, {self.input.tokens}{error} input tokens, {self.output.tokens} output tokens "
            f"({self.output.low} to {self.output.high}), {cost} ({self.model})",
            f"  input: {self.input.method}",
            f"  output: {self.output.basis}",
        ]
        lines += [f"  assumption: {text}" for text in self.assumptions]
        return lines


# --- output --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastAnswers:
    """Recent successful answers of a request model: output + thoughts per row, and the cached input share."""

    outputs: list[int]
    cached_share: float
    source: str


def past_answers(runner: QueryRunner, landing_table: str, model: str, family: str = "gemini") -> PastAnswers:
    """Recent successful answers in the landing table, preferring ``model``'s own."""
    shape = family_output(family)
    usage = shape.usage_sql(shape.output_column)
    version = shape.model_version.replace("{r}", shape.output_column)
    found = runner.run(
        f"SELECT {usage['candidates']} + {usage['thoughts']}, {version}, {usage['prompt']}, {usage['cached_content']} "
        f"FROM `{landing_table}` WHERE status = '' AND {shape.output_column} IS NOT NULL "
        f"ORDER BY landed_at DESC LIMIT {HISTORY_ROWS}"
    )
    rows = [(int(row[0] or 0), str(row[1] or ""), int(row[2] or 0), int(row[3] or 0)) for row in found]
    same = [row for row in rows if base_name(row[1]) == base_name(model)]
    if same:
        source = f"{len(same)} past answers of {base_name(model)}"
    else:
        same = rows
        source = f"{len(rows)} past answers (model versions: {', '.join(sorted({row[1] for row in rows}))})"
    prompt = sum(row[2] for row in same)
    cached = sum(row[3] for row in same)
    return PastAnswers([row[0] for row in same], cached / prompt if prompt else 0.0, source)


def output_from_history(rows: int, past: Sequence[int], source: str) -> OutputGuess:
    """Expected = rows x mean; range rows x median .. rows x 90th percentile (the mean always inside)."""
    mean, median, p90 = statistics.fmean(past), statistics.median(past), percentile(past, 0.9)
    return OutputGuess(
        tokens=round(rows * mean),
        low=round(rows * min(median, mean)),
        high=round(rows * max(p90, mean)),
        basis=(
            f"from {source} in the landing table: answer + thinking tokens per row mean {mean:.1f}, "
            f"median {median:.1f}, p90 {p90:.1f}"
        ),
    )


def output_from_settings(
    runner: QueryRunner, pending_query: str, rows: int, model: str, family: str = "gemini"
) -> tuple[OutputGuess, list[str]]:
    """Output from the requests' caps and thinking settings, or the model's catalog defaults.

    A cap bounds the answer and the thinking together, so a capped row is estimated at its cap; an uncapped one
    at ``ASSUMED_ANSWER_TOKENS`` plus its thinking budget, or the catalog's assumed thinking for a model that
    thinks by default (a thinking level, or a dynamic budget), at most the model's maximum output.
    """
    info = catalog().find(model)
    limits = REQUEST_LIMITS.get(family)
    maximum = (info.max_output_tokens if info else None) or FALLBACK_MAX_OUTPUT
    thinking = info.thinking if info else None
    assumed = thinking.assumed_tokens if thinking else 0
    cap = max_output_sql(family) if limits else "CAST(NULL AS INT64)"
    budget = (
        f"SAFE_CAST(JSON_VALUE(request, '{limits.thinking_budget}') AS INT64)"
        if limits and limits.thinking_budget
        else "CAST(NULL AS INT64)"
    )
    level = f"JSON_VALUE(request, '{limits.thinking_level}')" if limits and limits.thinking_level else "NULL"
    (found,) = runner.run(
        f"SELECT COUNTIF({cap} IS NOT NULL), SUM(COALESCE({cap}, 0)), "
        f"COUNTIF({cap} IS NULL AND {budget} > 0), SUM(IF({cap} IS NULL AND {budget} > 0, {budget}, 0)), "
        f"COUNTIF({cap} IS NULL AND ({budget} < 0 OR UPPER({level}) IN ({THINKING_LEVELS}))), "
        f"COUNTIF({cap} IS NULL AND {budget} IS NULL AND {level} IS NULL) "
        f"FROM ({pending_query})"
    )
    capped, cap_sum, budgeted, budget_sum, dynamic, unset = (int(value or 0) for value in found)
    uncapped = rows - capped
    thinks_by_default = thinking is not None and (
        thinking.default_level not in (None, "MINIMAL") or thinking.default_budget not in (None, 0)
    )
    thinking_rows = dynamic + (unset if thinks_by_default else 0)
    mid = cap_sum + uncapped * ASSUMED_ANSWER_TOKENS + budget_sum + thinking_rows * assumed
    high = cap_sum + uncapped * maximum
    assumptions = [
        f"no past answers: {capped} row(s) set an output cap, which bounds answer + thinking (assumed used "
        f"in full, a quarter at the low end); {uncapped} do not (at most the model's {maximum})"
    ]
    if uncapped:
        assumptions.append(
            f"uncapped rows: answers assumed {ASSUMED_ANSWER_TOKENS} tokens; thinking billed as output: "
            f"{budgeted} row(s) set a thinking budget (assumed used), {thinking_rows} think by level, dynamically "
            f"or by default (assumed {assumed} tokens, the model catalog's figure)"
        )
    guess = OutputGuess(
        tokens=mid,
        low=mid // 4,
        high=max(high, mid),
        basis="from the requests' output caps and thinking settings, else the model catalog's defaults",
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
    family: str = "gemini",
    lane: Lane = "batch",
) -> CostEstimate:
    """The counted estimate of submitting the ``rows`` pending rows ``pending_query`` selects."""
    counted = count_input(runner, pending_query, rows, model, counter)
    past = PastAnswers([], 0.0, "")
    if landing_table and rows:
        with contextlib.suppress(Exception):  # no landing table yet (or not readable): no history
            past = past_answers(runner, landing_table, model, family)
    assumptions: list[str] = ["no implicit-cache discount (cached prefixes make the actual cost lower)"]
    if past.outputs:
        output = output_from_history(rows, past.outputs, past.source)
        if past.cached_share:
            assumptions = [
                f"{past.cached_share:.0%} of input tokens served from the implicit cache, as in the past answers "
                "(none at the high end)"
            ]
    elif rows:
        output, more = output_from_settings(runner, pending_query, rows, model, family)
        assumptions = more + assumptions
    else:
        output = OutputGuess(0, 0, 0, "no rows")
    info = catalog().find(model)
    return CostEstimate(model, counted, output, info, tuple(assumptions), past.cached_share, lane)


# --- the loop's cost port ------------------------------------------------------------------------------


@dataclass
class CountedCosts:
    """``ports.CostModel``: counted estimates (``estimate_cost``) and exact actual cost (``Landed.cost_usd``).

    A model without a price is a one-line warning (once); whether that blocks the run is the budget's call.
    """

    runner_for: Callable[[str], QueryRunner]
    counter_for: Callable[[RequestModel], TokenCounter | None]
    warn: Callable[[str], None] = print
    estimates: dict[str, CostEstimate] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)
    _memo: dict[tuple[str, str, int, str], CostEstimate] = field(default_factory=dict)

    def estimate_for(self, model: RequestModel, pending: Pending, lane: Lane = "batch") -> CostEstimate:
        """The full estimate of a request model's pending rows; the same rows are counted once per run."""
        memo = (model.name, pending.fingerprint, pending.rows, lane)
        if memo in self._memo:
            return self._memo[memo]
        settings = model.settings
        if settings.kind == "embed":
            tokens = estimate_input_tokens(pending.request_bytes)
            result = CostEstimate(
                settings.model,
                InputCount(pending.rows, tokens, 0, 0, "content bytes / 4 (embeddings)"),
                OutputGuess(0, 0, 0, "embeddings have no output tokens"),
                settings.info,
                lane=lane,
            )
        else:
            result = estimate_cost(
                self.runner_for(model.project),
                pending.query,
                pending.rows,
                settings.model,
                model.landing_table,
                self.counter_for(model),
                settings.family,
                lane,
            )
        if not result.priced and settings.model not in self._warned:
            self._warned.add(settings.model)
            self.warn(
                f"warning: {model.name}: no price for model {settings.model!r} in the model catalog; "
                "its cost is unknown"
            )
        self.estimates[model.name] = self._memo[memo] = result
        return result

    def estimate(self, model: RequestModel, pending: Pending, lane: Lane = "batch") -> Estimate:
        result = self.estimate_for(model, pending, lane)
        priced = result.priced
        return Estimate(
            result.input.tokens,
            result.output.tokens,
            result.cost_usd,
            low_usd=result.low_usd if priced else None,
            high_usd=result.high_usd if priced else None,
            details=tuple(result.describe()),
            priced=priced,
        )

    def actual(self, model: RequestModel, landed: Landed) -> float:
        """The landed job's exact cost (summed in SQL when it landed); 0 for an unpriced model (never a refusal:
        the job already ran)."""
        return float(landed.cost_usd or 0.0)
