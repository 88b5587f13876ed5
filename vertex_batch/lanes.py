"""Which lane answers a request model's pending rows: batch jobs, Flex PayGo calls or standard online calls.

``meta.vertex_batch.lane`` (var ``vertex_batch_lane``, default ``auto``; ``settings.RequestModelDefaults``):

- ``batch``: batch jobs, as always. ``flex`` / ``online``: synchronous ``generateContent`` calls (``flex_lane``),
  refused in one line for a model that cannot take them. ``online`` (standard price) is never chosen by ``auto``.
- ``auto``: ``flex`` when the pending rows are at most ``flex_max_rows`` and the model catalog gives the model a
  Flex discount (``ModelInfo.flex``), unless the run's location was pinned to a region (``--location``,
  ``meta.vertex_batch.location`` or var ``vertex_batch_location``): Flex runs on the global endpoint only, which
  keeps no data residency; else ``batch``.

Production facts (docs.cloud.google.com/gemini-enterprise-agent-platform/models/flex-paygo, read 2026-12-03):
Flex PayGo is 50% off Standard PayGo, served "in the global endpoint only" for selected Gemini models up to
Gemini 3.8 Flash (not Gemini 4), chosen by the header ``X-Vertex-AI-LLM-Shared-Request-Type: flex``; the answer's
``usageMetadata.trafficType`` says which lane served it.

Rows answered in a lane land with ``batch_job_name`` = ``<lane>/<run id>/...`` (``landing.LANE_PREFIXES``), which
sets the share of the standard price they pay; ``lane_of_job`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass

from vertex_batch.catalog import Lane, model_name
from vertex_batch.errors import ConfigurationError
from vertex_batch.landing import LANE_PREFIXES
from vertex_batch.regions import CONFIGURED_SOURCE, GLOBAL, Region
from vertex_batch.request_models import BatchSettings

#: Settings a person may write; ``auto`` resolves to one of the lanes.
LANE_SETTINGS = ("auto", "batch", "flex", "online")
_PINNING_SOURCES = ("--location", CONFIGURED_SOURCE)


@dataclass(frozen=True)
class LaneChoice:
    """The lane of a request model's pending rows and why, for the plan, ``--dry-run`` and progress."""

    lane: Lane
    reason: str

    def describe(self) -> str:
        return f"{self.lane}: {self.reason}"


def lane_of_job(job_name: str) -> Lane:
    """The lane a landed row or ledger entry came from, by its job name's prefix."""
    for lane, prefix in LANE_PREFIXES.items():
        if job_name.startswith(prefix):
            return lane  # type: ignore[return-value]
    return "batch"


def _callable(settings: BatchSettings) -> str:
    """Why the model cannot be called online ('' when it can: a Gemini generate model)."""
    if settings.family != "gemini" or settings.kind != "generate":
        return f"{model_name(settings.model)} is a {settings.family} model and Flex and online calls serve Gemini"
    return ""


def choose_lane(settings: BatchSettings, rows: int, region: Region | None = None) -> LaneChoice:
    """The lane of ``rows`` pending rows of a request model with ``settings`` in a run at ``region``."""
    model = model_name(settings.model)
    info = settings.info
    has_flex = info is not None and info.flex
    if settings.lane == "batch":
        return LaneChoice("batch", "lane batch is set")
    if settings.lane in ("flex", "online"):
        problem = _callable(settings)
        if not problem and settings.lane == "flex" and not has_flex:
            problem = f"{model} has no Flex PayGo in the model catalog"
        if problem:
            raise ConfigurationError(f"lane {settings.lane}: {problem}; use lane batch (or auto)")
        if settings.lane == "online":
            return LaneChoice("online", f"lane online is set: {rows} calls at the standard price")
        return LaneChoice("flex", f"lane flex is set: {rows} Flex PayGo calls on the global endpoint")
    problem = _callable(settings)
    if problem:
        return LaneChoice("batch", problem)
    if not has_flex:
        return LaneChoice("batch", f"{model} has no Flex PayGo in the model catalog")
    if rows > settings.flex_max_rows:
        return LaneChoice("batch", f"{rows} pending rows > flex_max_rows {settings.flex_max_rows}")
    if region is not None and region.name != GLOBAL and region.source in _PINNING_SOURCES:
        return LaneChoice(
            "batch",
            f"location {region.name} is pinned ({region.source}) and Flex runs only on the global endpoint "
            "(set lane flex to allow it)",
        )
    return LaneChoice("flex", f"{rows} pending rows ≤ flex_max_rows {settings.flex_max_rows} and {model} has Flex")
