"""Progress output: a bar per job on a terminal, plain log lines otherwise, nothing in ``--json`` mode."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from vertex_batch.job_client import JobSnapshot


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:d}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Progress:
    """Reports job progress from ``completionStats``; plain lines at most every ``interval`` seconds."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    enabled: bool = True
    interval: float = 10.0
    _last: dict[str, tuple[float, tuple[str, int, int]]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def message(self, text: str) -> None:
        if self.enabled:
            if self.is_terminal:
                self.stream.write("\r\033[K")
            self.stream.write(text + "\n")
            self.stream.flush()

    def job(self, label: str, snapshot: JobSnapshot, rows: int) -> None:
        """One update for one job: ``rows`` is how many rows it was given."""
        if not self.enabled:
            return
        now = time.monotonic()
        started = self._started.setdefault(snapshot.name, now)
        done = snapshot.successful + snapshot.failed
        key = (snapshot.state, snapshot.successful, snapshot.failed)
        last = self._last.get(snapshot.name)
        elapsed = now - started
        if snapshot.start_time is not None:  # the job's own clock: right for jobs attached mid-way too
            end = snapshot.end_time or datetime.now(UTC)
            elapsed = (end - snapshot.start_time).total_seconds()
        eta = ""
        if 0 < done < rows:
            eta = f", ETA {_clock(elapsed / done * (rows - done))}"
        line = (
            f"{label}: {snapshot.state.lower()} {done}/{rows} rows "
            f"({snapshot.successful} ok, {snapshot.failed} failed), {_clock(elapsed)} elapsed{eta}"
        )
        if self.is_terminal:
            width = 24
            filled = int(width * done / rows) if rows else width
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r\033[K[{bar}] {line}")
            if snapshot.done:
                self.stream.write("\n")
            self.stream.flush()
        elif last is None or snapshot.done or (key != last[1] and now - last[0] >= self.interval):
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last[snapshot.name] = (now, key)
