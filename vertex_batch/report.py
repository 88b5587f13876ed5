"""The outcome of a run, for people (the CLI's last line) and schedulers (``--json``), and its exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vertex_batch.jobs import FAILED_STATES

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BUDGET = 2
EXIT_REFUSED = 2  # a request model was refused before anything of it was submitted (its keys, ``prechecks``)
EXIT_PARTIAL = 3
EXIT_RUNNING = 75  # EX_TEMPFAIL: jobs still run; call `vertex-batch resume` again later
EXIT_INTERRUPTED = 130

# Job states (short names, as in the ledger and reports) that end a job without success.
FAILED_STATE_NAMES = frozenset(state.value for state in FAILED_STATES)


def clock_text(seconds: float) -> str:
    """``mm:ss`` or ``h:mm:ss``."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:d}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class ModelReport:
    """Per request model: what was pending, submitted and answered."""

    request_model: str
    table: str
    pending_rows: int = 0
    estimated_input_tokens: int = 0
    estimated_output_tokens: int = 0
    estimated_cost_usd: float = 0.0
    estimated_cost_low_usd: float | None = None  # the estimate's range (None: the model has no price)
    estimated_cost_high_usd: float | None = None
    estimate_details: list[str] = field(default_factory=list)  # counted how, output from what, assumptions
    submitted_rows: int = 0
    jobs: list[str] = field(default_factory=list)
    successful_rows: int = 0
    failed_rows: int = 0
    actual_cost_usd: float = 0.0
    failures: list[tuple[str, int]] = field(default_factory=list)
    note: str = ""
    lane: str = ""  # batch, flex or online: how the pending rows were answered (``lanes.choose_lane``)
    lane_reason: str = ""
    skipped_rows: int = 0  # rows with nothing to ask (NULL or empty request): never submitted


@dataclass
class BuildReport:
    """What a ``build``, ``submit`` or ``resume`` did."""

    run_id: str
    dry_run: bool
    models: list[ModelReport] = field(default_factory=list)
    jobs: list[dict[str, object]] = field(default_factory=list)
    interrupted: bool = False
    still_running: bool = False
    budget_stop: str = ""
    refused: list[str] = field(default_factory=list)  # one line per request model refused by ``prechecks``

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.budget_stop:
            return EXIT_BUDGET
        if self.refused:
            return EXIT_REFUSED
        if any(job["state"] in FAILED_STATE_NAMES for job in self.jobs):
            return EXIT_FAILED
        if self.still_running:
            return EXIT_RUNNING
        if any(model.failed_rows for model in self.models):
            return EXIT_PARTIAL
        return EXIT_OK

    def model(self, name: str, table: str) -> ModelReport:
        """The report of ``name``, created on first use."""
        for report in self.models:
            if report.request_model == name:
                return report
        report = ModelReport(request_model=name, table=table)
        self.models.append(report)
        return report

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "still_running": self.still_running,
            "budget_stop": self.budget_stop,
            "refused": self.refused,
            "models": [asdict(model) for model in self.models],
            "jobs": self.jobs,
        }
