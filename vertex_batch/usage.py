"""What a finished job used and cost: sums of its output rows' billable counts and their exact cost.

The cost is summed in SQL with the formula ``costs.model_cost_sql`` renders, the same one the dbt macro
``vertex_batch.cost_usd`` gives each flattened row, so the ledger's sums and ``SUM(cost_usd)`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vertex_batch.catalog import Lane, catalog
from vertex_batch.costs import USAGE_PLACEHOLDERS, model_cost_sql
from vertex_batch.families import family_output
from vertex_batch.ports import QueryRunner


@dataclass(frozen=True)
class JobUsage:
    """Billable sums of a job's output rows, and their cost (None when the model has no price)."""

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached_content: int = 0
    cache_write: int = 0
    tool_use_prompt: int = 0
    cost_usd: float | None = None

    @property
    def total(self) -> int:
        return self.prompt + self.candidates + self.thoughts


def cost_expression(model: str, family: str, lane: Lane = "batch", output: str | None = None) -> str | None:
    """The SQL cost of one output row of ``model``; None when the catalog has no price for it."""
    info = catalog().find(model)
    sql = model_cost_sql(info) if info is not None else None
    if sql is None:
        return None
    shape = family_output(family)
    for name, expression in shape.usage_sql(output or shape.output_column).items():
        sql = sql.replace("{" + name + "}", f"({expression})")
    return sql.replace("{processed_time}", shape.processed_time).replace("{lane}", f"'{lane}'")


def job_usage(
    runner: QueryRunner,
    output_table: str,
    model: str,
    family: str = "gemini",
    lane: Lane = "batch",
    where: str = "TRUE",
) -> JobUsage:
    """Sums over the rows of ``output_table`` that ``where`` keeps (a job's output in the family's BigQuery shape,
    or its rows in the landing table, which has the same output columns)."""
    shape = family_output(family)
    usage = shape.usage_sql(shape.output_column)
    cost = cost_expression(model, family, lane)
    sums = ", ".join(f"SUM({usage[name]})" for name in USAGE_PLACEHOLDERS)
    rows = runner.run(f"SELECT {sums}, {f'SUM({cost})' if cost else 'NULL'} FROM `{output_table}` WHERE {where}")
    values = list(rows[0])
    counts = [int(value or 0) for value in values[: len(USAGE_PLACEHOLDERS)]]
    return JobUsage(*counts, cost_usd=None if cost is None else float(values[-1] or 0.0))


@dataclass(frozen=True)
class CostSummary:
    """Cost of a run from its ledger rows: spent (landed jobs, exact) and in flight (estimates), per model."""

    spent_usd: float
    in_flight_usd: float
    by_model: dict[str, tuple[float, float]]

    def to_json(self) -> dict[str, Any]:
        return {
            "spent_usd": round(self.spent_usd, 8),
            "in_flight_estimated_usd": round(self.in_flight_usd, 8),
            "by_request_model": {
                name: {"spent_usd": round(spent, 8), "in_flight_estimated_usd": round(flight, 8)}
                for name, (spent, flight) in self.by_model.items()
            },
        }

    def describe(self) -> list[str]:
        """Lines for ``vertex-batch status``: the run's cost, then one line per request model."""
        lines = [f"cost: ${self.spent_usd:.4f} spent" + self._flight(self.in_flight_usd)]
        for name, (spent, flight) in self.by_model.items():
            lines.append(f"  {name}: ${spent:.4f} spent" + self._flight(flight))
        return lines

    @staticmethod
    def _flight(usd: float) -> str:
        return f", ~${usd:.4f} estimated in flight" if usd else ""


def summarize_costs(entries: Any) -> CostSummary:
    """Sum ledger entries (``ledger.LedgerEntry``): ``actual_cost_usd`` of landed jobs, else their estimate."""
    by_model: dict[str, tuple[float, float]] = {}
    for entry in entries:
        spent, flight = by_model.get(entry.request_model, (0.0, 0.0))
        if entry.landed:
            spent += float(entry.actual_cost_usd or 0.0)
        else:
            flight += float(entry.estimated_cost_usd or 0.0)
        by_model[entry.request_model] = (spent, flight)
    return CostSummary(
        spent_usd=sum(spent for spent, _ in by_model.values()),
        in_flight_usd=sum(flight for _, flight in by_model.values()),
        by_model=dict(sorted(by_model.items())),
    )
