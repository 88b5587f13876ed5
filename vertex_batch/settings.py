"""Defaults, in one place: the CLI's help, a request model's ``meta.vertex_batch`` defaults and the docs read them here.

Precedence for a request model's settings: ``meta.vertex_batch.<name>`` > dbt var ``vertex_batch_<name>``
(``--vars`` or the root project's ``vars:``) > the default below. No environment layer: the dbt macros read
the same meta and vars (``var('vertex_batch_model', <default>)``), so both sides see the same model.
Run settings (polling, backoff, concurrency) come from CLI flags > ``VERTEX_BATCH_<NAME>`` > the default below.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vertex_batch.catalog import catalog
from vertex_batch.errors import ConfigurationError

VAR_PREFIX = "vertex_batch_"
ENV_PREFIX = "VERTEX_BATCH_"
#: Rows per job for a model whose catalog entry documents no limit (Claude, open models): Gemini's documented limit.
FALLBACK_ROWS_PER_JOB = 200_000
#: dbt var holding the run's default USD budget when ``--max-cost`` is not given.
MAX_COST_VAR = VAR_PREFIX + "max_cost"


class RequestModelDefaults(BaseModel):
    """Defaults of the ``meta.vertex_batch`` keys of a request model (each also a dbt var ``vertex_batch_<key>``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(
        default_factory=lambda: catalog().default_model,
        description="model of the batch jobs (`vertex-batch models` lists them)",
    )
    max_rows_per_job: int | None = Field(
        None,
        ge=1,
        description="rows per batch job (default and cap: the model's own limit in the model catalog, else 200000)",
    )
    max_attempts: int = Field(
        3, ge=1, description="attempts of a row whose error is retryable (429, 500, 503, 504 and their status names)"
    )
    input: Literal["bigquery", "gcs"] = Field(
        "bigquery", description="how requests reach the job: bigquery (a table) or gcs (JSONL files)"
    )
    gcs_prefix: str | None = Field(
        None,
        description="gs://bucket/folder for JSONL inputs and outputs (default gs://<project>-vb-<region>/vertex-batch)",
    )
    location: str | None = Field(
        None, description="Vertex AI region of the batch jobs (default: from the dataset location, US -> us-central1)"
    )
    lane: Literal["auto", "batch", "flex", "online"] = Field(
        "auto",
        description="how pending rows are answered: batch (jobs), flex (Flex PayGo calls at the batch price, global "
        "endpoint), online (standard-price calls, opt-in only) or auto (flex when the pending rows are at most "
        "flex_max_rows and the model catalog gives the model Flex, else batch)",
    )
    flex_max_rows: int = Field(
        500,
        ge=0,
        description="lane auto: the most pending rows sent to Flex. Measured: 16 calls at a time with 10% throttled "
        "answer 0.62 of 16 rows per call time, so 500 rows take ~8.5 min at 10 s a call, under the ~10 min a small "
        "batch job queues at best (benchmarks/README.md, small deltas)",
    )

    @classmethod
    def from_vars(cls, dbt_vars: dict[str, Any] | None = None) -> RequestModelDefaults:
        """The defaults with dbt vars ``vertex_batch_<name>`` applied."""
        given = {
            name: (dbt_vars or {})[VAR_PREFIX + name]
            for name in cls.model_fields
            if (dbt_vars or {}).get(VAR_PREFIX + name) is not None
        }
        try:
            return cls(**given)
        except ValidationError as error:
            problem = error.errors()[0]
            name = VAR_PREFIX + str(problem["loc"][0])
            raise ConfigurationError(f"var {name}: {problem['msg']} (see `vertex-batch build --help`)") from error


class RunSettings(BaseSettings):
    """How the runner watches jobs; ``None`` means: pick the local or cloud value."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    max_concurrent_jobs: int = Field(4, ge=1, description="jobs in flight at once")
    online_concurrency: int = Field(
        16, ge=1, description="Flex and online calls in flight at once (each backs off on 429 and 503)"
    )
    lane: Literal["auto", "batch", "flex", "online"] | None = Field(
        None, description="lane of every request model of the run, over meta.vertex_batch.lane (e.g. batch)"
    )
    poll_seconds: float | None = Field(None, gt=0, description="seconds between job polls (1 local, 30 cloud)")
    retry_backoff_seconds: float | None = Field(
        None,
        ge=0,
        description="seconds before the first retry of retryable rows, doubled each attempt (2 local, 60 cloud)",
    )

    lease_seconds: float = Field(
        120.0,
        ge=5,
        description="seconds a run's lease on its request models lasts unless renewed (renewed every quarter of "
        "it while a command works; after a crash, the next command takes over once it expires)",
    )

    def poll(self, local: bool) -> float:
        return self.poll_seconds if self.poll_seconds is not None else (1.0 if local else 30.0)

    def backoff(self, local: bool) -> float:
        if self.retry_backoff_seconds is not None:
            return self.retry_backoff_seconds
        return 2.0 if local else 60.0


def describe(settings: type[BaseModel], name: str) -> str:
    """``<description> (default <value>)`` for CLI help and docs."""
    field = settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    return field.description if default is None else f"{field.description} (default {default})"
