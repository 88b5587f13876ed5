"""Each family's rows as the runner stages and lands them, its quota of concurrent jobs, and the request builders that
follow the model: checked against the local service's families (production's formats) and the dbt macros."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tests.unit.fakes import World, request_model
from tests.unit.macro_render import package_macros
from vertex_batch.catalog import catalog
from vertex_batch.families import (
    FAMILY_OUTPUTS,
    FAMILY_ROWS,
    embed_content_request_sql,
    fits_publisher_quota,
    job_input_columns,
    job_lines_columns,
    job_model_parameters,
)
from vertex_batch.landing import LANDED_COLUMNS, joined_landing_sql, landing_columns, reserved_columns
from vertex_batch.local.service.families import FAMILIES as SERVICE_FAMILIES
from vertex_batch.request_models import BatchSettings, RequestModel

pytestmark = pytest.mark.unit


def _model(family: str, *, name: str = "answers", project: str = "p") -> RequestModel:
    info = next(model for model in catalog().of_family(family) if model.status() == "available")
    settings = BatchSettings.from_meta(name, {"key": ["id"], "model": info.id})
    return RequestModel(name=name, table_id=f"{project}.ds.{name}", settings=settings, alias=name)


@pytest.mark.parametrize("family", sorted(FAMILY_ROWS))
def test_staged_rows_carry_what_the_service_family_reads(family: str) -> None:
    """The request field, the row id and the lines' fields are the ones production (the local service) reads."""
    rows, service = FAMILY_ROWS[family], SERVICE_FAMILIES[family]
    assert rows.request_field == service.request_key
    lines = [part.split(" AS ")[-1].strip() for part in job_lines_columns(family).split(",")]
    assert lines[0] == rows.row_id_field and rows.request_field in lines
    staged = job_input_columns(family, ["id"])
    assert staged.startswith("id, request_fingerprint, to_hex(sha256(") and "AS custom_id" in staged
    assert not set(reserved_columns(family)) & {"id_of_key", "request"}


def test_key_columns_pass_through_gemini_and_legacy_embedding_jobs() -> None:
    assert job_input_columns("gemini", ["id"]) is None and job_lines_columns("text-embedding") is None


def test_chat_rows_are_openai_batch_lines() -> None:
    staged = job_input_columns("chat-completions", ["id"])
    assert "'POST' AS method" in staged and "'/v1/chat/completions' AS url" in staged and "request AS body" in staged


def test_gemini_embedding_lines_hold_content_and_config() -> None:
    sql = embed_content_request_sql({"outputDimensionality": 256, "autoTruncate": False}, ["task_type", "title"])
    for member in ("'content'", "'embed_content_config'", "'task_type', task_type", "'title', title"):
        assert member in sql
    assert "'output_dimensionality', parse_json('256')" in sql and "'auto_truncate', parse_json('false')" in sql
    assert "embed_content_config" not in embed_content_request_sql()
    assert job_model_parameters("gemini-embedding", {"outputDimensionality": 8}) is None
    assert job_model_parameters("text-embedding", {"outputDimensionality": 8}) == {"outputDimensionality": 8}


@pytest.mark.parametrize("family", sorted(FAMILY_ROWS))
def test_joined_landing_gives_the_landing_columns_in_order(family: str) -> None:
    output = {name for name, _ in FAMILY_ROWS[family].output}
    sql = joined_landing_sql(family, ["a", "b"], "p.d.out", "p.d.in", output)
    names = re.findall(r" AS (\w+)(?:,| FROM)", sql)
    assert sql.startswith("SELECT i.a, i.b, i.request_fingerprint, ")
    assert names == [name for name, _ in landing_columns(family)]
    assert f"ON i.custom_id = o.{FAMILY_ROWS[family].row_id_field}" in sql


def test_chat_landing_derives_status_and_time() -> None:
    sql = joined_landing_sql("chat-completions", ["id"], "o", "i", {"custom_id", "id", "response", "error"})
    assert "IF(o.error IS NULL, '', TO_JSON_STRING(o.error)) AS status" in sql
    assert "TIMESTAMP_SECONDS(SAFE_CAST(JSON_VALUE(o.response, '$.created') AS INT64))" in sql


def test_every_generating_family_lands_the_columns_the_flatten_macros_read() -> None:
    for family in ("gemini", "claude", "chat-completions", "gemini-embedding"):
        names = [name for name, _ in LANDED_COLUMNS[family]]
        assert {"request", "response", "status", "processed_time"} <= set(names), family
    assert set(FAMILY_OUTPUTS) == set(LANDED_COLUMNS)


def test_publisher_quota_counts_jobs_of_one_publisher_in_one_project() -> None:
    claude = _model("claude")
    quota = claude.settings.info.concurrent_jobs_quota
    assert quota
    running = [_model("claude", name=f"other{i}") for i in range(quota)]
    assert not fits_publisher_quota(claude, running)
    assert fits_publisher_quota(claude, [*running[:-1], _model("gemini")])
    assert fits_publisher_quota(claude, [_model("claude", name=f"x{i}", project="q") for i in range(quota)])
    assert fits_publisher_quota(_model("gemini"), [_model("gemini", name=f"g{i}") for i in range(10)])


def test_the_loop_keeps_a_publishers_jobs_within_its_quota() -> None:
    claude = _model("claude")
    quota = claude.settings.info.concurrent_jobs_quota
    settings = replace(claude.settings, max_rows_per_job=10)
    model = RequestModel("claude_rows", "p.ds.claude_rows", settings, alias="claude_rows")
    world = World()
    world.add(model, 10 * (quota + 2))
    gemini = world.add(request_model("gemini_rows", per_job=10), 10 * (quota + 2))
    assert world.settle(world.loop(cap=20), model, gemini)
    jobs = list(world.jobs.jobs.values())

    def running(at: float, table: str) -> int:
        return sum(
            1 for job in jobs if table in job.spec.input_uri and job.created_at <= at < job.created_at + job.duration
        )

    claude_jobs = [job for job in jobs if "claude_rows" in job.spec.input_uri]
    assert len(claude_jobs) == quota + 2
    assert max(running(job.created_at, "claude_rows") for job in claude_jobs) == quota
    assert max(running(job.created_at, "gemini_rows") for job in jobs) == quota + 2, "no quota for Gemini"


# --- request builders ---------------------------------------------------------------------------------------------
class CompilerErrors:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise ValueError(message)


DBT_CONTEXT = {
    "var": lambda name, default=None: default,
    "tojson": lambda value, default=None, sort_keys=False: json.dumps(value, sort_keys=sort_keys),
    "exceptions": CompilerErrors,
}
BUILDERS = package_macros(
    "_internal/helpers.sql",
    "_internal/catalog.sql",
    "responses/response_fields.sql",
    "requests/gemini_request.sql",
    "requests/family_requests.sql",
    globals=DBT_CONTEXT,
)


def _first(family: str) -> str:
    return next(model.id for model in catalog().of_family(family) if model.status() == "available")


def test_prompt_request_follows_the_models_family() -> None:
    args = {"prompt": "review_text", "max_output_tokens": 64, "thinking_level": "low"}
    gemini = BUILDERS.prompt_request(model=_first("gemini"), **args)
    assert "'contents'" in gemini and '"maxOutputTokens": 64' in gemini and '"thinkingLevel": "LOW"' in gemini
    claude = BUILDERS.prompt_request(model=_first("claude"), **args)
    assert "'anthropic_version', 'vertex-2023-10-16'" in claude and "'max_tokens', 64" in claude
    assert '{"type": "adaptive"}' in claude and "'effort', 'low'" in claude
    chat = BUILDERS.prompt_request(model=_first("chat-completions"), **args)
    assert "'messages'" in chat and "'max_tokens', 64" in chat and "'reasoning_effort', 'low'" in chat
    with pytest.raises(ValueError, match="embeddings request model"):
        BUILDERS.prompt_request(model=_first("gemini-embedding"), prompt="review_text")


def test_claude_max_tokens_defaults_to_the_catalogs_output_limit() -> None:
    model = catalog().get(_first("claude"))
    body = BUILDERS.claude_request(prompt="review_text", model=model.id)
    assert f"'max_tokens', {model.default_output_tokens or model.max_output_tokens}" in body


def test_structured_output_in_each_familys_field() -> None:
    schema = {"type": "object", "properties": {"sentiment": {"type": "string"}}}
    gemini = BUILDERS.prompt_request("t", response_schema=schema, model=_first("gemini"))
    assert '"responseJsonSchema"' in gemini and '"responseMimeType": "application/json"' in gemini
    claude = BUILDERS.prompt_request("t", response_schema=schema, model=_first("claude"), max_output_tokens=8)
    assert '"type": "json_schema", "schema"' in claude and "'output_config'" in claude
    chat = BUILDERS.prompt_request("t", response_schema=schema, model=_first("chat-completions"))
    assert "'response_format'" in chat and '"json_schema": {"name": "response"' in chat
