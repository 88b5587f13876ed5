"""The model catalog: every fact about the models a batch job may name, read from one dated file.

``catalog.toml`` (beside this module) says, per model: its id and aliases, publisher, request family and kind,
lifecycle (release, new access blocked, retirement, replacement), where it is served (regions, ``global``, the
``us``/``eu`` multi-region endpoints), the batch IO it takes, its per-job row limit, context window, output limit,
thinking control, implicit-cache minimum, Flex support and prices with their effective dates, each fact with a
named source (``[sources.<name>]``: address, date read, official or secondary). Everything that knows about models
reads it through this module: the runner (validation, defaults, routing), estimates and ``cost_usd`` (Python and
the SQL rendered into ``macros/_internal/catalog.sql``), the request builders, ``doctor``, ``vertex-batch models``,
the local service (what it serves and refuses) and the README's model table.

Updating the catalog is editing that one file and running ``python -m vertex_batch.catalog --write`` (it
regenerates the dbt macro and the README table; a test fails while either is stale).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

CATALOG_FILE = Path(__file__).with_name("catalog.toml")

Family = Literal["gemini", "claude", "chat-completions", "gemini-embedding", "text-embedding"]
Kind = Literal["generate", "embed"]
BatchIO = Literal["bigquery", "gcs"]
Status = Literal["available", "preview", "retiring", "retired"]
Lane = Literal["batch", "flex", "online"]
#: Days before its retirement (or from the day new access is blocked) that a model counts as ``retiring``.
RETIRING_WITHIN_DAYS = 30
#: A default or a README example must not name a model that retires within this many days of the check date.
DEFAULT_HORIZON_DAYS = 90
#: Production blocks new access to a model this long before its retirement ("one month before").
ACCESS_BLOCKED_BEFORE = 1  # months

_PREFIX = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/(?P<publisher>[^/]+)/models/")
_NUMBERED_VERSION = re.compile(r"-[0-9]{3}$")


class CatalogError(ValueError):
    """The catalog file is malformed (a missing source, an unknown family, prices out of order...)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where a fact was read, and when."""

    url: str
    read: date
    official: bool = True  # False: only a secondary source says so (doctor notes it)
    note: str = ""


class Thinking(_Frozen):
    """How a model's thinking is controlled in ``generationConfig.thinkingConfig`` (Gemini) or its family's own
    field, and what it does when the request says nothing."""

    control: Literal["none", "budget", "level"]
    levels: tuple[str, ...] = ()
    default_level: str | None = None
    default_budget: int | None = None  # -1: dynamic
    max_budget: int | None = None
    can_disable: bool = True
    #: Thinking tokens assumed per row by estimates when the request sets no budget and no history exists.
    assumed_tokens: int = 0
    source: str


class Price(_Frozen):
    """Standard (online) USD per 1M units from ``effective`` on, for prompts above ``prompt_tokens_above`` tokens."""

    effective: date
    prompt_tokens_above: int = 0
    unit: Literal["token", "character"] = "token"
    input: float
    output: float = 0.0
    cached_input: float | None = None  # implicit-cache / cache-read price (None: no caching discount)
    cache_write: float | None = None  # cache-creation price (Claude), None: billed as input
    source: str


class Discounts(_Frozen):
    """Share of the standard price each lane pays, and whether cache reads also get the lane's discount."""

    batch: float = 0.5
    flex: float | None = None  # None: the model has no Flex lane
    cache_stacks: bool = False  # Gemini: the cache discount wins (no stacking); Claude: both apply
    source: str


class ModelInfo(_Frozen):
    """One model as the catalog describes it."""

    id: str
    aliases: tuple[str, ...] = ()
    name: str
    publisher: str
    family: Family
    kind: Kind
    launch_stage: Literal["ga", "preview"] = "ga"
    release: date | None = None
    access_blocked: date | None = None  # default: one month before retirement
    retirement: date | None = None
    replacement: str | None = None
    lifecycle_source: str
    #: Regions where batch jobs of this model run; None when the catalog has no list (then a region is not refused).
    regions: tuple[str, ...] | None = None
    global_endpoint: bool = False
    multi_region_endpoints: tuple[str, ...] = ()
    locations_source: str
    batch_io: tuple[BatchIO, ...]
    #: Rows (requests) one batch job may hold; None when the model's batch page documents no limit (Claude and
    #: open models on Vertex AI): callers then fall back to their own setting rather than a guessed number.
    max_rows_per_job: int | None = None
    max_input_bytes: int | None = None
    concurrent_jobs_quota: int | None = None  # per project and publisher (None: shared pool)
    io_source: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    default_output_tokens: int | None = None  # what an answer may use when the request sets no limit
    dimensions: int | None = None  # embeddings: values in a vector
    #: Embeddings: the model ignores a request's task type and title (they do not change its vectors).
    ignores_task_type: bool = False
    thinking: Thinking | None = None
    implicit_cache_min_tokens: int | None = None
    limits_source: str
    flex_source: str | None = None
    discounts: Discounts
    prices: tuple[Price, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> ModelInfo:
        if self.access_blocked is None and self.retirement is not None:
            object.__setattr__(self, "access_blocked", _months_before(self.retirement, ACCESS_BLOCKED_BEFORE))
        keys = [(price.effective, price.prompt_tokens_above) for price in self.prices]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError(f"{self.id}: prices must be sorted by effective date, then tier, without repeats")
        return self

    # --- lifecycle ------------------------------------------------------------------------------
    def status(self, today: date | None = None) -> Status:
        """available / preview / retiring (within ``RETIRING_WITHIN_DAYS`` or new access blocked) / retired."""
        today = today or utc_today()
        if self.retirement is not None and today >= self.retirement:
            return "retired"
        if self.retirement is not None and (
            (self.access_blocked is not None and today >= self.access_blocked)
            or self.retirement - today <= timedelta(days=RETIRING_WITHIN_DAYS)
        ):
            return "retiring"
        return "preview" if self.launch_stage == "preview" else "available"

    def new_access_blocked(self, today: date | None = None) -> bool:
        """Whether production refuses this model to projects that have not used it before."""
        today = today or utc_today()
        return self.access_blocked is not None and today >= self.access_blocked

    # --- where and how --------------------------------------------------------------------------
    def served_in(self, location: str) -> bool:
        """Whether batch jobs of this model may run at ``location`` (a region, ``global``, ``us`` or ``eu``)."""
        location = location.lower()
        if location == "global":
            return self.global_endpoint
        if location in ("us", "eu"):
            return location in self.multi_region_endpoints
        return self.regions is None or location in self.regions

    def where_served(self) -> str:
        """Where batch jobs of this model run, for messages: its regions, ``global``, ``us``/``eu``."""
        regions = ["regions not listed"] if self.regions is None else list(self.regions)
        places = [*regions, *(["global"] if self.global_endpoint else []), *self.multi_region_endpoints]
        return ", ".join(places) or "nowhere the catalog knows"

    @property
    def flex(self) -> bool:
        return self.discounts.flex is not None

    def share(self, lane: Lane) -> float:
        """The share of the standard price a lane pays (``online``: 1)."""
        if lane == "batch":
            return self.discounts.batch
        if lane == "flex":
            if self.discounts.flex is None:
                raise CatalogError(f"{self.id} has no Flex lane")
            return self.discounts.flex
        return 1.0

    # --- prices ---------------------------------------------------------------------------------
    def prices_on(self, day: date) -> tuple[Price, ...]:
        """The price tiers in force on ``day`` (lowest threshold first); empty when unpriced then."""
        effective = [price.effective for price in self.prices if price.effective <= day]
        if not effective:
            return ()
        latest = max(effective)
        return tuple(price for price in self.prices if price.effective == latest)

    def price_at(self, day: date, prompt_tokens: int = 0) -> Price | None:
        """The tier that applies to a request of ``prompt_tokens`` on ``day``; None when unpriced."""
        chosen = None
        for price in self.prices_on(day):
            if chosen is None or prompt_tokens > price.prompt_tokens_above:
                chosen = price
        return chosen

    @property
    def price_dates(self) -> tuple[date, ...]:
        """The dates on which the price changes, oldest first."""
        return tuple(sorted({price.effective for price in self.prices}))


class Catalog(_Frozen):
    """The whole catalog: when it was last checked, its sources and its models."""

    checked: date
    #: The model a request model uses when it names none (``meta.vertex_batch.model`` / var ``vertex_batch_model``).
    default_model: str
    sources: dict[str, Source]
    models: tuple[ModelInfo, ...] = Field(default=())
    _names: dict[str, ModelInfo] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        names: dict[str, str] = {}
        for model in self.models:
            for name in (model.id, *model.aliases):
                key = name.lower()
                if key in names:
                    raise ValueError(f"model name {name!r} is used by both {names[key]} and {model.id}")
                names[key] = model.id
            for source in _sources_of(model):
                if source not in self.sources:
                    raise ValueError(f"{model.id}: source {source!r} is not in [sources]")
            if (
                model.replacement
                and model.replacement.lower() not in names
                and model.replacement not in {m.id for m in self.models}
            ):
                raise ValueError(f"{model.id}: replacement {model.replacement!r} is not a catalog model")
        if self.default_model.lower() not in names:
            raise ValueError(f"default_model {self.default_model!r} is not a catalog model")
        return self

    # --- lookups --------------------------------------------------------------------------------
    def find(self, name: str) -> ModelInfo | None:
        """The model ``name`` means (see ``model_name``), or None when the catalog does not know it."""
        full = model_name(name).lower()
        unversioned = full.split("@", 1)[0]
        for candidate in (full, unversioned, _NUMBERED_VERSION.sub("", unversioned)):
            if candidate in self._index():
                return self._index()[candidate]
        return None

    def get(self, name: str) -> ModelInfo:
        """``find``, raising ``UnknownModel`` with the catalog's nearest names."""
        found = self.find(name)
        if found is None:
            raise UnknownModel(name, self)
        return found

    def of_family(self, *families: str) -> tuple[ModelInfo, ...]:
        return tuple(model for model in self.models if model.family in families)

    def source(self, name: str) -> Source:
        return self.sources[name]

    def _index(self) -> dict[str, ModelInfo]:
        if not self._names:
            self._names.update({name.lower(): model for model in self.models for name in (model.id, *model.aliases)})
        return self._names


class UnknownModel(LookupError):
    """A model the catalog does not know; ``str()`` names the nearest ones."""

    def __init__(self, name: str, catalog: Catalog) -> None:
        import difflib

        near = difflib.get_close_matches(model_name(name), [m.id for m in catalog.models], n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        super().__init__(f"model {name!r} is not in the model catalog{hint}; `vertex-batch models` lists them")
        self.name = name


def _sources_of(model: ModelInfo) -> Iterable[str]:
    yield from (model.lifecycle_source, model.locations_source, model.io_source, model.limits_source)
    yield model.discounts.source
    if model.flex_source:
        yield model.flex_source
    if model.thinking is not None:
        yield model.thinking.source
    yield from (price.source for price in model.prices)


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    while True:
        try:
            return day.replace(year=year, month=month)
        except ValueError:  # 31 March -> 28/29 February
            day = day - timedelta(days=1)


def utc_today() -> date:
    return datetime.now(UTC).date()


# --- names ------------------------------------------------------------------------------------------
def model_name(model: str) -> str:
    """The one name normaliser: a model as a user or the API writes it, as the catalog names it.

    ``projects/P/locations/L/publishers/google/models/MODEL`` and ``publishers/google/models/MODEL`` become
    ``MODEL``; an ``@version`` suffix is kept (Claude ids carry one: ``claude-x@20251001``)
    and so is case; a tuned model's resource name (``projects/P/locations/L/models/ID``) stays whole.
    """
    return _PREFIX.sub("", model.strip())


def base_name(model: str) -> str:
    """``model_name`` without an ``@version`` or ``-00N`` version suffix: ``MODEL-001@default`` -> ``MODEL``."""
    name = model_name(model).split("@", 1)[0]
    return _NUMBERED_VERSION.sub("", name)


# --- loading ----------------------------------------------------------------------------------------
def parse_catalog(data: Mapping[str, Any]) -> Catalog:
    """A ``Catalog`` from the parsed TOML; raises ``CatalogError`` naming the first problem."""
    try:
        return Catalog.model_validate(dict(data))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise CatalogError(f"model catalog: {where}: {problem['msg']}") from error


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Read and check a catalog file."""
    with path.open("rb") as handle:
        return parse_catalog(tomllib.load(handle))


@cache
def catalog() -> Catalog:
    """The shipped catalog (``catalog.toml``), read once."""
    return load_catalog()
