"""Runs batch jobs on a pool of worker threads (``--workers`` jobs at once).

A job goes PENDING → RUNNING → a terminal state. When it starts, its input is copied to a snapshot; its
rows then go through its model family (``families.family_for``: how rows are read, answered and written) in
batches of ``model_batch_size`` and are written in chunks, each chunk one atomic write (a transient write
failure is retried with ``google.api_core.retry.Retry``, checking first whether the chunk landed), its rows
shuffled (Vertex AI returns rows in no particular order; the service's
``keep_input_order`` setting keeps input order for debugging). A restarted service resumes a RUNNING job
after the rows already in its output, so every input row appears in the output exactly once.

Progress: ``completionStats`` counts rows as chunks are written for Cloud Storage output; for BigQuery
output it appears only when the job ends, since Vertex AI does not support "live progress" for BigQuery
jobs (the rule lives in ``JobRecord.live_progress``).

Terminal states, as Vertex AI ends Gemini batch jobs:
- SUCCEEDED: every row was processed. Rows that failed carry their error in ``status`` and are counted
  in ``completionStats.failedCount``; a job whose rows all failed still SUCCEEDS. One bad row never
  fails a job.
- FAILED: a job-level failure, no rows answered: the input could not be imported (``error.code`` 3,
  ``Failed to import data. …``), a bucket or dataset is missing (code 9), access was denied (code 7),
  or the service itself failed (code 13).
- CANCELLED: cancelled by the user (``error`` ``{"code": 1, "message": "CANCELED"}``); rows completed
  before the cancel are kept in the output and counted in ``completionStats``.
- Time limits end FAILED with code 4 (DEADLINE_EXCEEDED): a job queued longer than ``queue_timeout_s``
  (Vertex: 72 h) or running longer than ``run_timeout_s`` (Vertex: 24 h). Vertex documents that such jobs
  stop and keep their completed rows, but not the state they end in; its EXPIRED state is not one that
  the official clients treat as finished (aiplatform ``_JOB_COMPLETE_STATES``, vertexai ``has_ended``,
  google-genai ``JOB_STATES_ENDED_VERTEX``), so their waits would never return. FAILED is finished for
  all of them; the completed rows stay in the output and in ``completionStats`` (``incompleteCount``
  counts the rest).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import Forbidden
from google.api_core.retry import Retry

from vertex_batch.local.service import embeddings, snapshot
from vertex_batch.local.service.bigquery_io import BigQueryIO
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import AccessDenied, InputError, JobFailure
from vertex_batch.local.service.families import family_for
from vertex_batch.local.service.family import Family, stop_pause
from vertex_batch.local.service.faults import Faults
from vertex_batch.local.service.gcs_io import GcsIO
from vertex_batch.local.service.model_host import BackendUnavailable, ModelHost
from vertex_batch.local.service.outputs import Output, plan_output
from vertex_batch.local.service.queue_hold import hold_pending
from vertex_batch.local.service.served_models import request_limit
from vertex_batch.local.service.store import (
    CANCELLED,
    CANCELLING,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    JobRecord,
    JobStore,
    now_us,
)

log = logging.getLogger(__name__)

CANCELED_ERROR = {"code": 1, "message": "CANCELED"}
#: ``google.rpc.Code`` DEADLINE_EXCEEDED: the job hit a time limit.
DEADLINE_EXCEEDED = 4
#: How long a chunk's write is retried (0.5 s, 1 s, 2 s ... between attempts) before the job fails.
WRITE_RETRY_SECONDS = 30.0
#: Rows written at once at most (unless the output needs bigger chunks to stay linear).
MAX_CHUNK_ROWS = 5000


class _Stopped(Exception):
    """The service is shutting down; the job stays RUNNING and resumes after a restart."""


class Executor:
    """The worker pool and the per-job loop."""

    def __init__(self, config: ServiceConfig, store: JobStore, models: ModelHost, faults: Faults) -> None:
        self.config = config
        self.store = store
        self.models = models
        self.embedders = embeddings.EmbeddingHost(models.name, models.options)
        self.faults = faults
        self.stop_event = threading.Event()
        self._queue: queue.Queue[str] = queue.Queue()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._bigquery: BigQueryIO | None = None
        self._gcs: GcsIO | None = None

    # -- clients -------------------------------------------------------------------------------
    def bigquery(self) -> BigQueryIO:
        with self._lock:
            if self._bigquery is None:
                self._bigquery = BigQueryIO(self.config.bigquery_endpoint, self.config.project)
            return self._bigquery

    def gcs(self) -> GcsIO:
        with self._lock:
            if self._gcs is None:
                self._gcs = GcsIO(self.config.gcs_endpoint, self.config.project)
            return self._gcs

    # -- pool ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and the expiry sweeper; pick up jobs left unfinished by a previous run."""
        for number in range(max(1, self.config.workers)):
            thread = threading.Thread(target=self._work, name=f"job-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="job-sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)
        for job in self.store.in_states([RUNNING, CANCELLING]) + self.store.in_states([PENDING]):
            self.submit(job.id)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask workers to stop after their current batch (flushing completed rows) and wait for them."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def submit(self, job_id: str) -> None:
        """Queue a job (once) for the next free worker."""
        with self._lock:
            if job_id in self._active:
                return
            self._active.add(job_id)
        self._queue.put(job_id)

    def _work(self) -> None:
        while not self.stop_event.is_set():
            try:
                job_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.run_job(job_id)
            except Exception:
                log.exception("job %s crashed its worker", job_id)
            finally:
                with self._lock:
                    self._active.discard(job_id)

    def _sweep(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                self.expire_queued()
            except Exception:
                log.exception("expiry sweep failed")

    def expire_queued(self) -> None:
        """Expire PENDING jobs that have waited longer than ``queue_timeout_s``."""
        limit_us = int(self.config.queue_timeout_s * 1_000_000)
        for job in self.store.in_states([PENDING]):
            if now_us() - job.create_us > limit_us:
                stamp = now_us()
                self.store.update(
                    job.id,
                    only_from=[PENDING],
                    state=FAILED,
                    end_us=stamp,
                    error={
                        "code": DEADLINE_EXCEEDED,
                        "message": f"The job waited in the queue for more than "
                        f"{self.config.queue_timeout_s:g} s and expired before it started.",
                    },
                )

    # -- one job -------------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        """Run (or resume) one job to a terminal state, unless the service stops first."""
        job = self.store.get(job_id)
        if job is None or job.terminal:
            return
        if job.state == PENDING:
            if (job := hold_pending(job, self.config.queue_delay_s, self.store, self.stop_event)) is None:
                return
            if now_us() - job.create_us > self.config.queue_timeout_s * 1_000_000:
                self.expire_queued()
                return
            started = self.store.update(job_id, only_from=[PENDING], state=RUNNING, start_us=now_us())
            if started is None:
                return
            job = started
        if job.cancel_requested and not job.output_created:
            self._finish(job_id, CANCELLED, error=CANCELED_ERROR)
            return
        try:
            self._execute(job)
        except _Stopped:
            log.info("job %s paused for shutdown; it resumes after a restart", job_id)
        except JobFailure as err:
            self._finish(job_id, FAILED, error=err.error)
        except Forbidden as err:
            self._finish(job_id, FAILED, error=AccessDenied(f"Permission denied: {err.message}").error)
        except BackendUnavailable as err:
            self._finish(job_id, FAILED, error={"code": 13, "message": str(err)})
        except Exception as err:
            log.exception("job %s failed", job_id)
            self._finish(job_id, FAILED, error={"code": 13, "message": f"Internal error: {err}"})

    def _finish(self, job_id: str, state: str, **changes: Any) -> None:
        self.store.update(job_id, only_from=[RUNNING, CANCELLING], state=state, end_us=now_us(), **changes)

    def _execute(self, job: JobRecord) -> None:
        family = family_for(job, self.config, self.gcs().read_text)
        backend = family.backend(lambda: self.models.get(self.stop_event), self.embedders.get)
        if backend is None:
            raise _Stopped
        snap = snapshot.load(self.config.state_dir, job.id) or self._take_snapshot(job, family)
        limit = request_limit(family.info, self.config.max_requests_per_job)
        if snap.count > limit:
            raise InputError(f"The input has {snap.count} requests, more than the limit of {limit} requests per job.")
        output = plan_output(job, snap.columns or [], family, self.bigquery, self.gcs)
        first_time = not job.output_created
        self.store.update(job.id, input_count=snap.count, output_created=True, output_info=output.info)
        done, ok = output.open(first_time)
        current = self.store.update(job.id, successful=ok, failed=done - ok)
        self._process(current or job, snap, output, family, backend, done, ok)

    def _take_snapshot(self, job: JobRecord, family: Family) -> snapshot.Snapshot:
        input_config = job.spec.get("inputConfig", {})
        if "bigquerySource" in input_config:
            uri = input_config["bigquerySource"]["inputUri"]
            io = self.bigquery()
            columns = io.input_columns(
                uri,
                job,
                prompt_column=family.request_key,
                prompt_types=family.request_types,
                reserved=family.reserved,
            )
            return snapshot.write(self.config.state_dir, job.id, io.read_rows(uri, columns), columns)
        rows = list(self.gcs().read_rows(input_config["gcsSource"]["uris"], family.info.max_input_bytes))
        family.check_lines(rows)
        return snapshot.write(self.config.state_dir, job.id, rows, family.jsonl_columns(rows))

    def _interruption(self, job: JobRecord) -> str | None:
        """``"stop"``, ``"cancel"``, ``"expire"`` or ``None`` (go on)."""
        if self.stop_event.is_set():
            return "stop"
        current = self.store.get(job.id)
        if current is None or current.cancel_requested or current.state == CANCELLING:
            return "cancel"
        if job.start_us and now_us() - job.start_us > self.config.run_timeout_s * 1_000_000:
            return "expire"
        return None

    def _process(
        self,
        job: JobRecord,
        snap: snapshot.Snapshot,
        output: Output,
        family: Family,
        backend: Any,
        done: int,
        ok: int,
    ) -> None:
        pending: list[dict[str, Any]] = []
        pending_ok = 0
        last_write, write_cost = time.monotonic(), 0.0
        reason: str | None = None
        batches = _batched(snap.rows(start=done), max(1, self.config.model_batch_size))
        predictions = family.predictions(
            batches,
            backend,
            lambda index: self.faults.row_error(job.id, index),
            stop_pause(self.stop_event, self.faults.row_delay_s),
        )
        with contextlib.closing(predictions):
            while not (reason := self._interruption(job)):
                answered = next(predictions, None)
                if answered is None:
                    break
                at = datetime.now(UTC)
                pending.extend(output.row(source, outcome, at) for source, outcome in answered)
                pending_ok += sum(outcome.ok for _, outcome in answered)
                if self._should_write(
                    len(pending),
                    output.min_chunk(done, self.config.chunk_rows),
                    time.monotonic() - last_write,
                    write_cost,
                ):
                    started = time.monotonic()
                    done, ok = self._write(job, output, pending, pending_ok, done, ok)
                    pending, pending_ok = [], 0
                    last_write = time.monotonic()
                    write_cost = last_write - started
        if pending:
            done, ok = self._write(job, output, pending, pending_ok, done, ok)
        failed = done - ok
        if reason == "stop":
            raise _Stopped
        incomplete = max(snap.count - done, 0)
        if reason == "cancel":
            self._finish(job.id, CANCELLED, error=CANCELED_ERROR, successful=ok, failed=failed, incomplete=incomplete)
        elif reason == "expire":
            self._finish(
                job.id,
                FAILED,
                successful=ok,
                failed=failed,
                incomplete=incomplete,
                error={
                    "code": DEADLINE_EXCEEDED,
                    "message": f"The job ran for more than {self.config.run_timeout_s:g} s and was stopped; "
                    f"{done} of {snap.count} rows were completed and kept.",
                },
            )
        else:
            self._finish(job.id, SUCCEEDED, successful=ok, failed=failed, incomplete=0)

    def _should_write(self, pending: int, min_chunk: int, since_write: float, write_cost: float) -> bool:
        """Write a chunk when it is big enough and writing would not dominate the run (a fast backend
        gets bigger chunks), or when rows have waited ``chunk_seconds`` (or ten writes' time)."""
        if pending >= max(min_chunk, MAX_CHUNK_ROWS):
            return True
        if pending >= min_chunk and since_write >= write_cost:
            return True
        return pending > 0 and since_write >= max(self.config.chunk_seconds, 10 * write_cost)

    def _write(
        self, job: JobRecord, output: Output, rows: list[dict[str, Any]], rows_ok: int, done: int, ok: int
    ) -> tuple[int, int]:
        """Append one chunk, its rows shuffled unless ``keep_input_order``; a failed write is retried without
        duplicating the chunk (a retry first checks whether the failed attempt landed); update the counts."""
        if not self.config.keep_input_order:
            rows = random.sample(rows, len(rows))
        attempts = itertools.count()

        def append_once() -> None:
            if next(attempts) and output.open(False)[0] >= done + len(rows):
                return  # the failed attempt wrote the chunk after all
            output.append(rows)

        def warn(error: Exception) -> None:
            log.warning("writing %d rows of job %s failed; retrying", len(rows), job.id, exc_info=error)

        retry = Retry(
            predicate=lambda error: not isinstance(error, JobFailure),
            initial=0.5,
            multiplier=2.0,
            maximum=8.0,
            timeout=WRITE_RETRY_SECONDS,
            on_error=warn,
        )
        retry(append_once)()
        done, ok = done + len(rows), ok + rows_ok
        self.store.update(job.id, successful=ok, failed=done - ok)
        return done, ok


def _batched(rows: Iterator[tuple[int, dict[str, Any]]], size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch
