"""Settings of the local batch-prediction service: where it keeps state, what it talks to, its limits.

Which models it serves is the model catalog's business (``served_models``), not a setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection, off by default: failed API calls, failed rows and slow rows."""

    api_error_rate: float = 0.0
    row_error_rate: float = 0.0
    row_delay_s: float = 0.0
    seed: int | None = None

    @property
    def enabled(self) -> bool:
        return self.api_error_rate > 0 or self.row_error_rate > 0 or self.row_delay_s > 0


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs to run; built from the command line by ``__main__``."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 9070
    project: str = "local-project"
    project_number: str = "100000000001"
    bigquery_endpoint: str | None = None
    gcs_endpoint: str | None = None
    backend: str = "fake-fast-test"
    backend_options: dict[str, object] = field(default_factory=dict)
    workers: int = 2
    #: Prompts handed to the backend in one ``generate`` call.
    model_batch_size: int = 16
    #: Output rows written in one atomic write (one load job or one object compose).
    chunk_rows: int = 64
    #: Pending output rows are written at least this often while a job runs.
    chunk_seconds: float = 5.0
    #: A job still PENDING after this long ends FAILED with code 4 (Vertex: 72 h).
    queue_timeout_s: float = 72 * 3600.0
    #: A job RUNNING this long after it started ends FAILED with code 4, keeping its completed rows
    #: (Vertex: 24 h).
    run_timeout_s: float = 24 * 3600.0
    max_requests_per_job: int = 200_000
    #: Write output rows in input order (a debugging aid); off, each chunk is shuffled as Vertex AI
    #: returns rows in no particular order.
    keep_input_order: bool = False
    #: ``maxOutputTokens`` used when a request does not set one.
    default_max_output_tokens: int = 256
    faults: FaultConfig = field(default_factory=FaultConfig)

    def is_project(self, project: str) -> bool:
        """Whether ``project`` (an id or a number) names the service's own project."""
        return project in (self.project, self.project_number)

    def canonical_project(self, project: str) -> str:
        """The project number for the service's own project; any other project keeps its given name."""
        return self.project_number if self.is_project(project) else project
