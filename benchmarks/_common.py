"""Shared pieces of the benchmarks: a local stack on free ports in a temporary folder, a private copy of the
scale project, dbt invocations and job progress recorded with wall-clock times, RSS sampling, results JSON.

Every benchmark starts and stops its own stack; nothing it starts outlives it (``bench_stack`` stops the
servers in a ``finally``), and its temporary folder is removed afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SCALE_PROJECT = REPO / "tests" / "e2e" / "scale_project"
PROFILES = REPO / "profiles"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vertex_batch.connections import Connections  # noqa: E402
from vertex_batch.dbt_graph import DbtProject  # noqa: E402
from vertex_batch.jobs import JobSnapshot  # noqa: E402
from vertex_batch.local.stack import LocalDataset, LocalStack, StackConfig  # noqa: E402
from vertex_batch.progress import Progress  # noqa: E402
from vertex_batch.runner import BuildOptions, BuildReport, Runner  # noqa: E402
from vertex_batch.wiring import CloudBackends  # noqa: E402


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so every ``finally`` stops what it started."""
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminate)


@dataclass
class Bench(LocalDataset):
    """A running stack, the dataset the benchmark writes to, and its temporary folder."""

    workdir: Path

    def pids(self) -> dict[str, int]:
        """Process ids of the stack's servers (``bigquery``, ``gcs``, ``vertex``) from ``stack.json``."""
        record = json.loads(self.stack.record_path.read_text())
        return {name: int(pid) for name, pid in record.get("pids", {}).items()}


@contextmanager
def bench_stack(
    name: str, backend: str = "fake-fast-test", service_args: Sequence[str] = (), workers: int = 2,
    dataset: str | None = None,
) -> Iterator[Bench]:  # fmt: skip
    """A local stack on free ports in a fresh temporary folder; the process environment points the runner,
    dbt and the SDKs at it while it runs. Everything is stopped and removed on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix=f"vertex-batch-bench-{name}-"))
    config = StackConfig.with_free_ports(
        workdir / "stack", backend=backend, workers=workers, service_args=tuple(service_args)
    )
    stack = LocalStack(config)
    saved = dict(os.environ)
    try:
        started = time.perf_counter()
        stack.up()
        took = time.perf_counter() - started
        print(f"local stack up in {took:.1f} s ({backend} backend, {workdir})", flush=True)
        bench = Bench(stack=stack, dataset=dataset or f"bench_{name}", workdir=workdir)
        os.environ.update(config.client_env(bench.dataset))
        os.environ["DBT_LOG_PATH"] = str(workdir / "dbt-logs")
        yield bench
    finally:
        stack.down()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(workdir, ignore_errors=True)


def scale_project(destination: Path) -> Path:
    """A private copy of ``tests/e2e/scale_project`` whose package points at this checkout."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SCALE_PROJECT / "dbt_project.yml", destination / "dbt_project.yml")
    shutil.copytree(SCALE_PROJECT / "models", destination / "models")
    (destination / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    return destination


def scale_vars(**values: object) -> str:
    """dbt ``--vars`` YAML for the scale project, e.g. ``scale_vars(scale_rows=10000)``."""
    return json.dumps(values)


@dataclass
class Invocation:
    """One dbt invocation with wall-clock (``time.time``) start and end."""

    command: str
    args: tuple[str, ...]
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class TimedDbt(DbtProject):
    """``DbtProject`` that records when each dbt invocation starts and ends (measured from outside)."""

    invocations: list[Invocation] = field(default_factory=list)

    def invoke(self, command: str, *args: str) -> Path:
        start = time.time()
        try:
            return super().invoke(command, *args)
        finally:
            self.invocations.append(Invocation(command, tuple(args), start, time.time()))

    def ensure_packages(self) -> None:
        start = time.time()
        installed = (self.project_dir / "dbt_packages").exists()
        super().ensure_packages()
        if not installed:
            self.invocations.append(Invocation("deps", (), start, time.time()))


def dbt_for(project: Path, vars_yaml: str | None) -> TimedDbt:
    return TimedDbt(project_dir=project, profiles_dir=PROFILES, quiet=True, vars=vars_yaml)


@dataclass
class ProgressPoint:
    """One poll of one job, as the runner saw it (``completionStats``)."""

    t: float
    label: str
    job: str
    state: str
    done: int
    rows: int


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class RecordingProgress(Progress):
    """``Progress`` that keeps every job poll and message with its wall-clock time; prints messages only
    when ``echo`` (the runner's own progress lines)."""

    stream: TextIO = field(default_factory=_Discard)  # type: ignore[assignment]
    echo: bool = True
    points: list[ProgressPoint] = field(default_factory=list)
    messages: list[tuple[float, str]] = field(default_factory=list)

    def message(self, text: str) -> None:
        self.messages.append((time.time(), text))
        if self.echo:
            print(f"  [runner] {text}", flush=True)

    def job(self, label: str, snapshot: JobSnapshot, rows: int) -> None:
        done = snapshot.successful + snapshot.failed
        self.points.append(ProgressPoint(time.time(), label, snapshot.name, snapshot.state_name, done, rows))


def build(dbt: DbtProject, progress: Progress, **options: Any) -> tuple[BuildReport, float]:
    """``vertex-batch build`` in process (``Runner.build``); the report and its wall time in seconds. The benchmarks
    measure batch jobs: lane ``batch`` unless ``options`` name another."""
    options.setdefault("lane", "batch")
    started = time.perf_counter()
    report = Runner(dbt, BuildOptions.resolve(local=True, **options), CloudBackends(), progress).build()
    return report, time.perf_counter() - started


class JobPoller:
    """Polls the jobs of one run (label ``vertex_batch_run``) every ``interval`` seconds on its own thread,
    through ``JobServiceClient``, and keeps each job's ``completionStats``: progress as a watcher sees it,
    independent of when the runner itself polls."""

    def __init__(self, connections: Connections, run_id: str, interval: float = 0.5) -> None:
        from vertex_batch.job_client import JobClient
        from vertex_batch.jobs import LABEL_RUN, label_value

        self._client = JobClient(connections)
        self._labels = {LABEL_RUN: label_value(run_id)}
        self.interval = interval
        self.points: list[ProgressPoint] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-poller", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                jobs = self._client.find(self._labels)
            except Exception:  # a failed poll is a missing point, not a failed benchmark
                continue
            now = time.time()
            for job in jobs:
                done = job.successful + job.failed
                rows = done + max(job.incomplete, 0)
                self.points.append(ProgressPoint(now, job.display_name, job.name, job.state_name, done, rows))

    def __enter__(self) -> JobPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RssSampler:
    """Samples the resident memory of named processes every ``interval`` seconds; keeps the peaks (MB)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        import psutil

        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.peak_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        import psutil

        for name, process in self._processes.items():
            try:
                rss = process.memory_info().rss  # the process itself (the stack's servers are children)
            except psutil.Error:
                continue
            self.peak_mb[name] = max(self.peak_mb[name], rss / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def machine() -> dict[str, Any]:
    """The machine a result was measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def write_result(name: str, payload: dict[str, Any], started: float) -> Path:
    """``benchmarks/results/<name>.json`` with the command, date, duration and machine added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    command = " ".join([".venv/bin/python", f"benchmarks/{name}.py", *sys.argv[1:]])
    document = {
        "benchmark": name,
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runtime_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"wrote {path.relative_to(REPO)}", flush=True)
    return path


def print_figures(figures: dict[str, object]) -> None:
    """One aligned line per figure."""
    width = max(len(label) for label in figures) + 2
    for label, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        print(f"{label + ':':<{width}}{value}")


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to 3 places, or ``None`` when the denominator is 0."""
    return round(numerator / denominator, 3) if denominator else None


def ts(value: datetime | None) -> float | None:
    """A job timestamp as seconds since the epoch."""
    return value.timestamp() if value else None


def plot_job_progress(
    points: Sequence[ProgressPoint],
    landed: Sequence[ProgressPoint],
    invocations: Sequence[Invocation],
    t0: float,
    path: Path,
    title: str,
) -> None:
    """Rows done against seconds since ``t0``, one line per job (``points``: polls of ``completionStats``),
    a cross where the runner saw each job end (``landed``), and the dbt invocations shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8.5, 4.8))
    shades = {"parse": "#dddddd", "build": "#cfe3f5"}
    labelled: set[str] = set()
    for inv in invocations:
        label = f"dbt {inv.command}" if inv.command not in labelled else None
        labelled.add(inv.command)
        shade = shades.get(inv.command, "#eeeeee")
        axes.axvspan(inv.start - t0, inv.end - t0, color=shade, label=label, zorder=0)
    jobs: dict[str, list[ProgressPoint]] = {}
    for point in sorted(points, key=lambda p: p.t):
        jobs.setdefault(point.job, []).append(point)
    order = sorted(jobs, key=lambda name: jobs[name][0].t)
    for number, name in enumerate(order, start=1):
        series = jobs[name]
        line = axes.plot(
            [p.t - t0 for p in series], [p.done for p in series], marker=".", markersize=3,
            label=f"job {number} ({max(p.rows for p in series):,} rows)",
        )  # fmt: skip
        seen = [p for p in landed if p.job == name and p.state in ("SUCCEEDED", "PARTIALLY_SUCCEEDED")]
        if seen:
            axes.plot(seen[0].t - t0, seen[0].done, marker="x", markersize=9, color=line[0].get_color())
    seen_label = "the runner sees the job end (then lands it)"
    axes.plot([], [], marker="x", linestyle="none", color="black", label=seen_label)
    axes.set_xlabel("seconds since vertex-batch build started")
    axes.set_ylabel("rows done (completionStats)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
