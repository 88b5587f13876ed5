"""Settings of the local batch-prediction service, in one model: where it keeps state, what it talks to, its
limits, its lanes and its faults.

Each setting comes from the command line (``python -m vertex_batch.local.service --chunk-rows 10``), else
the environment (``VERTEX_LOCAL_CHUNK_ROWS=10``), else the default below; the stack's defaults (state
folder, project, ports, backend, workers) come from ``vertex_batch.local.settings``. ``--help`` lists them
all with their descriptions.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vertex_batch.catalog import utc_today
from vertex_batch.local.settings import SERVICE_FOLDER, STACK_DEFAULTS, StackDefaults

ENV_PREFIX = "VERTEX_LOCAL_"
PROGRAM = "python -m vertex_batch.local.service"


_RATE = {"ge": 0.0, "le": 1.0}
#: Environment variables the emulators' clients read, the fallback of the service's endpoint settings.
EMULATOR_VARIABLES = {"bigquery_endpoint": "BIGQUERY_EMULATOR_HOST", "gcs_endpoint": "STORAGE_EMULATOR_HOST"}


class ServiceConfig(BaseSettings):
    """Settings of the local batch service: each flag, else its VERTEX_LOCAL_<NAME> environment variable,
    else the default shown."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        cli_prog_name=PROGRAM,
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_exit_on_error=True,
    )

    # -- where and who ---------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="address to bind (keep 127.0.0.1)")
    port: int = Field(STACK_DEFAULTS.vertex_port, ge=1, le=65535, description="port of the REST API")
    state_dir: Path = Field(
        STACK_DEFAULTS.state_dir / SERVICE_FOLDER, description="folder for the job store and input snapshots"
    )
    project: str = Field(STACK_DEFAULTS.project, description="project id of the local project")
    project_number: str = Field(STACK_DEFAULTS.project_number, description="project number of the same project")
    bigquery_endpoint: str | None = Field(
        None, description="BigQuery API endpoint, e.g. http://127.0.0.1:9050 (if unset: $BIGQUERY_EMULATOR_HOST)"
    )
    gcs_endpoint: str | None = Field(
        None, description="Cloud Storage endpoint, e.g. http://127.0.0.1:9052 (if unset: $STORAGE_EMULATOR_HOST)"
    )
    log_level: str = Field("INFO", description="logging level of the service")
    today: date | None = Field(
        None,
        description="the date the catalog's lifecycle rules (retirement, blocked new access) use, YYYY-MM-DD; "
        "default: the UTC date (for tests)",
    )

    # -- model backend ---------------------------------------------------------------------------
    backend: str = Field(STACK_DEFAULTS.backend, description=StackDefaults.model_fields["backend"].description)
    backend_option: dict[str, Any] = Field(
        {},
        description="option for the backend's constructor, KEY=VALUE (a JSON value or text); repeatable",
    )
    model_batch_size: int = Field(16, ge=1, description="prompts handed to the backend in one generate call")
    default_max_output_tokens: int = Field(256, ge=1, description="maxOutputTokens of requests that set none")

    # -- batch jobs ------------------------------------------------------------------------------
    workers: int = Field(STACK_DEFAULTS.workers, ge=1, description=StackDefaults.model_fields["workers"].description)
    chunk_rows: int = Field(64, ge=1, description="output rows written in one atomic write (load job or compose)")
    chunk_seconds: float = Field(5.0, gt=0, description="pending output rows are written at least this often")
    queue_delay_s: float = Field(
        0.0,
        ge=0,
        description="seconds a new batch job stays PENDING after its create time before a worker may start it "
        "(production jobs wait in a shared queue)",
    )
    queue_timeout_s: float = Field(
        72 * 3600.0, gt=0, description="a job PENDING longer ends FAILED with code 4 (Vertex AI: 72 h)"
    )
    run_timeout_s: float = Field(
        24 * 3600.0,
        gt=0,
        description="a job RUNNING longer ends FAILED with code 4, keeping its completed rows (Vertex AI: 24 h)",
    )
    max_requests_per_job: int = Field(200_000, ge=1, description="requests one batch job may hold")
    keep_input_order: bool = Field(
        False,
        description="debugging: write output rows in input order (default: shuffled per chunk, as Vertex AI)",
    )

    # -- online generateContent ------------------------------------------------------------------
    online_concurrency: int = Field(
        4,
        ge=1,
        description="generateContent calls answered at once; later ones wait for a free slot until their "
        "deadline (X-Server-Timeout, else 10 min; Flex 20 min, at most 30), then 504 DEADLINE_EXCEEDED",
    )
    flex_throttle_rate: float = Field(
        0.0, **_RATE, description="share of Flex PayGo calls answered 429 RESOURCE_EXHAUSTED (Flex is throttled more)"
    )

    # -- faults (off by default; fault_seed makes them reproducible) ----------------------------
    fault_api_error_rate: float = Field(0.0, **_RATE, description="share of API calls answered 429 or 503")
    fault_row_error_rate: float = Field(
        0.0, **_RATE, description="share of rows failed with a retryable 429/503/500 status"
    )
    fault_row_delay_s: float = Field(0.0, ge=0, description="extra seconds spent on each row and online call")
    fault_create_lost_reply_rate: float = Field(
        0.0,
        **_RATE,
        description="share of batch creates that create the job, then answer 503 as if the reply were lost",
    )
    fault_seed: int | None = Field(None, description="seed for reproducible faults and Flex throttling")

    @model_validator(mode="before")
    @classmethod
    def _emulator_hosts(cls, values: Any) -> Any:
        """Unset endpoints fall back to the emulators' own variables, as their client libraries do."""
        if isinstance(values, dict):
            for name, variable in EMULATOR_VARIABLES.items():
                if values.get(name) is None and os.environ.get(variable):
                    values = {**values, name: os.environ[variable]}
        return values

    @field_validator("backend_option", mode="after")
    @classmethod
    def _option_values(cls, options: dict[str, Any]) -> dict[str, Any]:
        """``n-ctx=512`` becomes ``{"n_ctx": 512}``: keys as Python names, values JSON where they parse."""
        parsed: dict[str, Any] = {}
        for key, value in options.items():
            if isinstance(value, str):
                with contextlib.suppress(json.JSONDecodeError):
                    value = json.loads(value)
            parsed[key.replace("-", "_")] = value
        return parsed

    def lifecycle_today(self) -> date:
        """The date the service applies the catalog's lifecycle on: ``today`` if set, else the UTC date."""
        return self.today or utc_today()

    def is_project(self, project: str) -> bool:
        """Whether ``project`` (an id or a number) names the service's own project."""
        return project in (self.project, self.project_number)

    def canonical_project(self, project: str) -> str:
        """The project number for the service's own project; any other project keeps its given name."""
        return self.project_number if self.is_project(project) else project


def settings_from_command_line(argv: list[str]) -> ServiceConfig:
    """The settings for ``argv`` (flags), the environment and the defaults; argparse exits on a bad flag."""
    return ServiceConfig(_cli_parse_args=argv)  # type: ignore[call-arg]
