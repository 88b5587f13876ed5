"""``ports.BatchWarehouse`` on Google Cloud: pending rows, staging (BigQuery tables or JSONL in Cloud Storage, as
the IO plan says) and landing with the exact job cost, over ``warehouse.Warehouse`` (the SQL).

Each family's rows are staged and landed in production's shape (``families.py``): Gemini and legacy
text-embedding rows carry their key columns through the job; Claude, chat-completions and Gemini embedding rows
are named by ``custom_id`` and joined back to their staged input when they land (``landing.joined_landing_sql``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from vertex_batch.errors import ConfigurationError
from vertex_batch.families import family_rows, job_input_columns, job_lines_columns
from vertex_batch.identity import EMBEDDING_OPTIONAL_COLUMNS
from vertex_batch.jobs import JobSnapshot
from vertex_batch.landing import joined_landing_sql
from vertex_batch.prechecks import KeyAudit, audit_of, audit_sql
from vertex_batch.regions import IOPlan
from vertex_batch.request_models import Landed, Pending, RequestModel, StagedInput
from vertex_batch.staging_bucket import Planner
from vertex_batch.usage import JobUsage, job_usage
from vertex_batch.warehouse import Warehouse, quote

WORK_KINDS = ("input", "job")  # the kinds of ``WarehouseIO._work_table``


@dataclass
class WarehouseIO:
    """Pending rows, staging and landing for request models in BigQuery (one ``Warehouse`` per project)."""

    warehouse_for: Callable[[str], Warehouse]
    # The location-aware IO plan (plan.py): BigQuery IO in the job's region, else GCS JSONL via a staging bucket.
    planner: Planner | None = None

    def _warehouse(self, table_id: str) -> Warehouse:
        return self.warehouse_for(table_id.split(".", 1)[0])

    def check(self, model: RequestModel) -> None:
        """Refuse a request table a job cannot take (one line with the fix)."""
        settings = model.settings
        warehouse = self._warehouse(model.table_id)
        warehouse.check_request_table(model.table_id, settings.key, settings.kind, settings.family)
        self.plan(model)

    def plan(self, model: RequestModel) -> IOPlan | None:
        """How the model's rows reach its jobs (None without a planner: ``meta.vertex_batch.input`` decides)."""
        if self.planner is None:
            return None
        settings = model.settings
        info = settings.info
        bigquery_io = info is None or "bigquery" in info.batch_io
        return self.planner.plan(model.table_id, settings.input, settings.location, settings.gcs_prefix, bigquery_io)

    def pending(self, model: RequestModel, retry: bool) -> Pending:
        warehouse = self._warehouse(model.table_id)
        settings = model.settings
        query = warehouse.pending_sql(
            model.table_id,
            model.landing_table,
            settings.key,
            settings.max_attempts,
            retryable_only=retry,
            model=settings.model,
            params=settings.model_parameters,
            kind=settings.kind,
        )
        summary = warehouse.summarize(query, settings.key, settings.kind)
        return Pending(summary.rows, summary.fingerprint, summary.request_bytes, query)

    def all_rows(self, model: RequestModel) -> Pending:
        """Every row of the request model (``--full-refresh-predictions``)."""
        warehouse = self._warehouse(model.table_id)
        settings = model.settings
        query = warehouse.requests_sql(
            model.table_id, settings.key, settings.model, settings.model_parameters, settings.kind
        )
        summary = warehouse.summarize(query, settings.key, settings.kind)
        return Pending(summary.rows, summary.fingerprint, summary.request_bytes, query)

    def _work_table(self, model: RequestModel, kind: str, run_id: str, attempt: int) -> str:
        return f"{model.table_id}__batch_{kind}_{run_id}_{attempt}"

    def _rows_per_job(self, model: RequestModel, pending: Pending) -> int:
        """The catalog's rows per job, fewer when the rows' bytes would pass its bytes per job."""
        limit = model.settings.max_rows_per_job
        info = model.settings.info
        if info is None or not info.max_input_bytes or not pending.rows or not pending.request_bytes:
            return limit
        per_row = pending.request_bytes / pending.rows
        return max(1, min(limit, int(info.max_input_bytes * 0.9 // per_row)))  # 10% for the line's other fields

    def _job_rows_sql(self, model: RequestModel, pending: Pending) -> str:
        """The pending rows as the family's job takes them (``families.job_input_columns``)."""
        settings = model.settings
        optional: list[str] = []
        if settings.kind == "embed":
            columns = self._warehouse(model.table_id).columns(model.table_id)
            optional = [field.name for field in columns if field.name in EMBEDDING_OPTIONAL_COLUMNS]
        select = job_input_columns(settings.family, settings.key, settings.model_parameters, optional)
        return pending.query if select is None else f"SELECT {select} FROM ({pending.query})"

    def audit(self, model: RequestModel) -> KeyAudit:
        sql = audit_sql(model.table_id, model.settings.key, model.settings.kind)
        return audit_of(self._warehouse(model.table_id).run(sql))

    def sweep(self, model: RequestModel, keep: set[str]) -> list[str]:
        """Drop work tables (``_work_table``: staged inputs, raw job outputs) of ``model`` not in ``keep``."""
        warehouse = self._warehouse(model.table_id)
        dataset, name = model.table_id.rsplit(".", 1)
        found = [table for kind in WORK_KINDS for table in warehouse.tables(dataset, f"{name}__batch_{kind}_")]
        stale = [table for table in found if table not in keep]
        for table in stale:
            warehouse.drop(table)
        plan = self.plan(model)
        prefix = (plan.gcs_prefix if plan else None) or model.settings.gcs_prefix
        if self.planner is not None and prefix:  # JSONL folders ``_gcs_folder``: <run>/a<attempt>/c<chunk>
            stale += self.planner.remove_stale(f"{prefix.rstrip('/')}/{model.label}", 3, keep)
        return stale

    def stage(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> list[StagedInput]:
        warehouse = self._warehouse(model.table_id)
        settings = model.settings
        plan = self.plan(model)
        tables = warehouse.stage(
            self._job_rows_sql(model, pending),
            settings.key,
            self._work_table(model, "input", run_id, attempt),
            pending.rows,
            self._rows_per_job(model, pending),
        )
        staged = []
        for chunk, table in enumerate(tables, start=1):
            output = f"{self._work_table(model, 'job', run_id, attempt)}_{chunk}"
            warehouse.drop(output)
            input_uri, output_uri = f"bq://{table}", f"bq://{output}"
            if (plan.path if plan else settings.input) == "gcs":
                folder = self._gcs_folder(model, run_id, attempt, chunk, plan)
                input_uri, output_uri = f"{folder}/input-*.jsonl", f"{folder}/output"
                warehouse.export_jsonl(table, input_uri, job_lines_columns(settings.family))
            note = plan.describe() if plan else ""
            staged.append(StagedInput(input_uri, output_uri, warehouse.count(table), table, output, note))
        return staged

    def _gcs_folder(
        self, model: RequestModel, run_id: str, attempt: int, chunk: int, plan: IOPlan | None = None
    ) -> str:
        """``gs://bucket/prefix/<model>/<run>/a<attempt>/c<chunk>`` for a GCS-path job."""
        if plan is not None and plan.gcs_prefix:
            return f"{plan.gcs_prefix.rstrip('/')}/{model.label}/{run_id}/a{attempt}/c{chunk}"
        prefix = model.settings.gcs_prefix
        if not prefix:
            raise ConfigurationError(
                f"request model {model.name} uses input 'gcs' but has no meta.vertex_batch.gcs_prefix "
                "(or var vertex_batch_gcs_prefix), e.g. 'gs://my-bucket/vertex-batch'"
            )
        return f"{prefix.rstrip('/')}/{model.label}/{run_id}/a{attempt}/c{chunk}"

    def landed_jobs(self, model: RequestModel) -> set[str]:
        return self._warehouse(model.table_id).landed_jobs(model.landing_table)

    def land(self, model: RequestModel, staged: StagedInput, snapshot: JobSnapshot, attempt: int) -> Landed:
        warehouse = self._warehouse(model.table_id)
        settings = model.settings
        rows_of = family_rows(settings.family)
        if rows_of is not None:
            return self._land_joined(warehouse, model, staged, snapshot, attempt)
        output = snapshot.output_table or staged.output_table
        embed = settings.kind == "embed"
        if snapshot.output_directory and warehouse.exists(staged.input_table):
            load = warehouse.load_embedding_predictions if embed else warehouse.load_predictions
            load(f"{snapshot.output_directory}/predictions.jsonl", staged.output_table, staged.input_table)
            output = staged.output_table
        if snapshot.name in warehouse.landed_jobs(model.landing_table):
            rows = warehouse.count(output) if warehouse.exists(output) else 0
        else:
            rows = warehouse.land(output, model.landing_table, snapshot.name, attempt)
        used = JobUsage(cost_usd=0.0)
        if warehouse.exists(output):
            used = job_usage(warehouse, output, settings.model, settings.family)
            if settings.family == "text-embedding":  # billed by characters; the ledger counts tokens
                used = replace(used, prompt=warehouse.embedding_tokens(output))
        return self._landed(rows, used, warehouse.failure_summary(output))

    def _land_joined(
        self, warehouse: Warehouse, model: RequestModel, staged: StagedInput, snapshot: JobSnapshot, attempt: int
    ) -> Landed:
        """Land a job whose rows are named by ``custom_id``: its output (a BigQuery table, or JSONL loaded into
        one) joined to its staged input, which gives each row its key columns and fingerprint back."""
        settings = model.settings
        rows_of = family_rows(settings.family)
        assert rows_of is not None
        output = snapshot.output_table or staged.output_table
        if snapshot.output_directory:
            warehouse.load_jsonl(f"{snapshot.output_directory}/predictions.jsonl", staged.output_table, rows_of.output)
            output = staged.output_table
        landing = model.landing_table
        if snapshot.name not in warehouse.landed_jobs(landing) and warehouse.exists(output):
            if not warehouse.exists(staged.input_table):
                raise ConfigurationError(
                    f"{model.name}: cannot land {snapshot.name}: its staged input {staged.input_table} is gone, and "
                    "only it maps the output's custom_id back to the request model's key"
                )
            columns = {field.name for field in warehouse.columns(output)}
            select = joined_landing_sql(settings.family, settings.key, output, staged.input_table, columns)
            warehouse.land_joined(select, landing, snapshot.name, attempt)
        mine = f"batch_job_name = '{snapshot.name.replace(chr(39), '')}'"
        rows = warehouse.count(landing, mine) if warehouse.exists(landing) else 0
        used = JobUsage(cost_usd=0.0)
        if rows:
            used = job_usage(warehouse, landing, settings.model, settings.family, where=mine)
        return self._landed(rows, used, warehouse.failure_summary(landing, job=snapshot.name) if rows else [])

    @staticmethod
    def _landed(rows: int, used: JobUsage, failures: list[tuple[str, int]]) -> Landed:
        return Landed(
            rows,
            prompt_tokens=used.prompt,
            candidate_tokens=used.candidates,
            total_tokens=used.total,
            failures=tuple(failures),
            thoughts_tokens=used.thoughts,
            cached_tokens=used.cached_content,
            cost_usd=used.cost_usd,
        )

    def discard(self, staged: StagedInput) -> None:
        warehouse = self._warehouse(staged.input_table)
        warehouse.drop(staged.input_table)
        warehouse.drop(staged.output_table)
        if self.planner is not None and staged.input_uri.startswith("gs://"):
            self.planner.remove_staged(staged.input_uri.rsplit("/", 1)[0])

    def outcome(self, model: RequestModel, job_names: list[str]) -> tuple[int, int]:
        """Rows these jobs answered, and rows of them that ended failed with no success ever."""
        warehouse = self._warehouse(model.table_id)
        if not job_names or not warehouse.exists(model.landing_table):
            return 0, 0
        join = ", ".join([*model.settings.key, "request_fingerprint"])
        names = ", ".join("'" + name.replace("'", "") + "'" for name in job_names)
        landing = quote(model.landing_table)
        rows = warehouse.run(
            f"WITH mine AS (SELECT {join}, LOGICAL_OR(status = '') AS ok FROM {landing} "
            f"WHERE batch_job_name IN ({names}) GROUP BY {join}), "
            f"ever AS (SELECT {join}, LOGICAL_OR(status = '') AS ok FROM {landing} GROUP BY {join}) "
            f"SELECT COUNTIF(mine.ok), COUNTIF(NOT ever.ok) FROM mine JOIN ever USING ({join})"
        )
        answered, failed = (int(value or 0) for value in rows[0])
        return answered, failed
