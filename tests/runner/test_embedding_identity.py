"""The embeddings side of the identity contract in Python, and its agreement with the dbt macros' rules."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from vertex_batch import identity
from vertex_batch.errors import RequestTableError
from vertex_batch.request_models import BatchSettings, embedding_parameters

pytestmark = pytest.mark.unit

MACROS = Path(__file__).resolve().parents[2] / "macros" / "requests" / "embedding_request.sql"


def _macro_list(name: str) -> tuple[str, ...]:
    body = MACROS.read_text().split(f"{{% macro {name}() %}}", 1)[1].split("{% endmacro %}", 1)[0]
    return tuple(re.findall(r"'([^']+)'", body))


def test_macro_and_python_share_the_rules() -> None:
    assert _macro_list("_embedding_optional_columns") == identity.EMBEDDING_OPTIONAL_COLUMNS


@pytest.mark.parametrize(
    ("model", "family", "expected"),
    [
        ("text-embedding-005", None, "embed"),
        ("publishers/google/models/text-multilingual-embedding-002@default", None, "embed"),
        ("projects/p/locations/us-central1/publishers/google/models/text-embedding-005", None, "embed"),
        ("gemini-embedding-001", None, "embed"),
        ("gemini-3.5-flash", None, "generate"),
        ("projects/p/locations/l/models/7", "text-embedding", "embed"),
        ("projects/p/locations/l/models/7", "gemini", "generate"),
    ],
)
def test_kind_follows_the_catalog_family(model: str, family: str | None, expected: str) -> None:
    settings = BatchSettings.from_meta("m", {"key": "id", "model": model, **({"family": family} if family else {})})
    assert settings.kind == expected
    macros = _kind_macros()
    assert macros.model_kind(model, family) == expected


def _kind_macros():
    from tests.unit.macro_render import package_macros

    return package_macros(
        "_internal/helpers.sql",
        "_internal/catalog.sql",
        "responses/response_fields.sql",
        "requests/embedding_request.sql",
        globals={
            "tojson": lambda value, sort_keys=False: json.dumps(value, sort_keys=sort_keys),
            "var": lambda name, default=None: default,
        },
    )


def test_embedding_parameters() -> None:
    assert embedding_parameters({}) == {}
    assert embedding_parameters({"output_dimensionality": "64", "auto_truncate": False}) == {
        "outputDimensionality": 64,
        "autoTruncate": False,
    }
    merged = embedding_parameters({"model_parameters": {"autoTruncate": True}, "output_dimensionality": 8})
    assert identity.canonical_params(merged) == '{"autoTruncate": true, "outputDimensionality": 8}'


def test_embedding_fingerprint_sql() -> None:
    sql = identity.embedding_fingerprint_sql(
        "publishers/google/models/text-embedding-005", {"outputDimensionality": 64}
    )
    assert sql == (
        "to_hex(sha256(concat('text-embedding-005', '\\n', '{\"outputDimensionality\": 64}', '\\n', "
        "to_json_string(content))))"
    )
    with_optional = identity.embedding_fingerprint_sql("text-embedding-005", None, ["title", "task_type"])
    assert with_optional.index("task_type=") < with_optional.index("title=")
    columns = identity.embedding_staged_columns_sql(["id"], "text-embedding-005", None, ["title"])
    assert columns.startswith("id, content, title, to_hex(")
    assert columns.endswith(" AS request_fingerprint")
    # The hash is over model, parameters and payload joined by newlines, as for generate requests.
    expected = hashlib.sha256(b'text-embedding-005\n{}\n"hello"').hexdigest()
    assert identity.fingerprint("text-embedding-005", None, '"hello"') == expected


def test_embeddings_request_model_settings() -> None:
    meta = {"key": "id", "model": "text-embedding-005", "output_dimensionality": 256}
    settings = BatchSettings.from_meta("reviews", meta)
    assert (settings.kind, settings.model_parameters) == ("embed", {"outputDimensionality": 256})
    assert settings.max_rows_per_job == 30_000, "the catalog's limit for text embeddings"
    assert BatchSettings.from_meta("reviews", {**meta, "max_rows_per_job": 1000}).max_rows_per_job == 1000
    gemini = BatchSettings.from_meta("reviews", {"key": "id"})
    assert (gemini.kind, gemini.model_parameters, gemini.max_rows_per_job) == ("generate", None, 200_000)
    with pytest.raises(RequestTableError, match="family"):
        BatchSettings.from_meta("reviews", {**meta, "family": "vectors"})


def test_embedding_jobs_carry_model_parameters() -> None:
    from google.cloud import aiplatform_v1

    from vertex_batch.job_client import job_proto
    from vertex_batch.jobs import JobSpec

    spec = JobSpec("d", "text-embedding-005", "bq://p.d.t", "bq://p.d", {}, {"outputDimensionality": 64})
    body = aiplatform_v1.BatchPredictionJob.to_dict(job_proto(spec, "p", "us-central1"))
    assert body["model_parameters"] == {"outputDimensionality": 64.0}
    assert body["model"] == "projects/p/locations/us-central1/publishers/google/models/text-embedding-005"
    gemini = JobSpec("d", "gemini-3.5-flash", "bq://p.d.t", "bq://p.d", {})
    assert "modelParameters" not in aiplatform_v1.BatchPredictionJob.to_json(job_proto(gemini, "p", "us-central1"))
    claude = JobSpec("d", "claude-sonnet-5", "bq://p.d.t", "bq://p.d", {})
    assert job_proto(claude, "p", "us-east5").model.endswith("/publishers/anthropic/models/claude-sonnet-5")


@pytest.mark.parametrize(
    ("model", "meta", "optional"),
    [
        ("text-embedding-005", {}, []),
        ("publishers/google/models/text-embedding-005", {"output_dimensionality": 64}, ["task_type"]),
        (
            "text-multilingual-embedding-002",
            {"auto_truncate": False, "output_dimensionality": 8},
            ["task_type", "title"],
        ),
        ("text-embedding-005", {"model_parameters": {"autoTruncate": True}}, ["title"]),
    ],
)
def test_macro_renders_the_runners_fingerprint(model: str, meta: dict, optional: list[str]) -> None:
    """The dbt macro and vertex_batch.identity render the same SQL for the same model, parameters and columns."""
    macros = _kind_macros()
    params = macros.embedding_parameters(meta)
    assert params == embedding_parameters(meta)
    assert macros.embedding_fingerprint(model, params, "content", optional) == identity.embedding_fingerprint_sql(
        model, params, optional
    )


def test_job_loop_splits_embeddings_at_30000_rows_and_sends_their_parameters() -> None:
    from tests.unit.fakes import World
    from vertex_batch.request_models import RequestModel

    settings = BatchSettings.from_meta("reviews", {"key": "id", "model": "text-embedding-005", "auto_truncate": False})
    model = RequestModel(name="reviews", table_id="p.ds.reviews", settings=settings, alias="reviews")
    world = World()
    world.add(model, 45_000)
    loop = world.loop()
    world.settle(loop, model, wait=True)
    specs = [job.spec for job in world.jobs.jobs.values()]
    assert [staged.rows for staged in world.warehouse.staged] == [30_000, 15_000]
    assert all(spec.model == "text-embedding-005" for spec in specs)
    assert all(spec.model_parameters == {"autoTruncate": False} for spec in specs)
    assert len(world.warehouse.answered("reviews")) == 45_000
