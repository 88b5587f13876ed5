"""The one wiring point: the runner's adapters on the official Google clients (``ports.Backends``).

``CloudBackends`` builds, per run, the job service (``JobServiceClient``), the warehouse IO (BigQuery and Cloud
Storage, location-aware), the ledger, the cost model (``countTokens`` through ``LlmUtilityServiceClient``) and the
Flex and online lanes (``generateContent`` through ``PredictionServiceClient``).
Endpoints come from ``Connections``: Google Cloud with Application Default Credentials, or the local stack's
endpoints from ``VERTEX_BATCH_*`` variables. The CLI builds one; tests build fakes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vertex_batch.batch_io import WarehouseIO
from vertex_batch.checks import Check
from vertex_batch.connections import Connections
from vertex_batch.estimate import CountedCosts
from vertex_batch.job_client import JobClient
from vertex_batch.lane_warehouse import LaneWarehouse
from vertex_batch.lease_table import BigQueryLeases
from vertex_batch.ledger import LedgerEntry
from vertex_batch.ledger_table import BigQueryLedger, LedgerTable
from vertex_batch.online_calls import CloudLanes
from vertex_batch.ports import JobService, RunAdapters
from vertex_batch.regions import Region
from vertex_batch.request_models import RequestModel
from vertex_batch.staging_bucket import planner_for, storage_client
from vertex_batch.token_counting import TokenCounter, VertexTokenCounter
from vertex_batch.warehouse import Warehouse


@dataclass
class CloudBackends:
    """``ports.Backends`` over the official clients; ``location`` is ``--location`` (None: decided per run)."""

    location: str | None = None
    connections_for: Callable[[str, str | None], Connections] = Connections.from_env
    _warehouses: dict[str, Warehouse] = field(default_factory=dict)

    def warehouse(self, project: str) -> Warehouse:
        if project not in self._warehouses:
            self._warehouses[project] = Warehouse(self.connections_for(project, self.location).bigquery_client())
        return self._warehouses[project]

    def dataset_location(self, dataset: str) -> str | None:
        return self.warehouse(dataset.split(".", 1)[0]).dataset_location(dataset)

    def default_region(self, project: str) -> str:
        return self.connections_for(project, self.location).location

    def preflight(self, project: str, region: str) -> list[Check]:
        from vertex_batch.doctor import Doctor

        connections = replace(self.connections_for(project, self.location), location=region)
        doctor = Doctor(
            connections,
            planner_for(connections),
            lambda: self.warehouse(project).client,
            lambda: storage_client(connections),
        )
        first = doctor.credentials()
        return [first] if first.blocking else [first, doctor.vertex_api(region)]

    def adapters(self, project: str, region: Region, *, dry_run: bool, warn: Callable[[str], Any]) -> RunAdapters:
        connections = replace(self.connections_for(project, self.location), location=region.name)
        planner = planner_for(connections, region, dry_run=dry_run)
        planner.dataset_location = self.dataset_location
        counter = VertexTokenCounter(connections)

        def counter_for(model: RequestModel) -> TokenCounter | None:
            return counter if model.settings.family == "gemini" else None

        return RunAdapters(
            jobs=JobClient(connections),
            warehouse=WarehouseIO(self.warehouse, planner=planner),
            ledger=BigQueryLedger(self.warehouse),
            costs=CountedCosts(runner_for=self.warehouse, counter_for=counter_for, warn=warn),
            lanes=CloudLanes(connections, LaneWarehouse(self.warehouse)),
            leases=BigQueryLeases(self.warehouse),
        )

    def ledger_entries(self, tables: Sequence[str]) -> list[tuple[str, LedgerEntry]]:
        found = []
        for table in tables:
            ledger = LedgerTable(self.warehouse(table.split(".", 1)[0]), table)
            found += [(table, entry) for entry in ledger.entries()]
        return found

    def job_service(self, project: str, region: str) -> JobService:
        return JobClient(replace(self.connections_for(project, self.location), location=region))
