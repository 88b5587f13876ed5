"""The local stack's defaults, in one place: ``StackConfig`` (``stack``), the batch service's settings
(``service.config``) and the ``vertex-batch`` command's local flags read them here."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vertex_batch.connections import DEFAULT_LOCATION


class StackDefaults(BaseModel):
    """Where the local stack keeps its data, the project it plays, its ports, model backend and workers."""

    model_config = ConfigDict(frozen=True)

    state_dir: Path = Field(Path(".state/local"), description="where the local stack keeps its data")
    project: str = Field("local-project", description="project id the local stack plays")
    project_number: str = Field("100000000001", description="project number of the same project")
    location: str = Field(DEFAULT_LOCATION, description="Vertex AI region the runner uses against the stack")
    base_port: int = Field(
        9050, ge=1, le=65532, description="first of four ports: BigQuery, its gRPC, GCS, batch service"
    )
    backend: str = Field("smollm2", description="local model backend: smollm2 | fake-fast-test | openai")
    workers: int = Field(2, ge=1, description="batch jobs the local service runs at once")

    @property
    def ports(self) -> tuple[int, int, int, int]:
        """BigQuery, BigQuery gRPC, GCS and batch-service ports from ``base_port`` on."""
        return self.base_port, self.base_port + 1, self.base_port + 2, self.base_port + 3

    @property
    def vertex_port(self) -> int:
        return self.ports[3]


#: The batch service's own folder inside the stack's state folder.
SERVICE_FOLDER = "vertex"
STACK_DEFAULTS = StackDefaults()
