"""The queue a new batch job waits in: ``--queue-delay-s`` (``VERTEX_LOCAL_QUEUE_DELAY_S``, default 0) holds
every new job PENDING that many seconds after its create time before a worker may start it.

Production's batch jobs wait in a shared queue (up to 72 hours) before they run; with a delay, the local
stack shows that difference between a batch job and an online or Flex call. A cancel while a job is held
takes it straight to CANCELLED, as for any PENDING job (``app``'s cancel); the worker then finds it terminal.
"""

from __future__ import annotations

import threading

from vertex_batch.local.service.store import PENDING, JobRecord, JobStore, now_us

#: How often a held job is looked at again (a cancel ends the hold within this).
RECHECK_S = 0.2


def hold_pending(job: JobRecord, delay_s: float, store: JobStore, stop: threading.Event) -> JobRecord | None:
    """Wait until ``job`` (PENDING) may start and return it as it then is; ``None`` when it left PENDING
    meanwhile (a cancel) or the service stops first (a held job stays PENDING for the next start)."""
    release_us = job.create_us + int(delay_s * 1_000_000)
    current: JobRecord | None = job
    while current is not None and current.state == PENDING and (left_us := release_us - now_us()) > 0:
        if stop.wait(min(left_us / 1_000_000, RECHECK_S)):
            return None
        current = store.get(job.id)
    return current if current is not None and current.state == PENDING else None
