"""``vertex-batch doctor``'s model checks: what the model catalog says about each model a project uses, what
Vertex AI answers about it where its jobs will run, and where the two disagree (a stale catalog shows before a
user pays)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from google.api_core import exceptions as core

from vertex_batch.catalog import ModelInfo, catalog, model_name, utc_today
from vertex_batch.checks import Check
from vertex_batch.connections import api_host
from vertex_batch.lifecycle import lifecycle_lines

if TYPE_CHECKING:
    from vertex_batch.connections import Connections


def _one_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    return " ".join(str(text).split())[:300]


def catalog_check(model: str, location: str, today: date | None = None) -> Check:
    """The catalog's verdict on ``model`` for jobs at ``location``: retired or closed to new projects (with the
    replacement) blocks, retiring soon warns, a location it is not served in blocks."""
    today = today or utc_today()
    name = f"model {model_name(model)} (catalog checked {catalog().checked})"
    info = catalog().find(model)
    if info is None:
        return Check(name, "warning", "not in the model catalog: no lifecycle, location or price facts (tuned model?)")
    problem, warning = lifecycle_lines(info, today)
    if problem:
        return Check(name, "problem", problem)
    if not info.served_in(location):
        where = info.where_served()
        return Check(name, "problem", f"not served for batch jobs in {location}; served in {where} (set --location)")
    if warning:
        return Check(name, "warning", warning)
    return Check(name, "ok", f"{info.status(today)}, {info.family}, served in {location}{_price(info, today)}")


def _price(info: ModelInfo, today: date) -> str:
    price = info.price_at(today)
    if price is None:
        return "; no price in the catalog (costs are unknown, --max-cost refuses it)"
    source = catalog().source(price.source)
    note = "" if source.official else f", from a secondary source ({source.url}, read {source.read})"
    return f"; priced ${price.input:g}/${price.output:g} per 1M {price.unit}s standard{note}"


def production_check(connections: Connections, model: str, location: str) -> Check:
    """Ask Vertex AI about ``model`` at ``location``: a free ``countTokens`` for Gemini models, the publisher model
    for the others; a 404 where the catalog says it is served (or an answer where it says retired) is reported
    as the catalog disagreeing with production."""
    info = catalog().find(model)
    name = f"model {model_name(model)} in {location}"
    try:
        if info is None or info.family == "gemini":
            _count_tokens(connections, model, location, info.publisher if info else "google")
        else:
            _publisher_model(connections, info)
    except core.NotFound as error:
        if info is not None and info.served_in(location) and info.status() != "retired":
            return Check(
                name,
                "problem",
                f"Vertex AI answers 404 ({_one_line(error)}) but the model catalog, checked {catalog().checked}, "
                "says it is served there: the catalog may be stale (update vertex_batch/catalog.toml)",
            )
        return Check(name, "problem", f"{_one_line(error)}; pick a model available in {location}")
    except (core.GoogleAPICallError, core.RetryError, OSError) as error:
        return Check(name, "warning", f"could not check ({_one_line(error)})")
    if info is not None and info.status() == "retired":
        return Check(
            name, "warning", f"Vertex AI still answers, but the model catalog says it retired on {info.retirement}"
        )
    return Check(name, "ok", "available")


def _count_tokens(connections: Connections, model: str, location: str, publisher: str) -> None:
    from google.api_core.client_options import ClientOptions
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.LlmUtilityServiceClient(
        credentials=connections.credentials,
        transport="rest",
        client_options=ClientOptions(api_endpoint=connections.vertex_endpoint or api_host(location)),
    )
    resource = f"projects/{connections.project}/locations/{location}/publishers/{publisher}/models/{model_name(model)}"
    client.count_tokens(request={"endpoint": resource, "contents": [{"role": "user", "parts": [{"text": "ping"}]}]})


def _publisher_model(connections: Connections, info: ModelInfo) -> None:
    from google.api_core.client_options import ClientOptions
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.ModelGardenServiceClient(
        credentials=connections.credentials,
        transport="rest",
        client_options=ClientOptions(api_endpoint=connections.vertex_endpoint or "aiplatform.googleapis.com"),
    )
    client.get_publisher_model(name=f"publishers/{info.publisher}/models/{info.id}")
