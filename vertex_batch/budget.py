"""The run's budget: one object decides every spend (first jobs, later chunks, retry rounds, Flex waves).

``--max-cost`` (or the dbt var ``vertex_batch_max_cost``) sets ``limit_usd``. Before anything is submitted the
estimates of every request model about to be queued are checked together (``check_plan``); before each job or
wave the run's committed cost (landed, exact, plus the estimates of what is in flight) plus the next spend must
stay within the limit (``allow``); a model without a price cannot be held to a limit (``check_priced``). Once
``allow`` refuses, the budget stays stopped and says why (``stopped``): the loop submits nothing more. What calls
outside batch jobs (Flex and online lanes, ``flex_lane``) spent is counted in (``spent_in_lanes``) on top of the
committed cost the job loop reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from vertex_batch.errors import BudgetExceeded

_SLACK = 1 + 1e-9  # float sums of per-row costs may exceed an exact limit by rounding only


@dataclass
class Budget:
    """A run's spending limit and whether it has stopped the run."""

    limit_usd: float | None = None
    stopped: str = ""  # one line: why spending stopped ("" while allowed)
    lanes_usd: float = 0.0  # landed spend of Flex and online calls (the job loop knows only its jobs)

    @property
    def limited(self) -> bool:
        return self.limit_usd is not None

    def check_priced(self, request_model: str, model: str, priced: bool) -> None:
        """Refuse a model without a price when there is a limit (a budget cannot hold for an unknown cost)."""
        if self.limited and not priced:
            raise BudgetExceeded(
                f"{request_model}: model {model!r} has no price in the model catalog, so --max-cost cannot be "
                "checked; add its price to vertex_batch/catalog.toml (or run without --max-cost)"
            )

    def spent_in_lanes(self, usd: float) -> None:
        """Count a landed Flex or online append's exact cost."""
        self.lanes_usd += usd

    def check_plan(self, estimated_usd: float, committed_usd: float = 0.0) -> None:
        """Before a wave is queued: what the run has committed plus the estimate of everything about to be queued
        must fit, and a stopped budget queues nothing more."""
        committed_usd += self.lanes_usd
        if self.stopped:
            raise BudgetExceeded(f"{self.stopped}; nothing more was submitted (landed rows are kept)")
        if self.limit_usd is not None and committed_usd + estimated_usd > self.limit_usd * _SLACK:
            spent = f" on top of ${committed_usd:.4f} already committed" if committed_usd else ""
            raise BudgetExceeded(
                f"estimated cost ${estimated_usd:.4f}{spent} is above --max-cost ${self.limit_usd:.4f}; "
                "nothing more was submitted (raise the budget or select fewer models)"
            )

    def allow(self, next_usd: float, committed_usd: float, what: str = "the next job") -> bool:
        """Whether ``what`` (estimated ``next_usd``) may be spent on top of ``committed_usd``; a refusal stops the
        budget for the rest of the run."""
        if self.stopped:
            return False
        committed_usd += self.lanes_usd
        if self.limit_usd is None or committed_usd + next_usd <= self.limit_usd * _SLACK:
            return True
        self.stopped = (
            f"{what} (estimated ${next_usd:.4f}) would take the run to ${committed_usd + next_usd:.4f}, "
            f"above --max-cost ${self.limit_usd:.4f}"
        )
        return False
