"""Checks a ``batchPredictionJobs.create`` body and turns it into a new job record.

The body is parsed as the ``BatchPredictionJob`` proto of the request's API version (``aiplatform_v1`` or
``aiplatform_v1beta1``), strictly, as the API front end parses it: an unknown field is a 400 ``Invalid JSON
payload received. Unknown name "<f>" at 'batch_prediction_job': Cannot find field.``; lowerCamelCase and
snake_case names and a single value for a list (the documented curl body's ``"uris": "INPUT_URI"``) are
accepted. Output-only fields the client sends (``modelVersionId``, ``state``, ``createTime`` …) are
ignored, as AIP-203 asks. Refuses, worded as Vertex AI words them where known: models the service does not
serve at that location today (``served_models``: the catalog's models, lifecycle and locations), missing or
malformed input and output settings, IO the model or location does not take (``served_models.check_io``),
labels Vertex AI refuses, options Gemini batch does not support, a BigQuery destination table that already
exists, and inputs with more requests than the model's per-job limit (the catalog's, or the service's lower
``max_requests_per_job``). A missing bucket or dataset is not refused here: the job fails later (code 9).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from google.cloud import aiplatform_v1, aiplatform_v1beta1

from vertex_batch.local import proto_json
from vertex_batch.local.service import bigquery_io, gcs_io, served_models
from vertex_batch.local.service.bigquery_io import BigQueryIO
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError, DestinationError, bad_request
from vertex_batch.local.service.gcs_io import GcsIO
from vertex_batch.local.service.store import PENDING, JobRecord, new_id, now_us

#: The create body's message type per API version.
JOB_TYPES = {"v1": aiplatform_v1.BatchPredictionJob, "v1beta1": aiplatform_v1beta1.BatchPredictionJob}
#: Fields ``batch_prediction_job.proto`` marks OUTPUT_ONLY (the generated Python types drop the
#: annotation, so they are listed here); a client's values for them are ignored.
OUTPUT_ONLY_FIELDS = frozenset(
    {
        "name", "modelVersionId", "outputInfo", "state", "error", "partialFailures", "resourcesConsumed",
        "completionStats", "createTime", "startTime", "endTime", "updateTime", "satisfiesPzs",
        "satisfiesPzi", "modelMonitoringStatsAnomalies", "modelMonitoringStatus",
    }
)  # fmt: skip
#: Options Gemini batch prediction does not support ("custom service accounts, CMEK and VPC-SC are not
#: supported", Vertex AI's batch prediction docs); refused rather than silently ignored.
UNSUPPORTED_FIELDS = {
    "serviceAccount": "a custom service account",
    "encryptionSpec": "customer-managed encryption keys (encryptionSpec)",
}
#: ``BatchPredictionJob.display_name``: "can be up to 128 characters long".
MAX_DISPLAY_NAME = 128
#: Vertex AI's own wording for refused labels (a 400 seen from several Vertex AI resources).
LABELS_MESSAGE = (
    "List of found errors:\t1.Field: batch_prediction_job.labels; Message: There can be no more than 64 "
    "labels attached to a single resource. Label keys and values can only contain lowercase letters, "
    "numbers, dashes and underscores. Label keys must start with a letter or number, must be less than 64 "
    "characters in length, and must be less that 128 bytes in length when encoded in UTF-8. Label values "
    "must be less than 64 characters in length, and must be less that 128 bytes in length when encoded in "
    "UTF-8.\t"
)
_LOCATION = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _input_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("inputConfig")
    if not isinstance(config, dict):
        raise bad_request("BatchPredictionJob.input_config is required.")
    if "vertexMultimodalDatasetSource" in config:
        raise _not_served("a Vertex AI dataset source (vertexMultimodalDatasetSource)")
    source_gcs, source_bq = config.get("gcsSource"), config.get("bigquerySource")
    fmt = config.get("instancesFormat")
    if not fmt:
        raise bad_request("BatchPredictionJob.input_config.instances_format is required: jsonl or bigquery.")
    if bool(source_gcs) == bool(source_bq):
        raise bad_request("input_config must have exactly one of gcs_source and bigquery_source.")
    if source_gcs:
        uris = source_gcs.get("uris")
        if not uris:
            raise bad_request("input_config.gcs_source.uris must name at least one gs:// file.")
        for uri in uris:
            try:
                gcs_io.parse_uri(uri)
            except ValueError as err:
                raise bad_request(str(err)) from None
        if fmt != "jsonl":
            raise bad_request(
                f"instancesFormat {fmt!r} is not supported for batch input from Cloud Storage; use jsonl."
            )
        return {"instancesFormat": "jsonl", "gcsSource": {"uris": uris}}
    uri = source_bq.get("inputUri")
    if not uri:
        raise bad_request("input_config.bigquery_source.input_uri is required, e.g. bq://project.dataset.table.")
    try:
        table = bigquery_io.parse_uri(uri)
    except ValueError as err:
        raise bad_request(str(err)) from None
    if not table.table:
        raise bad_request(f"The BigQuery input {uri} must name a table: bq://project.dataset.table.")
    if fmt != "bigquery":
        raise bad_request(f"instancesFormat {fmt!r} does not match a BigQuery source; use bigquery.")
    return {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": uri}}


def _output_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("outputConfig")
    if not isinstance(config, dict):
        raise bad_request("BatchPredictionJob.output_config is required.")
    if "vertexMultimodalDatasetDestination" in config:
        raise _not_served("a Vertex AI dataset destination (vertexMultimodalDatasetDestination)")
    dest_gcs, dest_bq = config.get("gcsDestination"), config.get("bigqueryDestination")
    fmt = config.get("predictionsFormat")
    if not fmt:
        raise bad_request("BatchPredictionJob.output_config.predictions_format is required: jsonl or bigquery.")
    if bool(dest_gcs) == bool(dest_bq):
        raise bad_request("output_config must have exactly one of gcs_destination and bigquery_destination.")
    if dest_gcs:
        prefix = dest_gcs.get("outputUriPrefix")
        if not prefix:
            raise bad_request("output_config.gcs_destination.output_uri_prefix is required, e.g. gs://bucket/out.")
        try:
            gcs_io.parse_uri(prefix)
        except ValueError as err:
            raise bad_request(str(err)) from None
        if fmt != "jsonl":
            raise bad_request(f"predictionsFormat {fmt!r} does not match a Cloud Storage destination; use jsonl.")
        return {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": prefix}}
    uri = dest_bq.get("outputUri")
    if not uri:
        raise bad_request("output_config.bigquery_destination.output_uri is required, e.g. bq://project.dataset.")
    try:
        bigquery_io.parse_uri(uri)
    except ValueError as err:
        raise bad_request(str(err)) from None
    if fmt != "bigquery":
        raise bad_request(f"predictionsFormat {fmt!r} does not match a BigQuery destination; use bigquery.")
    return {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}


def _labels(body: dict[str, Any]) -> dict[str, str]:
    """The job's labels, checked as Vertex AI checks them (see ``LABELS_MESSAGE``)."""
    labels: dict[str, str] = body.get("labels") or {}
    if len(labels) > 64 or not all(
        key and _label_text_ok(key) and _label_char(key[0]) and _label_text_ok(value) for key, value in labels.items()
    ):
        raise bad_request(LABELS_MESSAGE)
    return labels


def _label_char(char: str) -> bool:
    """A lowercase or caseless (international) letter, or a number."""
    return unicodedata.category(char) in ("Ll", "Lo") or unicodedata.category(char).startswith("N")


def _label_text_ok(text: str) -> bool:
    return len(text) < 64 and len(text.encode()) < 128 and all(c in "-_" or _label_char(c) for c in text)


def _not_served(what: str) -> ApiError:
    """A feature Vertex AI has but the local service cannot serve (not a production refusal)."""
    return ApiError(501, f"The local service does not serve {what}; use Cloud Storage or BigQuery.", "UNIMPLEMENTED")


def parse_body(body: Any, api_version: str = "v1") -> dict[str, Any]:
    """The create body as the ``BatchPredictionJob`` proto reads it (lowerCamelCase proto3 JSON), without
    output-only fields; raises the front end's 400 for unknown names and wrong types."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a BatchPredictionJob JSON object.")
    try:
        fields = proto_json.parse_message(
            JOB_TYPES.get(api_version, aiplatform_v1.BatchPredictionJob), body, "batch_prediction_job"
        )
    except proto_json.ProtoJsonError as err:
        raise bad_request(str(err)) from None
    return {key: value for key, value in fields.items() if key not in OUTPUT_ONLY_FIELDS}


def _unavailable(what: str, err: Exception) -> ApiError:
    return ApiError(503, f"{what} is unavailable: {err}", "UNAVAILABLE")


def build_job(
    config: ServiceConfig,
    project: str,
    location: str,
    body: Any,
    bigquery: Callable[[], BigQueryIO],
    gcs: Callable[[], GcsIO],
    api_version: str = "v1",
) -> JobRecord:
    """A new PENDING job for a create body; raises ``ApiError`` when the body is refused."""
    body = parse_body(body, api_version)
    if not _LOCATION.match(location):
        raise bad_request(f"Invalid location {location!r}.")
    display_name = body.get("displayName", "")
    if not display_name.strip():
        raise bad_request("BatchPredictionJob.display_name is required.")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise bad_request(
            f"BatchPredictionJob.display_name can be up to {MAX_DISPLAY_NAME} characters long; "
            f"this one has {len(display_name)}."
        )
    for key, what in UNSUPPORTED_FIELDS.items():
        if key in body:
            raise bad_request(f"Batch prediction with Gemini models does not support {what}.")
    served = served_models.resolve(body.get("model"), project, location, config.lifecycle_today())
    input_config, output_config = _input_config(body), _output_config(body)
    served_models.check_io(served, location, input_config, output_config)
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
    limit = served_models.request_limit(served.info, config.max_requests_per_job)
    if count is not None and count > limit:
        raise bad_request(
            f"The batch prediction input has {count} requests, more than the limit of "
            f"{limit} requests per job. Split the input into several jobs."
        )
    # Every other field the client set (modelParameters, instanceConfig, …) is kept and echoed, not applied.
    spec: dict[str, Any] = {
        key: value
        for key, value in body.items()
        if key not in ("displayName", "model", "labels", "inputConfig", "outputConfig")
    }
    spec.update(inputConfig=input_config, outputConfig=output_config)
    stamp = now_us()
    return JobRecord(
        id=new_id(),
        project=config.canonical_project(project),
        location=location,
        display_name=display_name,
        model=served.resource,
        model_id=served.model_id,
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
