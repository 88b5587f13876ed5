"""What the local service serves and refuses, read from the model catalog (``vertex_batch.catalog``).

A batch job's ``model`` is refused at create as production refuses it (sources in ``catalog.toml`` and below):

- A model the catalog does not know, or a publisher other than the catalog's (``publishers/anthropic/models/
  gemini-3.5-flash``): 404 ``The PublisherModel X does not exist.`` (live captures of batch create).
- A retired model: the same 404 (the model-versions page: requests to a retired id "typically" get a 404;
  a decommissioned Gemini version failed batch jobs with ``5 NOT_FOUND``, GoogleCloudPlatform/nodejs-docs-
  samples#4373). The wording is inferred: a retired id no longer names a publisher model.
- A model whose new access is blocked (the month before retirement) to a project that never used it, which
  the local project never did: 404 ``Publisher Model `projects/…/models/X` was not found or your project does
  not have access to it. …`` (production's wording for models a project may not use, seen on online calls;
  for batch create it is inferred).
- A model the catalog lists without batch support: 400 ``Do not support publisher model X`` (batch create
  captures, googleapis/python-genai#704).
- A location where the model is not served (``ModelInfo.served_in``: regions, ``global`` for base models whose
  entry has ``global_endpoint``, ``us``/``eu`` multi-region endpoints): the same 404 as blocked access
  (Firebase's locations page: a request to a location without the model gets that 404; inferred for batch).
- ``global`` with a tuned model (``projects/P/locations/L/models/ID``): 400 (the batch-inference page: the
  global endpoint serves base models, not tuned ones; wording inferred).
- ``global`` with a BigQuery source or destination: 400 (Google's batch notebook, GoogleCloudPlatform/
  generative-ai#2391: "Batch predictions using BigQuery currently does not support Global endpoints"; the
  newest batch-inference page does not mention it; wording inferred).
- BigQuery or Cloud Storage IO the model's ``batch_io`` lacks (Gemini embeddings: "BigQuery tables are not
  supported for Gemini embedding models"): 400, wording after that sentence.

"Today" is the real UTC date unless ``VERTEX_LOCAL_TODAY`` (``YYYY-MM-DD``) says otherwise, for tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from vertex_batch.catalog import ModelInfo, catalog, utc_today
from vertex_batch.local.service.errors import ApiError, bad_request, not_found

#: The one setting that moves the service's notion of today (ISO date), e.g. ``VERTEX_LOCAL_TODAY=2026-10-01``.
TODAY_ENV = "VERTEX_LOCAL_TODAY"
#: Where production's "no access" 404 sends readers.
MODEL_VERSIONS_URL = "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
_MODEL = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/(?P<publisher>[^/]+)/)?models/(?P<id>[^/@]+)(?:@(?P<version>[^/]*))?$"
)
_TUNED = re.compile(r"^projects/[^/]+/locations/[^/]+/models/[^/]+$")
GLOBAL = "global"


def service_today() -> date:
    """Today for lifecycle rules: ``VERTEX_LOCAL_TODAY`` if set, else the UTC date."""
    raw = os.environ.get(TODAY_ENV, "").strip()
    if not raw:
        return utc_today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{TODAY_ENV}={raw!r} is not a date like 2026-10-01") from None


@dataclass(frozen=True)
class ServedModel:
    """A model a job may use: its catalog entry, the resource name the job keeps and the id it was asked by."""

    info: ModelInfo
    resource: str  # publishers/P/models/ID[@version], or the full name the client sent
    model_id: str  # the id as asked, without @version (output rows name it: ``<id>@default``)


def no_access(project: str, location: str, publisher: str, model_id: str) -> ApiError:
    """Production's 404 for a model a project may not use (or that is not served where it was asked)."""
    resource = f"projects/{project}/locations/{location}/publishers/{publisher}/models/{model_id}"
    return not_found(
        f"Publisher Model `{resource}` was not found or your project does not have access to it. Please ensure "
        f"you are using a valid model version. For more information, see: {MODEL_VERSIONS_URL}"
    )


def resolve(model: Any, project: str, location: str, today: date | None = None) -> ServedModel:
    """The model a create body's ``model`` names, if the service serves it at ``location`` today; else the
    ``ApiError`` production answers (see the module docstring)."""
    if not isinstance(model, str) or not model.strip():
        raise bad_request("BatchPredictionJob.model is required, e.g. publishers/google/models/gemini-3.5-flash.")
    model = model.strip()
    if _TUNED.match(model):
        if location == GLOBAL:
            raise bad_request(
                f"The global endpoint serves base models only; the tuned model {model} runs in its own region."
            )
        raise not_found(f"The Model {model} does not exist.")
    match = _MODEL.match(model if "/" in model else f"models/{model}")
    if not match:
        raise bad_request(
            f"Invalid model name {model!r}: use publishers/PUBLISHER/models/MODEL or "
            "projects/PROJECT/locations/LOCATION/publishers/PUBLISHER/models/MODEL."
        )
    publisher, model_id, version = match.group("publisher") or "google", match.group("id"), match.group("version")
    info = catalog().find(f"{model_id}@{version}" if version else model_id)
    today = today or service_today()
    if info is None or info.publisher != publisher or info.status(today) == "retired":
        raise not_found(f"The PublisherModel {model_id} does not exist.")
    if info.new_access_blocked(today) or not info.served_in(location):
        raise no_access(project, location, publisher, model_id)
    if not info.batch_io:
        raise bad_request(f"Do not support publisher model {model_id}")
    resource = model if "/" in model else f"publishers/google/models/{model}"
    return ServedModel(info=info, resource=resource, model_id=model_id)


def check_io(served: ServedModel, location: str, input_config: dict[str, Any], output_config: dict[str, Any]) -> None:
    """Refuse IO the model or the location does not take (a 400, see the module docstring)."""
    uses_bigquery = "bigquerySource" in input_config or "bigqueryDestination" in output_config
    uses_gcs = "gcsSource" in input_config or "gcsDestination" in output_config
    name = served.info.name
    if uses_bigquery and "bigquery" not in served.info.batch_io:
        raise bad_request(
            f"BigQuery tables are not supported for {name} ({served.model_id}): batch inputs and outputs must be "
            "JSON Lines files in Cloud Storage."
        )
    if uses_gcs and "gcs" not in served.info.batch_io:
        raise bad_request(f"Cloud Storage files are not supported for {name}; use BigQuery tables.")
    if uses_bigquery and location == GLOBAL:
        raise bad_request(
            "Batch prediction with a BigQuery source or destination is not supported at the global endpoint; "
            "use a regional location such as us-central1, or JSONL files in Cloud Storage."
        )


def request_limit(info: ModelInfo, configured: int) -> int:
    """Requests one job may hold: the catalog's per-job limit, or the service's own lower limit."""
    return min(configured, info.max_rows_per_job)


def model_info(model_id: str) -> ModelInfo:
    """The catalog entry of a stored job's model id."""
    return catalog().get(model_id)


def online_model(publisher: str, model_id: str, project: str, location: str) -> ModelInfo:
    """The Gemini model an online ``generateContent``/``countTokens`` call names; production's 404 otherwise."""
    info = catalog().find(model_id)
    today = service_today()
    if (
        info is None
        or info.publisher != publisher
        or info.family != "gemini"
        or info.status(today) == "retired"
        or info.new_access_blocked(today)
        or not info.served_in(location)
    ):
        raise no_access(project, location, publisher, model_id)
    return info
