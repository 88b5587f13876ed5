"""Start, stop and inspect the local stack: BigQuery emulator, GCS emulator and the local batch service.

Each server runs as its own process bound to 127.0.0.1, with its data under one state folder, so jobs,
tables and objects survive a restart. ``stack.json`` in that folder records ports and process ids.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vertex_batch.local.settings import SERVICE_FOLDER, STACK_DEFAULTS

if TYPE_CHECKING:
    from vertex_batch.connections import Connections
    from vertex_batch.warehouse import Warehouse

HOST = "127.0.0.1"


class StackError(RuntimeError):
    """A local server could not be started or reached."""


@dataclass(frozen=True)
class StackConfig:
    """Where the local stack keeps its data and which ports it listens on (defaults: ``STACK_DEFAULTS``).
    ``service_args`` are more flags of the batch service (``python -m vertex_batch.local.service --help``)."""

    state_dir: Path = STACK_DEFAULTS.state_dir
    project: str = STACK_DEFAULTS.project
    project_number: str = STACK_DEFAULTS.project_number
    location: str = STACK_DEFAULTS.location
    bigquery_port: int = STACK_DEFAULTS.ports[0]
    bigquery_grpc_port: int = STACK_DEFAULTS.ports[1]
    gcs_port: int = STACK_DEFAULTS.ports[2]
    vertex_port: int = STACK_DEFAULTS.ports[3]
    backend: str = STACK_DEFAULTS.backend
    workers: int = STACK_DEFAULTS.workers
    service_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bigquery_url(self) -> str:
        return f"http://{HOST}:{self.bigquery_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://{HOST}:{self.gcs_port}"

    @property
    def vertex_url(self) -> str:
        return f"http://{HOST}:{self.vertex_port}"

    def client_env(self, dataset: str = "vertex_batch_demo") -> dict[str, str]:
        """Environment that points dbt (profiles/profiles.yml), the runner and the SDKs at this stack."""
        return {
            "VERTEX_BATCH_PROJECT": self.project,
            "VERTEX_BATCH_DATASET": dataset,
            "VERTEX_BATCH_LOCATION": self.location,
            "VERTEX_BATCH_BIGQUERY_ENDPOINT": self.bigquery_url,
            "VERTEX_BATCH_API_ENDPOINT": self.vertex_url,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
        }

    def connections(self) -> Connections:
        """The runner's connections for this stack (same clients as production, local endpoints)."""
        from vertex_batch.connections import Connections

        return Connections(
            project=self.project,
            location=self.location,
            bigquery_endpoint=self.bigquery_url,
            vertex_endpoint=self.vertex_url,
        )

    @classmethod
    def with_free_ports(cls, state_dir: Path, **overrides: object) -> StackConfig:
        """A config on ports nobody listens on (for tests that run beside a developer's stack)."""
        ports = free_ports(4)
        return cls(
            state_dir=state_dir,
            bigquery_port=ports[0],
            bigquery_grpc_port=ports[1],
            gcs_port=ports[2],
            vertex_port=ports[3],
            **overrides,  # type: ignore[arg-type]
        )


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that are free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class ServerSpec:
    """One server of the stack: how to start it and how to know it is ready."""

    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str]


def server_specs(config: StackConfig) -> list[ServerSpec]:
    """The three servers, in start order (the batch service needs the other two)."""
    state = config.state_dir.resolve()
    python = sys.executable
    base_env = {
        "STORAGE_EMULATOR_HOST": config.gcs_url,
        **config.env,
    }
    return [
        ServerSpec(
            name="bigquery",
            command=[
                python,
                "-m",
                "vertex_batch.local.bigquery_emulator",
                "serve",
                "--host",
                HOST,
                "--port",
                str(config.bigquery_port),
                "--grpc-port",
                str(config.bigquery_grpc_port),
                "--project",
                config.project,
                "--data-dir",
                str(state / "bigquery"),
            ],
            ready_url=f"{config.bigquery_url}/bigquery/v2/projects/{config.project}/datasets",
            env=base_env,
        ),
        ServerSpec(
            name="gcs",
            command=[
                python,
                "-m",
                "gcp_storage_emulator",
                "--data-dir",
                str(state / "gcs"),
                "start",
                "--host",
                HOST,
                "--port",
                str(config.gcs_port),
                "--quiet",
            ],
            ready_url=f"{config.gcs_url}/storage/v1/b?project={config.project}",
            env=base_env,
        ),
        ServerSpec(
            name="vertex",
            command=[
                python,
                "-m",
                "vertex_batch.local.service",
                "--host",
                HOST,
                "--port",
                str(config.vertex_port),
                "--state-dir",
                str(state / SERVICE_FOLDER),
                "--project",
                config.project,
                "--project-number",
                config.project_number,
                "--bigquery-endpoint",
                config.bigquery_url,
                "--gcs-endpoint",
                config.gcs_url,
                "--backend",
                config.backend,
                "--workers",
                str(config.workers),
                *config.service_args,
            ],
            ready_url=f"{config.vertex_url}/healthz",
            env=base_env,
        ),
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStack:
    """The local stack of one state folder: ``up``, ``down``, ``status``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir

    @property
    def record_path(self) -> Path:
        return self.state_dir / "stack.json"

    def _record(self) -> dict[str, object]:
        if not self.record_path.exists():
            return {}
        return json.loads(self.record_path.read_text())

    def _save(self, pids: dict[str, int]) -> None:
        self.record_path.write_text(
            json.dumps(
                {"config": asdict(self.config) | {"state_dir": str(self.state_dir)}, "pids": pids},
                indent=2,
                default=str,
            )
        )

    def status(self) -> dict[str, str]:
        """``{server: "running (pid N) url" | "stopped"}`` for each server of this state folder."""
        pids = self._record().get("pids", {})
        result = {}
        for spec in server_specs(self.config):
            pid = pids.get(spec.name) if isinstance(pids, dict) else None
            if pid and _alive(int(pid)) and _answers(spec.ready_url):
                result[spec.name] = f"running (pid {pid}) {spec.ready_url.split('/', 3)[2]}"
            else:
                result[spec.name] = "stopped"
        return result

    def up(self, timeout: float = 120.0, only: tuple[str, ...] = ()) -> None:
        """Start every server (or those named in ``only``) not already running; wait until each answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        pids: dict[str, int] = dict(self._record().get("pids", {}) or {})  # type: ignore[arg-type]
        started: list[tuple[ServerSpec, subprocess.Popen]] = []
        for spec in server_specs(self.config):
            if only and spec.name not in only:
                continue
            pid = pids.get(spec.name)
            if pid and _alive(pid) and _answers(spec.ready_url):
                continue
            if _answers(spec.ready_url):
                raise StackError(
                    f"port of the {spec.name} server is taken by another process ({spec.ready_url}); "
                    "stop it or choose other ports"
                )
            log = open(logs / f"{spec.name}.log", "ab")  # noqa: SIM115 - handed to the child process
            process = subprocess.Popen(
                spec.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **spec.env},
                start_new_session=True,
            )
            pids[spec.name] = process.pid
            self._save(pids)
            started.append((spec, process))
        # The servers start side by side (none needs another to start); then each must answer.
        for spec, process in started:
            self._wait_ready(spec, process, timeout, logs / f"{spec.name}.log")

    @staticmethod
    def _wait_ready(spec: ServerSpec, process: subprocess.Popen, timeout: float, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise StackError(f"the {spec.name} server exited with code {process.returncode}:\n{tail}")
            if _answers(spec.ready_url):
                return
            time.sleep(0.2)
        process.kill()
        raise StackError(f"the {spec.name} server did not answer {spec.ready_url} within {timeout:.0f} s")

    def down(self, timeout: float = 15.0) -> None:
        """Stop every server of this state folder (SIGTERM, then SIGKILL)."""
        pids = dict(self._record().get("pids", {}) or {})  # type: ignore[arg-type]
        for name in reversed([spec.name for spec in server_specs(self.config)]):
            pid = pids.pop(name, None)
            if pid:
                stop_process_group(int(pid), timeout)
        if self.record_path.exists():
            self._save(pids)


@dataclass
class LocalDataset:
    """One dataset on a running local stack: its clients and table names (for tests and benchmarks)."""

    stack: LocalStack
    dataset: str

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    @property
    def variables(self) -> dict[str, str]:
        """Environment that points dbt, the runner and the SDKs at this stack and dataset."""
        return self.config.client_env(self.dataset)

    @property
    def connections(self) -> Connections:
        return self.config.connections()

    @property
    def warehouse(self) -> Warehouse:
        from vertex_batch.warehouse import Warehouse

        return Warehouse(self.connections.bigquery_client())

    def table(self, name: str) -> str:
        """``project.dataset.name`` in this dataset."""
        return f"{self.config.project}.{self.dataset}.{name}"


def stop_process_group(pid: int, timeout: float) -> None:
    """Terminate a process group started with ``start_new_session`` and wait for it to go."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if timeout == 0 and sig == signal.SIGTERM:
            continue
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                waited, _ = os.waitpid(pid, os.WNOHANG)
                if waited == pid:
                    return
            except ChildProcessError:
                if not _alive(pid):
                    return
            time.sleep(0.1)
