"""Request models as the runner sees them, and the rows that move through a run: pending rows, staged job inputs,
landed outputs, estimates. Plain data: nothing here talks to dbt or Google Cloud.

A request model's settings are its ``config(meta={'vertex_batch': {...}})`` over the dbt vars over the defaults
(``settings.RequestModelDefaults``); its family and kind come from the model catalog (``catalog.py``), or from an
explicit ``meta.vertex_batch.family`` for a model the catalog does not know (a tuned model, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError

from vertex_batch.catalog import Family, ModelInfo, catalog, model_name
from vertex_batch.errors import RequestTableError
from vertex_batch.landing import landing_table, ledger_table
from vertex_batch.settings import FALLBACK_ROWS_PER_JOB, RequestModelDefaults

META_KEY = "vertex_batch"
FAMILIES: tuple[str, ...] = get_args(Family)
EMBED_FAMILIES = frozenset({"gemini-embedding", "text-embedding"})


@dataclass(frozen=True)
class BatchSettings:
    """A request model's ``meta.vertex_batch``, with defaults filled in (see ``settings.py``)."""

    key: tuple[str, ...]
    model: str
    max_rows_per_job: int
    max_attempts: int
    input: str
    gcs_prefix: str | None = None
    location: str | None = None
    family: str = "gemini"
    lane: str = field(default="auto", compare=False)  # auto / batch / flex / online (``lanes.choose_lane``)
    flex_max_rows: int = field(default=500, compare=False)
    # The jobs' modelParameters (embeddings: outputDimensionality / autoTruncate from meta); part of the identity.
    model_parameters: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def kind(self) -> str:
        """``embed`` for the embedding families, else ``generate``."""
        return "embed" if self.family in EMBED_FAMILIES else "generate"

    @property
    def info(self) -> ModelInfo | None:
        """The model's catalog entry (None for a model the catalog does not know)."""
        return catalog().find(self.model)

    @classmethod
    def from_meta(
        cls, model_name_: str, meta: dict[str, Any], defaults: RequestModelDefaults | None = None
    ) -> BatchSettings:
        """The settings of request model ``model_name_``; ``RequestTableError`` names what to fix."""
        defaults = defaults or RequestModelDefaults()
        key = meta.get("key")
        if isinstance(key, str):
            key = [key]
        if not key:
            raise RequestTableError(
                f"request model {model_name_}: meta.vertex_batch.key is missing; "
                "name the column(s) that identify a request, e.g. {'key': ['review_id']}"
            )
        if "destination_dataset" in meta:
            raise RequestTableError(
                f"request model {model_name_}: meta.vertex_batch.destination_dataset is not supported: the landing "
                "table lives beside the request model (set the request model's schema to move it)"
            )
        given = {name: meta[name] for name in RequestModelDefaults.model_fields if meta.get(name) is not None}
        try:
            merged = RequestModelDefaults(**{**defaults.model_dump(), **given})
        except ValidationError as error:
            problem = error.errors()[0]
            raise RequestTableError(
                f"request model {model_name_}: meta.vertex_batch.{problem['loc'][0]}: {problem['msg']}"
            ) from error
        family = _family(model_name_, merged.model, meta)
        info = catalog().find(merged.model)
        documented = (info.max_rows_per_job if info else None) or FALLBACK_ROWS_PER_JOB
        limit = min(merged.max_rows_per_job or documented, documented)
        params = embedding_parameters(meta) if family in EMBED_FAMILIES else dict(meta.get("model_parameters") or {})
        return cls(
            key=tuple(key),
            model=merged.model,
            max_rows_per_job=limit,
            max_attempts=merged.max_attempts,
            input=merged.input,
            gcs_prefix=merged.gcs_prefix,
            location=merged.location,
            family=family,
            lane=merged.lane,
            flex_max_rows=merged.flex_max_rows,
            model_parameters=params or None,
        )


def _family(request_model: str, model: str, meta: dict[str, Any]) -> str:
    """The catalog's family of ``model``; ``meta.vertex_batch.family`` for a model the catalog does not know."""
    info = catalog().find(model)
    given = meta.get("family")
    if given is not None and given not in FAMILIES:
        raise RequestTableError(
            f"request model {request_model}: meta.vertex_batch.family must be one of {', '.join(FAMILIES)}, "
            f"not {given!r}"
        )
    if info is not None:
        if given is not None and given != info.family:
            raise RequestTableError(
                f"request model {request_model}: meta.vertex_batch.family is {given!r} but {info.id} is a "
                f"{info.family} model (leave family out: the model catalog knows it)"
            )
        return info.family
    if given is None:
        raise RequestTableError(
            f"request model {request_model}: model {model_name(model)!r} is not in the model catalog; use a model "
            "`vertex-batch models` lists, or set meta.vertex_batch.family for a model the catalog does not know"
        )
    return str(given)


def embedding_parameters(meta: dict[str, Any]) -> dict[str, Any]:
    """An embeddings request model's job ``modelParameters``: ``meta.vertex_batch.model_parameters`` with
    ``output_dimensionality`` → ``outputDimensionality`` and ``auto_truncate`` → ``autoTruncate`` over it."""
    params = dict(meta.get("model_parameters") or {})
    if meta.get("output_dimensionality") is not None:
        params["outputDimensionality"] = int(meta["output_dimensionality"])
    if meta.get("auto_truncate") is not None:
        params["autoTruncate"] = meta["auto_truncate"] in (True, "true", "True")
    return params


@dataclass(frozen=True)
class RequestModel:
    """One request model as the loop sees it: its dbt name, its table and its settings."""

    name: str
    table_id: str
    settings: BatchSettings
    alias: str = ""

    @property
    def landing_table(self) -> str:
        return landing_table(self.table_id)

    @property
    def ledger_table(self) -> str:
        return ledger_table(self.table_id)

    @property
    def label(self) -> str:
        return self.alias or self.table_id.rsplit(".", 1)[-1]

    @property
    def project(self) -> str:
        return self.table_id.split(".", 1)[0]


@dataclass(frozen=True)
class Pending:
    """Rows a request model still needs answered: how many, a fingerprint of exactly which, and a handle
    (``query``) the warehouse stages them from."""

    rows: int
    fingerprint: str
    request_bytes: int = 0
    query: str = ""


@dataclass(frozen=True)
class StagedInput:
    """One job's input and destination, ready to submit."""

    input_uri: str
    output_uri: str
    rows: int
    input_table: str
    output_table: str
    note: str = ""  # how the rows reach the job (e.g. "BigQuery input in us-central1"), for progress output


@dataclass(frozen=True)
class Landed:
    """What landing one job's output wrote to the landing table."""

    rows: int
    prompt_tokens: int = 0
    candidate_tokens: int = 0
    total_tokens: int = 0
    failures: tuple[tuple[str, int], ...] = field(default=())
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None  # exact cost of the output rows (``usage.job_usage``); None: unpriced


@dataclass(frozen=True)
class Estimate:
    """A cost estimate of rows before they are submitted."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    low_usd: float | None = None
    high_usd: float | None = None
    details: tuple[str, ...] = ()  # how it was estimated and what it assumes, for --dry-run
    priced: bool = True
