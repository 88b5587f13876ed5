"""Helpers for the local batch-service tests: a service process, HTTP calls, tables and objects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud import bigquery, storage

from vertex_batch.catalog import catalog

PROJECT = "local-project"
PROJECT_NUMBER = "100000000001"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
#: The states the documented polling loop stops on (PAUSED never happens locally).
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED"}
#: A Gemini model the shipped catalog serves in the tests' region, online (generateContent, countTokens) and
#: in batch.
ONLINE_MODEL = next(
    model.id for model in catalog().of_family("gemini") if model.status() == "available" and model.served_in(LOCATION)
)
BAD_ROLE_STATUS = (
    'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
    '"status": "INVALID_ARGUMENT"}}'
)


@dataclass
class ServiceProcess:
    """The local batch service run as a child process, as the stack runs it."""

    port: int
    state_dir: Path
    bigquery_url: str
    gcs_url: str
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.state_dir.parent / f"service-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable, "-m", "vertex_batch.local.service",
            "--host", "127.0.0.1", "--port", str(self.port), "--state-dir", str(self.state_dir),
            "--project", PROJECT, "--project-number", PROJECT_NUMBER,
            "--bigquery-endpoint", self.bigquery_url, "--gcs-endpoint", self.gcs_url,
            "--backend", "fake-fast-test", "--workers", "2", *self.extra_args,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "STORAGE_EMULATOR_HOST": self.gcs_url, **self.env}, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited: {self.log_path.read_text()[-3000:]}")
            try:
                if call("GET", f"{self.url}/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL at once, as a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    # -- API shortcuts -----------------------------------------------------------------------
    def jobs_url(self, version: str = "v1", project: str = PROJECT, location: str = LOCATION) -> str:
        return f"{self.url}/{version}/projects/{project}/locations/{location}/batchPredictionJobs"

    def create(self, body: dict[str, Any], version: str = "v1", location: str = LOCATION) -> tuple[int, dict[str, Any]]:
        return call("POST", self.jobs_url(version, location=location), body)

    def get(self, name: str, version: str = "v1") -> dict[str, Any]:
        status, body = call("GET", f"{self.url}/{version}/{name}")
        assert status == 200, body
        return body

    def wait(self, name: str, timeout: float = 60, states: set[str] = TERMINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(name)
            if job["state"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job still {job['state']}: {job}")
            time.sleep(0.1)

    def run(self, body: dict[str, Any], timeout: float = 60, location: str = LOCATION) -> dict[str, Any]:
        status, job = self.create(body, location=location)
        assert status == 200, job
        return self.wait(job["name"], timeout)


def call(
    method: str, url: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """One HTTP call; ``(status, JSON body)``."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def request_for(text: str, role: str = "user", **config: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"contents": [{"role": role, "parts": [{"text": text}]}]}
    if config:
        request["generationConfig"] = config
    return request


def make_table(
    client: bigquery.Client,
    dataset: str,
    rows: list[dict[str, Any]],
    schema: list[bigquery.SchemaField] | None = None,
    name: str | None = None,
) -> str:
    """A new input table (``bq://`` URI) holding ``rows``."""
    table_id = f"{PROJECT}.{dataset}.{name or unique('input')}"
    schema = schema or [bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("request", "JSON")]
    client.create_table(bigquery.Table(table_id, schema=schema))
    if rows:
        config = bigquery.LoadJobConfig(schema=schema, source_format="NEWLINE_DELIMITED_JSON")
        client.load_table_from_json(rows, table_id, job_config=config).result()
    return f"bq://{table_id}"


def bq_body(input_uri: str, output_uri: str, name: str = "job", **extra: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "model": "publishers/google/models/gemini-3.5-flash",
        "inputConfig": {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": input_uri}},
        "outputConfig": {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": output_uri}},
        **extra,
    }


def gcs_body(input_uri: str | list[str], output_prefix: str, name: str = "job", **extra: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "model": "publishers/google/models/gemini-3.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": input_uri}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": output_prefix}},
        **extra,
    }


def output_rows(client: bigquery.Client, job: dict[str, Any]) -> list[dict[str, Any]]:
    info = job["outputInfo"]
    table = f"{info['bigqueryOutputDataset'].removeprefix('bq://')}.{info['bigqueryOutputTable']}"
    return [dict(row) for row in client.list_rows(table)]


def upload_jsonl(client: storage.Client, bucket: str, name: str, lines: list[Any]) -> str:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    client.bucket(bucket).blob(name).upload_from_string(text)
    return f"gs://{bucket}/{name}"


def gcs_output_lines(client: storage.Client, job: dict[str, Any]) -> list[dict[str, Any]]:
    directory = job["outputInfo"]["gcsOutputDirectory"].removeprefix("gs://")
    bucket, _, prefix = directory.partition("/")
    text = client.bucket(bucket).blob(f"{prefix}/predictions.jsonl").download_as_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
