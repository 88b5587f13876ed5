"""Cloud Storage input and output of batch jobs, through google-cloud-storage (the GCS emulator locally).

Input: JSONL files named by ``gs://`` URIs (``*`` matches within a path segment, ``**`` across segments).
Output: ``{prefix}/prediction-model-{createTime}/predictions.jsonl``. The first chunk creates the object;
each later chunk is staged under ``.vertex-batch-staging/`` (outside the output directory) and composed onto
its end, so the directory only ever holds whole chunks and the line count tells a restarted job where to
resume.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from vertex_batch.local.service.errors import InputError, JobFailure, bucket_missing
from vertex_batch.local.service.jsonl_import import InferredSchema

MAX_TEXT_FILE_BYTES = 1_000_000
#: Keys of an output line that an input line's own keys may not overwrite.
OUTPUT_KEYS = ("request", "response", "status", "processed_time")
#: Chunks wait here before they are composed onto the output: outside every output directory, so a
#: reader listing ``outputInfo.gcsOutputDirectory`` only ever sees whole prediction files.
STAGING_PREFIX = ".vertex-batch-staging"


@dataclass(frozen=True)
class GcsPath:
    """A parsed ``gs://bucket/name``."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}" if self.name else f"gs://{self.bucket}"


def parse_uri(uri: str) -> GcsPath:
    """Parse ``gs://bucket[/name]``; raises ``ValueError`` if malformed."""
    match = re.fullmatch(r"gs://([a-z0-9][a-z0-9._\-]*[a-z0-9])(?:/(.*))?", uri.strip())
    if not match:
        raise ValueError(f"{uri!r} is not a Cloud Storage URI like gs://bucket/path/file.jsonl")
    return GcsPath(match.group(1), match.group(2) or "")


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for piece in re.split(r"(\*\*|\*|\?)", pattern):
        out.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(piece, re.escape(piece)))
    return re.compile("".join(out))


def _bigquery_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    return "STRING" if isinstance(value, str) else "JSON"


def output_directory(prefix: str, create_time: str) -> GcsPath:
    """Where a job's predictions go: ``{prefix}/prediction-model-{createTime}``."""
    base = parse_uri(prefix)
    name = f"{base.name.rstrip('/')}/" if base.name.rstrip("/") else ""
    return GcsPath(base.bucket, f"{name}prediction-model-{create_time}")


def _staging(directory: GcsPath) -> str:
    """The staging folder (in the output bucket) of one output directory."""
    return f"{STAGING_PREFIX}/{directory.name}"


class GcsIO:
    """Reads JSONL input and writes JSONL output of batch jobs."""

    def __init__(self, endpoint: str | None, project: str) -> None:
        if endpoint:
            self.client = storage.Client(
                project, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
            )
        else:
            self.client = storage.Client(project)

    # -- input ---------------------------------------------------------------------------------
    def expand(self, uris: list[str]) -> list[GcsPath]:
        """The objects the URIs name, wildcards expanded; raises ``InputError`` if one matches nothing and
        ``DestinationError`` (code 9) if a bucket does not exist."""
        found: list[GcsPath] = []
        paths = []
        for uri in uris:
            try:
                paths.append(parse_uri(uri))
            except ValueError as err:
                raise InputError(str(err)) from None
        for bucket in dict.fromkeys(path.bucket for path in paths):
            if not self.bucket_exists(bucket):
                raise bucket_missing(bucket)
        for uri, path in zip(uris, paths, strict=True):
            if not any(ch in path.name for ch in "*?"):
                found.append(path)
                continue
            prefix = re.split(r"[*?]", path.name, maxsplit=1)[0]
            regex = _wildcard_regex(path.name)
            try:
                names = sorted(
                    blob.name
                    for blob in self.client.list_blobs(path.bucket, prefix=prefix)
                    if regex.fullmatch(blob.name)
                )
            except NotFound:
                raise bucket_missing(path.bucket) from None
            if not names:
                raise InputError(f"No files match {uri}.")
            found.extend(GcsPath(path.bucket, name) for name in names)
        return found

    def _data(self, path: GcsPath) -> bytes:
        try:
            return self.client.bucket(path.bucket).blob(path.name).download_as_bytes()
        except NotFound:
            raise InputError(f"The input file {path.uri} was not found.") from None

    @staticmethod
    def _text_lines(path: GcsPath, data: bytes) -> list[str]:
        try:
            return data.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise InputError(f"The input file {path.uri} is not UTF-8 text.") from None

    def _lines(self, path: GcsPath) -> list[str]:
        return self._text_lines(path, self._data(path))

    def count_rows(self, uris: list[str]) -> int | None:
        """Non-blank lines in the input files, or ``None`` when they cannot be read."""
        try:
            return sum(1 for path in self.expand(uris) for line in self._lines(path) if line.strip())
        except JobFailure:
            return None

    def read_rows(self, uris: list[str], max_bytes: int | None = None) -> Iterator[dict[str, Any]]:
        """Every JSONL line of the input as a dict; raises ``InputError`` on a malformed line, an input over
        ``max_bytes`` (the model's per-job limit) or an input that Vertex AI's import refuses as a whole (see
        ``jsonl_import``)."""
        paths = self.expand(uris)
        schema = InferredSchema()
        total = 0
        for path in paths:
            data = self._data(path)
            total += len(data)
            if max_bytes is not None and total > max_bytes:
                raise InputError(
                    f"The input files hold more than {max_bytes} bytes, the limit of one batch job's input."
                )
            for number, line in enumerate(self._text_lines(path, data), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputError(f"Line {number} of {path.uri} is not valid JSON: {err.msg}.") from None
                if not isinstance(row, dict):
                    raise InputError(f"Line {number} of {path.uri} is not a JSON object.")
                schema.add(row, f"Line {number} of {path.uri}")
                yield row
        schema.finish()

    @staticmethod
    def infer_columns(
        rows: list[dict[str, Any]], first: str | None = "request", skip: tuple[str, ...] = OUTPUT_KEYS[1:]
    ) -> list[dict[str, str]]:
        """BigQuery columns for JSONL rows (for BigQuery output): the request key ``first`` as JSON, then one
        column per other key (but ``skip``) in order of first appearance, typed from its values (JSON when
        they disagree)."""
        kinds: dict[str, set[str]] = {first: {"JSON"}} if first else {}
        for row in rows:
            for key, value in row.items():
                if key in skip:
                    continue
                seen = kinds.setdefault(key, set())
                if value is not None and key != first:
                    seen.add(_bigquery_type(value))
        columns = []
        for key, seen in kinds.items():
            if seen == {"INT64", "FLOAT64"}:
                seen = {"FLOAT64"}
            kind = "STRING" if not seen else next(iter(seen)) if len(seen) == 1 else "JSON"
            columns.append({"name": key, "type": kind, "mode": "NULLABLE"})
        return columns

    def read_text(self, uri: str) -> str:
        """A small text object (a ``text/plain`` ``fileData`` part)."""
        path = parse_uri(uri)
        blob = self.client.bucket(path.bucket).get_blob(path.name)
        if blob is None:
            raise FileNotFoundError(f"{uri} does not exist")
        if (blob.size or 0) > MAX_TEXT_FILE_BYTES:
            raise ValueError(f"{uri} is larger than {MAX_TEXT_FILE_BYTES} bytes")
        return blob.download_as_bytes().decode("utf-8")

    def bucket_exists(self, bucket: str) -> bool:
        return self.client.lookup_bucket(bucket) is not None

    # -- output --------------------------------------------------------------------------------
    def output_counts(
        self, directory: GcsPath, line_ok: Callable[[dict[str, Any]], bool] = lambda line: line.get("status") == ""
    ) -> tuple[int, int]:
        """``(rows, successful rows)`` already in ``predictions.jsonl`` (``line_ok`` tells a successful line);
        removes leftover staged chunks."""
        bucket = self.client.bucket(directory.bucket)
        for blob in self.client.list_blobs(directory.bucket, prefix=f"{_staging(directory)}/"):
            blob.delete()
        blob = bucket.blob(f"{directory.name}/predictions.jsonl")
        try:
            text = blob.download_as_bytes().decode("utf-8")
        except NotFound:
            return 0, 0
        rows = ok = 0
        for line in text.splitlines():
            if line.strip():
                rows += 1
                ok += line_ok(json.loads(line))
        return rows, ok

    def append(self, directory: GcsPath, rows: list[dict[str, Any]], chunk_number: int) -> None:
        """Append rows to ``predictions.jsonl`` in one step (create, or upload a chunk and compose)."""
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
        bucket = self.client.bucket(directory.bucket)
        target = bucket.blob(f"{directory.name}/predictions.jsonl")
        if not target.exists():
            target.upload_from_string(data, content_type="application/jsonl")
            return
        chunk = bucket.blob(f"{_staging(directory)}/chunk-{chunk_number}")
        chunk.upload_from_string(data, content_type="application/jsonl")
        target.content_type = "application/jsonl"
        target.compose([target, chunk])
        chunk.delete()
