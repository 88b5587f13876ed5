"""Checks a ``batchPredictionJobs.create`` body and turns it into a new job record.

Accepts what Vertex AI accepts, including the documented curl body where ``gcsSource.uris`` is a single
string; field names may be lowerCamelCase or snake_case. Refuses, with 400/404 errors worded as Vertex AI
words them: unknown models, missing or malformed input and output settings, a BigQuery destination table
that already exists, and inputs with more requests than ``max_requests_per_job``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vertex_batch.local.service import bigquery_io, gcs_io
from vertex_batch.local.service.bigquery_io import BigQueryIO
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError, DestinationError, bad_request, not_found
from vertex_batch.local.service.gcs_io import GcsIO
from vertex_batch.local.service.store import PENDING, JobRecord, new_id, now_us

#: Other BatchPredictionJob fields a create may set; they are echoed back unchanged.
ECHOED_FIELDS = (
    "modelVersionId",
    "instanceConfig",
    "modelParameters",
    "dedicatedResources",
    "serviceAccount",
    "manualBatchTuningParameters",
    "generateExplanation",
    "explanationSpec",
    "encryptionSpec",
    "disableContainerLogging",
)
_PUBLISHER_MODEL = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/google/)?models/(?P<id>[^/@]+)(?:@[^/]*)?$"
)
_LOCATION = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def field(obj: Mapping[str, Any], camel: str) -> Any:
    """``obj[camel]`` or its snake_case spelling."""
    if camel in obj:
        return obj[camel]
    return obj.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


def model_id(model: Any, known: tuple[str, ...]) -> str:
    """The Gemini model id a ``model`` field names; raises a 404 for unknown models."""
    if not isinstance(model, str) or not model.strip():
        raise bad_request(
            "BatchPredictionJob.model is required, e.g. publishers/google/models/gemini-2.5-flash."
        )
    model = model.strip()
    if re.match(r"^projects/[^/]+/locations/[^/]+/models/[^/]+$", model):
        raise not_found(f"The Model {model} does not exist.")
    match = _PUBLISHER_MODEL.match(model if "/" in model else f"models/{model}")
    if not match:
        raise bad_request(
            f"Invalid model name {model!r}: use publishers/google/models/MODEL or "
            "projects/PROJECT/locations/LOCATION/publishers/google/models/MODEL."
        )
    name = match.group("id")
    if name not in known:
        raise not_found(f"The PublisherModel {name} does not exist.")
    return name


def _input_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config = field(body, "inputConfig")
    if not isinstance(config, dict):
        raise bad_request("BatchPredictionJob.input_config is required.")
    source_gcs, source_bq = field(config, "gcsSource"), field(config, "bigquerySource")
    fmt = field(config, "instancesFormat")
    if bool(source_gcs) == bool(source_bq):
        raise bad_request("input_config must have exactly one of gcs_source and bigquery_source.")
    if source_gcs:
        uris = field(source_gcs, "uris") if isinstance(source_gcs, dict) else None
        if isinstance(uris, str):
            uris = [uris]
        if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
            raise bad_request("input_config.gcs_source.uris must name at least one gs:// file.")
        for uri in uris:
            try:
                gcs_io.parse_uri(uri)
            except ValueError as err:
                raise bad_request(str(err)) from None
        if fmt not in (None, "", "jsonl"):
            raise bad_request(f"instancesFormat {fmt!r} is not supported for Gemini batch input; use jsonl.")
        return {"instancesFormat": "jsonl", "gcsSource": {"uris": uris}}
    uri = field(source_bq, "inputUri") if isinstance(source_bq, dict) else None
    if not isinstance(uri, str):
        raise bad_request(
            "input_config.bigquery_source.input_uri is required, e.g. bq://project.dataset.table."
        )
    try:
        table = bigquery_io.parse_uri(uri)
    except ValueError as err:
        raise bad_request(str(err)) from None
    if not table.table:
        raise bad_request(f"The BigQuery input {uri} must name a table: bq://project.dataset.table.")
    if fmt not in (None, "", "bigquery"):
        raise bad_request(f"instancesFormat {fmt!r} does not match a BigQuery source; use bigquery.")
    return {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": uri}}


def _output_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config = field(body, "outputConfig")
    if not isinstance(config, dict):
        raise bad_request("BatchPredictionJob.output_config is required.")
    dest_gcs, dest_bq = field(config, "gcsDestination"), field(config, "bigqueryDestination")
    fmt = field(config, "predictionsFormat")
    if bool(dest_gcs) == bool(dest_bq):
        raise bad_request("output_config must have exactly one of gcs_destination and bigquery_destination.")
    if dest_gcs:
        prefix = field(dest_gcs, "outputUriPrefix") if isinstance(dest_gcs, dict) else None
        if not isinstance(prefix, str):
            raise bad_request(
                "output_config.gcs_destination.output_uri_prefix is required, e.g. gs://bucket/out."
            )
        try:
            gcs_io.parse_uri(prefix)
        except ValueError as err:
            raise bad_request(str(err)) from None
        if fmt not in (None, "", "jsonl"):
            raise bad_request(
                f"predictionsFormat {fmt!r} does not match a Cloud Storage destination; use jsonl."
            )
        return {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": prefix}}
    uri = field(dest_bq, "outputUri") if isinstance(dest_bq, dict) else None
    if not isinstance(uri, str):
        raise bad_request(
            "output_config.bigquery_destination.output_uri is required, e.g. bq://project.dataset."
        )
    try:
        bigquery_io.parse_uri(uri)
    except ValueError as err:
        raise bad_request(str(err)) from None
    if fmt not in (None, "", "bigquery"):
        raise bad_request(f"predictionsFormat {fmt!r} does not match a BigQuery destination; use bigquery.")
    return {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}


def _labels(body: Mapping[str, Any]) -> dict[str, str]:
    labels = field(body, "labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
    ):
        raise bad_request("labels must map strings to strings.")
    return labels


def _unavailable(what: str, err: Exception) -> ApiError:
    return ApiError(503, f"{what} is unavailable: {err}", "UNAVAILABLE")


def build_job(
    config: ServiceConfig,
    project: str,
    location: str,
    body: Any,
    bigquery: Callable[[], BigQueryIO],
    gcs: Callable[[], GcsIO],
) -> JobRecord:
    """A new PENDING job for a create body; raises ``ApiError`` when the body is refused."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a BatchPredictionJob JSON object.")
    if not _LOCATION.match(location):
        raise bad_request(f"Invalid location {location!r}.")
    display_name = field(body, "displayName")
    if not isinstance(display_name, str) or not display_name.strip():
        raise bad_request("BatchPredictionJob.display_name is required.")
    model = body.get("model")
    name = model_id(model, config.models)
    model = model.strip() if "/" in model else f"publishers/google/models/{model.strip()}"
    input_config, output_config = _input_config(body), _output_config(body)
    labels = _labels(body)

    # A missing bucket or dataset is not refused here: the job fails later with code 9, as on Vertex AI.
    bq_dest = output_config.get("bigqueryDestination")
    if bq_dest:
        try:
            bigquery().check_destination(bq_dest["outputUri"])
        except DestinationError as err:
            raise bad_request(str(err)) from None
        except Exception as err:
            raise _unavailable("BigQuery", err) from None

    count = _count_requests(input_config, bigquery, gcs)
    if count is not None and count > config.max_requests_per_job:
        raise bad_request(
            f"The batch prediction input has {count} requests, more than the limit of "
            f"{config.max_requests_per_job} requests per job. Split the input into several jobs."
        )
    spec: dict[str, Any] = {"inputConfig": input_config, "outputConfig": output_config}
    for key in ECHOED_FIELDS:
        value = field(body, key)
        if value is not None:
            spec[key] = value
    stamp = now_us()
    return JobRecord(
        id=new_id(),
        project=config.canonical_project(project),
        location=location,
        display_name=display_name,
        model=model,
        model_id=name,
        state=PENDING,
        create_us=stamp,
        update_us=stamp,
        labels=labels,
        spec=spec,
        input_count=count,
    )


def _count_requests(
    input_config: dict[str, Any], bigquery: Callable[[], BigQueryIO], gcs: Callable[[], GcsIO]
) -> int | None:
    """Requests in the input, or ``None`` when it cannot be read now (the job then fails when it runs)."""
    try:
        if "bigquerySource" in input_config:
            return bigquery().count_rows(input_config["bigquerySource"]["inputUri"])
        return gcs().count_rows(input_config["gcsSource"]["uris"])
    except Exception:
        return None
