"""Flex PayGo on the online endpoint: which calls are served as Flex (``usageMetadata.trafficType``), through
google-genai and aiplatform's PredictionServiceClient unchanged; Flex's payload limit, its throttling, the
concurrency bound and deadlines. Models come from the shipped catalog (a Flex, a non-Flex and a retired Gemini model),
served by the app in this process on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from google import genai
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.genai import types
from google.oauth2.credentials import Credentials
from starlette.datastructures import Headers
from svc_helpers import PROJECT, call, request_for

from vertex_batch.catalog import catalog, utc_today
from vertex_batch.local.service import served_models
from vertex_batch.local.service.app import create_app
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError
from vertex_batch.local.service.faults import RESOURCE_EXHAUSTED
from vertex_batch.local.service.online import (
    FLEX,
    FLEX_MAX_PAYLOAD_BYTES,
    STANDARD,
    check_payload,
    deadline_s,
    parse_model_ref,
    traffic_type,
)
from vertex_batch.local.stack import free_ports

FLEX_MODEL = next(m.id for m in catalog().of_family("gemini") if m.flex and m.status() == "available")
PLAIN_MODEL = next(m.id for m in catalog().of_family("gemini") if not m.flex and m.status() == "available")
RETIRED_MODEL = next(m.id for m in catalog().of_family("gemini") if m.status() == "retired")
REGIONLESS_MODEL = next(m.id for m in catalog().of_family("gemini") if m.regions == () and m.status() == "available")
#: A location other than ``global`` where the catalog serves the Flex model (a region or ``us``/``eu``).
FLEX_ELSEWHERE = next(where for where in ("us-central1", "us", "eu") if catalog().get(FLEX_MODEL).served_in(where))
FLEX_HEADERS = {"X-Vertex-AI-LLM-Shared-Request-Type": "flex", "X-Vertex-AI-LLM-Request-Type": "shared"}
TrafficType = aiplatform_v1.GenerateContentResponse.UsageMetadata.TrafficType


def model_path(location: str, model: str = FLEX_MODEL) -> str:
    return f"/v1/projects/{PROJECT}/locations/{location}/publishers/google/models/{model}:generateContent"


# -- rules, without a server ------------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("publisher", "model", "location"),
    [
        ("google", RETIRED_MODEL, "global"),
        ("google", "text-embedding-005", "us-central1"),
        ("google", "gemini-9-ultra", "global"),
        ("anthropic", FLEX_MODEL, "global"),
        ("google", REGIONLESS_MODEL, "asia-south2"),
    ],
)
def test_only_live_gemini_models_of_the_catalog_answer_where_served(publisher: str, model: str, location: str) -> None:
    resource = f"projects/{PROJECT}/locations/{location}"
    with pytest.raises(ApiError) as info:
        parse_model_ref(publisher, f"{model}:generateContent", resource, utc_today())
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    assert info.value.message == (
        f"Publisher Model `{resource}/publishers/{publisher}/models/{model}` was not found or your project does "
        "not have access to it. Please ensure you are using a valid model version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
    )
    found = parse_model_ref("google", f"{FLEX_MODEL}:countTokens", f"projects/{PROJECT}/locations/global", utc_today())
    assert found.id == FLEX_MODEL


@pytest.mark.unit
def test_online_and_batch_refuse_a_blocked_model_alike() -> None:
    """The month before retirement, new access is blocked online as in batch (the local project is new)."""
    blocked = next(m for m in catalog().of_family("gemini") if m.access_blocked and m.served_in("global"))
    resource = f"projects/{PROJECT}/locations/global"
    with pytest.raises(ApiError) as online:
        parse_model_ref("google", f"{blocked.id}:generateContent", resource, blocked.access_blocked)
    with pytest.raises(ApiError) as batch:
        served_models.resolve(blocked.id, PROJECT, "global", blocked.access_blocked)
    assert online.value.message == batch.value.message and online.value.code == 404
    before = blocked.access_blocked - timedelta(days=1)
    assert parse_model_ref("google", f"{blocked.id}:countTokens", resource, before) is blocked


@pytest.mark.unit
@pytest.mark.parametrize(
    ("headers", "location", "model", "lane"),
    [
        ({"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}, "global", FLEX_MODEL, FLEX),
        (FLEX_HEADERS, "GLOBAL", FLEX_MODEL, FLEX),
        ({}, "global", FLEX_MODEL, STANDARD),
        ({"X-Vertex-AI-LLM-Request-Type": "shared"}, "global", FLEX_MODEL, STANDARD),
        ({"X-Vertex-AI-LLM-Shared-Request-Type": "priority"}, "global", FLEX_MODEL, STANDARD),
        (FLEX_HEADERS, "us-central1", FLEX_MODEL, STANDARD),
        (FLEX_HEADERS, "us", FLEX_MODEL, STANDARD),
        (FLEX_HEADERS, "global", PLAIN_MODEL, STANDARD),
    ],
)
def test_flex_only_on_global_for_flex_models(headers: dict, location: str, model: str, lane: str) -> None:
    assert traffic_type(Headers(headers), location, catalog().get(model)) == lane


@pytest.mark.unit
def test_flex_payload_limit_and_deadlines() -> None:
    check_payload(FLEX, FLEX_MAX_PAYLOAD_BYTES)
    check_payload(STANDARD, FLEX_MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(ApiError) as info:
        check_payload(FLEX, FLEX_MAX_PAYLOAD_BYTES + 1)
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    assert info.value.message == "Request payload size exceeds the limit: 20971520 bytes."
    assert (deadline_s(Headers({}), STANDARD), deadline_s(Headers({}), FLEX)) == (600, 1200)
    assert deadline_s(Headers({"X-Server-Timeout": "3600"}), FLEX) == 1800
    assert deadline_s(Headers({"X-Server-Timeout": "3600"}), STANDARD) == 3600
    assert deadline_s(Headers({"X-Server-Timeout": "soon"}), STANDARD) == 600


# -- the endpoint, through the official clients ------------------------------------------------------------
@contextmanager
def serving(state_dir: Path, **settings: object) -> Iterator[str]:
    """The service app with the test catalog and the fake backend, on a free port of this process."""
    config = ServiceConfig(state_dir=state_dir, backend="fake-fast-test", workers=1, **settings)
    port = free_ports(1)[0]
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("flex")) as url:
        yield url


def genai_client(url: str, location: str, headers: dict[str, str] | None = None) -> genai.Client:
    return genai.Client(
        vertexai=True, project=PROJECT, location=location, credentials=Credentials(token="local"),
        http_options=types.HttpOptions(base_url=url, api_version="v1", headers=headers),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("location", "headers", "lane"),
    [
        ("global", FLEX_HEADERS, types.TrafficType.ON_DEMAND_FLEX),
        ("global", None, types.TrafficType.ON_DEMAND),
        (FLEX_ELSEWHERE, FLEX_HEADERS, types.TrafficType.ON_DEMAND),
    ],
)
def test_google_genai_flex_client(service_url: str, location: str, headers: dict | None, lane: object) -> None:
    client = genai_client(service_url, location, headers)  # held: a collected client closes its connection
    response = client.models.generate_content(
        model=FLEX_MODEL, contents="Is item 7 in stock?", config=types.GenerateContentConfig(max_output_tokens=8)
    )
    assert response.text and response.usage_metadata.prompt_token_count > 0
    assert response.usage_metadata.traffic_type == lane


def test_aiplatform_prediction_client_with_flex_metadata(service_url: str) -> None:
    client = aiplatform_v1.PredictionServiceClient(
        credentials=AnonymousCredentials(), transport="rest", client_options=ClientOptions(api_endpoint=service_url)
    )
    request = aiplatform_v1.GenerateContentRequest(
        model=f"projects/{PROJECT}/locations/global/publishers/google/models/{FLEX_MODEL}",
        contents=[aiplatform_v1.Content(role="user", parts=[aiplatform_v1.Part(text="Is item 7 in stock?")])],
    )
    metadata = [(name.lower(), value) for name, value in FLEX_HEADERS.items()]
    flex = client.generate_content(request=request, metadata=metadata)
    assert flex.candidates[0].content.parts[0].text
    assert flex.usage_metadata.traffic_type == TrafficType.ON_DEMAND_FLEX
    assert client.generate_content(request=request).usage_metadata.traffic_type == TrafficType.ON_DEMAND


def test_flex_payload_over_20_mb_is_refused(service_url: str) -> None:
    body = request_for("x" * FLEX_MAX_PAYLOAD_BYTES)
    status, answer = call("POST", service_url + model_path("global"), body, headers=FLEX_HEADERS)
    assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "Request payload size exceeds the limit" in answer["error"]["message"]


def test_flex_throttling_answers_production_429(tmp_path: Path) -> None:
    with serving(tmp_path, flex_throttle_rate=1.0) as url:
        flex, standard = genai_client(url, "global", FLEX_HEADERS), genai_client(url, "global")
        with pytest.raises(genai.errors.ClientError) as info:
            flex.models.generate_content(model=FLEX_MODEL, contents="hi")
        assert (info.value.code, info.value.status, info.value.message) == (
            429, "RESOURCE_EXHAUSTED", RESOURCE_EXHAUSTED.message
        )  # fmt: skip
        answer = standard.models.generate_content(model=FLEX_MODEL, contents="hi")
        assert answer.usage_metadata.traffic_type == types.TrafficType.ON_DEMAND


def test_calls_beyond_the_bound_wait_until_their_deadline(tmp_path: Path) -> None:
    """One slot, each call 1.5 s: a second call that may wait 1 s gets 504, a third that may wait longer gets
    its answer once the first is done."""
    with serving(tmp_path, online_concurrency=1, fault_row_delay_s=1.5) as url, ThreadPoolExecutor(2) as pool:

        def post(headers: dict[str, str]) -> tuple[int, dict]:
            return call("POST", url + model_path("global"), request_for("hi"), headers=headers)

        first = pool.submit(post, {})
        time.sleep(0.4)
        status, answer = post({"X-Server-Timeout": "1"})
        assert (status, answer["error"]["status"]) == (504, "DEADLINE_EXCEEDED")
        third = pool.submit(post, {})
        assert first.result()[0] == 200 and third.result()[0] == 200


def test_unknown_online_model_keeps_production_404(service_url: str) -> None:
    status, body = call("POST", service_url + model_path("global", RETIRED_MODEL), request_for("hi"))
    assert status == 404 and "was not found or your project does not have access to it" in body["error"]["message"]
