"""Progress output: a tqdm bar per job on a terminal, plain log lines otherwise, nothing when disabled.

Every update shows the job's state and elapsed time (from the job's own start time, so right for attached jobs
too). Row counts are shown only when the service reports them: production reports no live counts for Gemini
jobs with BigQuery input, so a running job says so instead of showing 0/N.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from vertex_batch.jobs import JobSnapshot
from vertex_batch.report import clock_text

NO_COUNTS = "row counts not reported while the job runs"


def job_line(label: str, snapshot: JobSnapshot, rows: int, elapsed: float) -> str:
    """One plain line: state, elapsed time, and counts with an ETA when the service reports counts."""
    state = snapshot.state_name.lower()
    done = snapshot.successful + snapshot.failed
    if done == 0 and not snapshot.done:
        return f"{label}: {state}, {clock_text(elapsed)} elapsed ({NO_COUNTS}; {rows} rows submitted)"
    eta = f", ETA {clock_text(elapsed / done * (rows - done))}" if 0 < done < rows and not snapshot.done else ""
    return (
        f"{label}: {state} {done}/{rows} rows ({snapshot.successful} ok, {snapshot.failed} failed), "
        f"{clock_text(elapsed)} elapsed{eta}"
    )


@dataclass
class Progress:
    """Reports job progress; plain lines at most every ``interval`` seconds per job unless something changed."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    enabled: bool = True
    interval: float = 10.0
    _last: dict[str, tuple[float, tuple[str, int, int]]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _bars: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    def elapsed(self, snapshot: JobSnapshot) -> float:
        """Seconds the job has run: by its own clock when it reports a start time, else since first seen."""
        now = time.monotonic()
        started = self._started.setdefault(snapshot.name, now)
        if snapshot.start_time is not None:
            end = snapshot.end_time or datetime.now(UTC)
            return (end - snapshot.start_time).total_seconds()
        return now - started

    def job(self, label: str, snapshot: JobSnapshot, rows: int) -> None:
        """One update for one job: ``rows`` is how many rows it was given."""
        if not self.enabled:
            return
        elapsed = self.elapsed(snapshot)
        if self.is_terminal:
            self._bar(label, snapshot, rows, elapsed)
            return
        now = time.monotonic()
        key = (snapshot.state_name, snapshot.successful, snapshot.failed)
        last = self._last.get(snapshot.name)
        if last is None or snapshot.done or (key != last[1] and now - last[0] >= self.interval):
            self.stream.write(job_line(label, snapshot, rows, elapsed) + "\n")
            self.stream.flush()
            self._last[snapshot.name] = (now, key)

    def _bar(self, label: str, snapshot: JobSnapshot, rows: int, elapsed: float) -> None:
        from tqdm import tqdm

        done = snapshot.successful + snapshot.failed
        counted = done > 0 or snapshot.done
        bar = self._bars.get(snapshot.name)
        if bar is None:
            bar = tqdm(total=rows, desc=label, file=self.stream, unit="row", leave=True, dynamic_ncols=True)
            self._bars[snapshot.name] = bar
        bar.n = done if counted else 0
        state = f"{snapshot.state_name.lower()}, {clock_text(elapsed)} elapsed"
        bar.set_postfix_str(state if counted else f"{state}, {NO_COUNTS}", refresh=False)
        bar.refresh()
        if snapshot.done:
            bar.close()
            del self._bars[snapshot.name]
