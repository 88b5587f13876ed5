"""``lane_ports.AnswerStore`` on BigQuery: a lane's pending rows staged with row numbers, and its answers landed
the way a batch job's output rows land.

- Staging: ``<request table>__lane_input_<run id>_<attempt>`` holds the pending rows exactly as a batch job's
  staged input (key columns, ``request``, ``request_fingerprint``: the pending query), numbered ``_lane_row``.
- Landing an append: its answers (``_lane_row``, ``response`` JSON, ``status``, ``processed_time``) go in with one
  load job and are joined back to the staged rows into an output table shaped like a batch job's BigQuery output
  (the input columns, then ``response``, ``status``, ``processed_time``); that table lands through
  ``Warehouse.land``, the batch path, under the append's job name, once. Its usage and exact cost are summed by
  ``usage.job_usage`` at the price share of the job name's lane, as the dbt macro ``cost_usd`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from google.cloud import bigquery

from vertex_batch.identity import FINGERPRINT_COLUMN
from vertex_batch.landing import lane_sql
from vertex_batch.lane_ports import Answer, LaneRequest, Recovered, StagedCalls
from vertex_batch.lanes import lane_of_job
from vertex_batch.request_models import Landed, Pending, RequestModel
from vertex_batch.usage import job_usage
from vertex_batch.warehouse import Warehouse, quote

ROW = "_lane_row"
ANSWER_SCHEMA = (
    bigquery.SchemaField(ROW, "INT64"),
    bigquery.SchemaField("response", "JSON"),
    bigquery.SchemaField("status", "STRING"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
)


@dataclass
class LaneWarehouse:
    """Staging and landing of the Flex and online lanes (one ``Warehouse`` per project)."""

    warehouse_for: Callable[[str], Warehouse]

    def _warehouse(self, table_id: str) -> Warehouse:
        return self.warehouse_for(table_id.split(".", 1)[0])

    def stage_calls(self, model: RequestModel, pending: Pending, attempt: int, run_id: str) -> StagedCalls:
        warehouse = self._warehouse(model.table_id)
        table = f"{model.table_id}__lane_input_{run_id}_{attempt}"
        order = ", ".join([*model.settings.key, FINGERPRINT_COLUMN])
        warehouse.drop(table)
        warehouse.execute(
            f"CREATE TABLE {quote(table)} AS SELECT *, ROW_NUMBER() OVER (ORDER BY {order}) AS {ROW} "
            f"FROM ({pending.query})"
        )
        rows = warehouse.run(f"SELECT {ROW}, TO_JSON_STRING(request) FROM {quote(table)} ORDER BY {ROW}")
        return StagedCalls(table, tuple(LaneRequest(int(row[0]), str(row[1])) for row in rows))

    def land_answers(
        self, model: RequestModel, staged: StagedCalls, answers: list[Answer], job_name: str, attempt: int
    ) -> Landed:
        warehouse = self._warehouse(model.table_id)
        tag = re.sub(r"\W", "_", f"{job_name.split('/', 1)[0]}_{job_name.rsplit('/', 1)[-1]}")
        answered, output = f"{staged.input_table}_{tag}_answers", f"{staged.input_table}_{tag}_out"
        rows = [
            {
                ROW: answer.row,
                "response": answer.result.response,
                "status": answer.result.status,
                "processed_time": answer.result.processed_time.isoformat(),
            }
            for answer in answers
        ]
        config = bigquery.LoadJobConfig(
            schema=list(ANSWER_SCHEMA),
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        )
        warehouse.client.load_table_from_json(rows, answered, job_config=config).result()
        warehouse.drop(output)
        warehouse.execute(
            f"CREATE TABLE {quote(output)} AS SELECT i.* EXCEPT ({ROW}), a.response, a.status, a.processed_time "
            f"FROM {quote(staged.input_table)} i JOIN {quote(answered)} a USING ({ROW})"
        )
        if job_name in warehouse.landed_jobs(model.landing_table):  # written before an interrupted run stopped
            count = warehouse.count(output)
        else:
            count = warehouse.land(output, model.landing_table, job_name, attempt)
        landed = self._usage(warehouse, model, output, job_name, count)
        warehouse.drop(answered)
        warehouse.drop(output)
        return landed

    def recover(self, model: RequestModel, known: set[str]) -> list[Recovered]:
        warehouse = self._warehouse(model.table_id)
        if not warehouse.exists(model.landing_table):
            return []
        landing = quote(model.landing_table)
        appends = warehouse.run(
            f"SELECT batch_job_name, MIN(batch_attempt), COUNT(*), COUNTIF(status = '') FROM {landing} "
            f"WHERE {lane_sql('batch_job_name')} != 'batch' GROUP BY batch_job_name"
        )
        found = []
        for name, attempt, count, ok in appends:
            if name in known:
                continue
            rows = f"{model.table_id}__lane_recovered"
            warehouse.drop(rows)
            warehouse.execute(
                f"CREATE TABLE {quote(rows)} AS SELECT * EXCEPT (batch_job_name, batch_attempt, landed_at) "
                f"FROM {landing} WHERE batch_job_name = @job",
                [bigquery.ScalarQueryParameter("job", "STRING", name)],
            )
            landed = self._usage(warehouse, model, rows, name, int(count))
            warehouse.drop(rows)
            found.append(Recovered(name, int(attempt or 1), int(ok), int(count) - int(ok), landed))
        return found

    @staticmethod
    def _usage(warehouse: Warehouse, model: RequestModel, rows: str, job_name: str, count: int) -> Landed:
        """What the answers in table ``rows`` used and cost at the price of ``job_name``'s lane."""
        settings = model.settings
        used = job_usage(warehouse, rows, settings.model, settings.family, lane_of_job(job_name))
        return Landed(
            count,
            prompt_tokens=used.prompt,
            candidate_tokens=used.candidates,
            total_tokens=used.total,
            failures=tuple(warehouse.failure_summary(rows)),
            thoughts_tokens=used.thoughts,
            cached_tokens=used.cached_content,
            cost_usd=used.cost_usd,
        )

    def release(self, staged: StagedCalls) -> None:
        self._warehouse(staged.input_table).drop(staged.input_table)
