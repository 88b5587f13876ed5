"""What a ``build``, ``submit`` or ``resume`` does around its waves so that no row is paid twice or lost: it
leases its request models (``lease``), checks each one's keys and requests before staging it (``prechecks``),
and when it ends removes what it staged and no job needs, then releases its leases.

The runner calls ``start`` once, ``admit`` per wave (after dbt built it) and ``finish`` in a ``finally``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vertex_batch.job_loop import JobLoop
from vertex_batch.lease import Heartbeat, LeaseStore, RunLease
from vertex_batch.manifest import Manifest, ModelNode
from vertex_batch.prechecks import refusal, skipped_warning
from vertex_batch.report import BuildReport
from vertex_batch.request_models import RequestModel


@dataclass
class RunGuard:
    """Leases, prechecks and clean-up of one command."""

    loop: JobLoop
    report: BuildReport
    leases: LeaseStore | None
    lease_seconds: float
    wait_for_lease: bool
    dry_run: bool = False
    lease: RunLease | None = None
    heartbeat: Heartbeat | None = None
    refused: dict[str, str] = field(default_factory=dict)  # request model name → why

    def start(self, models: list[RequestModel]) -> None:
        """Take the leases of the run's request models whose datasets exist (waiting, or ``LeaseHeld``)."""
        if self.leases is None or self.dry_run:
            return
        self.lease = RunLease(
            self.leases, self.loop.options.run_id, self.lease_seconds, self.loop.clock, self.loop.progress.message
        )
        self.heartbeat = Heartbeat(self.lease).start()
        self.loop.guard = self.lease.check
        self.lease.acquire(models, wait=self.wait_for_lease)

    def admit(self, models: list[RequestModel]) -> list[RequestModel]:
        """The wave's request models that may go on: leased (those dbt just created too) and whose keys name one
        row each. A refused model is said in one line and left out; the others proceed."""
        if self.lease is not None:
            self.lease.acquire(models, wait=self.wait_for_lease)
        admitted = []
        for model in models:
            audit = self.loop.warehouse.audit(model)
            refused = refusal(model.name, model.settings.key, audit)
            if refused:
                self.refused[model.name] = refused
                self.report.refused.append(refused)
                self.loop.progress.message(f"error: {refused}")
                continue
            warning = skipped_warning(model.name, model.settings.kind, audit)
            if warning:
                self.loop.state(model).report.skipped_rows = audit.empty_requests
                self.loop.progress.message(warning)
            admitted.append(model)
        if self.refused and admitted:
            names = ", ".join(model.name for model in admitted)
            self.loop.progress.message(f"the other request models proceed: {names}")
        return admitted

    def waiting_on_refused(self, manifest: Manifest, wave: list[ModelNode]) -> list[ModelNode]:
        """The wave's request models that need no refused model's answers (the rest wait, said in one line)."""
        if not self.refused:
            return wave
        refused_ids = {uid for uid, node in manifest.models.items() if node.name in self.refused}
        ready = []
        for node in wave:
            blocked = sorted(manifest.models[uid].name for uid in manifest.upstream(node.unique_id) & refused_ids)
            if blocked:
                self.loop.progress.message(f"{node.name}: waits, it needs the answers of {', '.join(blocked)}")
                self.refused[node.name] = f"needs {', '.join(blocked)}"
            else:
                ready.append(node)
        return ready

    def downstream_excludes(self) -> list[str]:
        """dbt selectors of what the final build leaves out: refused request models and what they feed."""
        return [f"{name}+" for name in sorted(self.refused)]

    def finish(self) -> None:
        """Remove what was staged and no job needs, then release the leases (also after an error or Ctrl-C)."""
        if self.lease is None:
            return
        try:
            for model in [] if self.lease.lost else list(self.lease.held.values()):
                dropped = self.loop.sweep(model)
                if dropped:
                    self.loop.progress.message(f"{model.name}: removed {len(dropped)} staged table(s) no job needs")
        finally:
            if self.heartbeat is not None:
                self.heartbeat.stop()
            self.lease.release()
