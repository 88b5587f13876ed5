"""The outcome of one pre-flight check (``vertex-batch doctor`` and the fast checks before a run)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warning", "problem", "skipped"]
MARKS = {"ok": "ok", "warning": "warn", "problem": "FAIL", "skipped": "skip"}


@dataclass(frozen=True)
class Check:
    """A status and one line that says what was found or what to do."""

    name: str
    status: Status
    detail: str

    @property
    def blocking(self) -> bool:
        return self.status == "problem"

    def line(self) -> str:
        return f"[{MARKS[self.status]:>4}] {self.name}: {self.detail}"


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing blocks a run, else 2 (a configuration problem)."""
    return 2 if any(check.blocking for check in checks) else 0
