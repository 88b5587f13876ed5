"""What the local service serves and refuses, read from the model catalog (``vertex_batch.catalog``).

One rule for batch create and the online endpoint: a model is usable when the catalog knows it under that
publisher, it is not retired, its new access is not blocked and it is served at the location
(``usable``). The local project counts as a project that never used any model, so a model whose new access
is blocked (the month before retirement) is refused like a retired one (the research note's recommendation:
"for a project with no prior use, answer a blocked model exactly like a retired one").

Refusals, as production words them (sources in ``catalog.toml`` and below):

- A retired model, a blocked one, or a location where the model is not served (``ModelInfo.served_in``:
  regions, ``global`` for entries with ``global_endpoint``, ``us``/``eu`` multi-region endpoints): 404
  NOT_FOUND ``Publisher Model `projects/P/locations/L/publishers/X/models/M` was not found or your project
  does not have access to it. Please ensure you are using a valid model version. For more information, see:
  https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`` (``no_access``, the one owner
  of that text). Captured online for retired ids (googlecodelabs/feedback#1881, earendil-works/pi#2463) and for
  models outside their locations (pollinations/pollinations#6148; Firebase AI Logic's locations page); for
  batch create the wording is inferred ("anything that resolves a publisher model").
- Batch create naming a model the catalog does not know, or a publisher other than the catalog's
  (``publishers/anthropic/models/<a Gemini model>``): 404 ``The PublisherModel X does not exist.`` (the
  project reference's capture of batch create). Online, the same request gets ``no_access``.
- A model the catalog lists without batch support: 400 ``Do not support publisher model X`` (batch create
  captures, googleapis/python-genai#704).
- ``global`` with a tuned model (``projects/P/locations/L/models/ID``): 400 (the batch-inference page: the
  global endpoint serves base models, not tuned ones; wording inferred).
- ``global`` with a BigQuery source or destination: 400 (Google's batch notebook, GoogleCloudPlatform/
  generative-ai#2391: "Batch predictions using BigQuery currently does not support Global endpoints"; the
  newest batch-inference page does not mention it; wording inferred).
- BigQuery or Cloud Storage IO the model's ``batch_io`` lacks (Gemini embeddings: "BigQuery tables are not
  supported for Gemini embedding models"): 400, wording after that sentence.

"Today" is the service's ``ServiceConfig.lifecycle_today()`` (``--today``/``VERTEX_LOCAL_TODAY``, else the UTC
date), passed in by the callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from vertex_batch.catalog import ModelInfo, catalog
from vertex_batch.local.service.errors import ApiError, bad_request, not_found

#: Where production's "no access" 404 sends readers.
MODEL_VERSIONS_URL = "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
_MODEL = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/(?P<publisher>[^/]+)/)?models/(?P<id>[^/@]+)(?:@(?P<version>[^/]*))?$"
)
_TUNED = re.compile(r"^projects/[^/]+/locations/[^/]+/models/[^/]+$")
GLOBAL = "global"


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


def usable(info: ModelInfo, location: str, today: date) -> bool:
    """Whether the local project may use ``info`` at ``location`` today (batch create and online alike)."""
    return info.status(today) != "retired" and not info.new_access_blocked(today) and info.served_in(location)


def resolve(model: Any, project: str, location: str, today: date) -> ServedModel:
    """The model a create body's ``model`` names, if the service serves it at ``location`` today; else the
    ``ApiError`` production answers (see the module docstring)."""
    if not isinstance(model, str) or not model.strip():
        raise bad_request("BatchPredictionJob.model is required, e.g. publishers/google/models/MODEL.")
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
    if info is None or info.publisher != publisher:
        raise not_found(f"The PublisherModel {model_id} does not exist.")
    if not usable(info, location, today):
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
    """Requests one job may hold: the catalog's per-job limit, or the service's own lower limit (the service's
    alone when the catalog documents none, as for Claude and open models)."""
    return configured if info.max_rows_per_job is None else min(configured, info.max_rows_per_job)


def model_info(model_id: str) -> ModelInfo:
    """The catalog entry of a stored job's model id."""
    return catalog().get(model_id)


def online_model(publisher: str, model_id: str, project: str, location: str, today: date) -> ModelInfo:
    """The Gemini model an online ``generateContent``/``countTokens`` call names; production's 404 otherwise."""
    info = catalog().find(model_id)
    if info is None or info.publisher != publisher or info.family != "gemini" or not usable(info, location, today):
        raise no_access(project, location, publisher, model_id)
    return info
