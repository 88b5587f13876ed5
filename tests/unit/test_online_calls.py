"""The Vertex AI caller of the Flex and online lanes without a server: the request table's JSON goes out as the same
``GenerateContentRequest``, with the Flex headers on ``global``; answers come back as batch output holds them; a
failed call is a failed row's status in production's exact form (as the local service writes batch rows)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from google.api_core import exceptions as core
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from tests.unit.fakes import request_model
from vertex_batch.connections import Connections
from vertex_batch.local.gemini import row_status as service_row_status
from vertex_batch.online_calls import CloudLanes, error_status, row_status

pytestmark = pytest.mark.unit
REQUEST = {
    "contents": [{"role": "user", "parts": [{"text": "Is item 7 in stock?"}]}],
    "systemInstruction": {"parts": [{"text": "Answer yes or no."}]},
    "generationConfig": {"temperature": 0.0, "maxOutputTokens": 8, "thinkingConfig": {"thinkingLevel": "LOW"}},
}
ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "yes"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1, "totalTokenCount": 10},
    "modelVersion": "gemini-3.5-flash",
}


@dataclass
class RecordingClient:
    """A PredictionServiceClient stand-in: records each call, answers ``answer`` or raises ``error``."""

    answer: dict[str, Any] = field(default_factory=dict)
    error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def generate_content(self, request, metadata, timeout, retry) -> aiplatform_v1.GenerateContentResponse:
        self.calls.append({"request": request, "metadata": dict(metadata), "timeout": timeout})
        if self.error is not None:
            raise self.error
        return aiplatform_v1.GenerateContentResponse.from_json(json.dumps(self.answer))


def caller_with(client: RecordingClient, lane: str = "flex"):
    connections = Connections(project="p", location="us-central1", vertex_endpoint="http://127.0.0.1:1")
    caller = CloudLanes(connections, store=None).caller(lane, request_model())  # type: ignore[arg-type]
    caller._local.client = client
    return caller


def test_a_flex_call_sends_the_request_json_as_it_is_to_global_with_the_flex_headers() -> None:
    traffic = {**ANSWER["usageMetadata"], "trafficType": "ON_DEMAND_FLEX"}
    client = RecordingClient({**ANSWER, "usageMetadata": traffic})
    result = caller_with(client)(json.dumps(REQUEST))
    (call,) = client.calls
    sent = json_format.MessageToDict(aiplatform_v1.GenerateContentRequest.pb(call["request"]))  # the body, as sent
    assert sent.pop("model") == "projects/p/locations/global/publishers/google/models/gemini-3.5-flash"
    assert {key: sent[key] for key in REQUEST} == REQUEST
    assert call["metadata"]["x-vertex-ai-llm-shared-request-type"] == "flex"
    assert call["metadata"]["x-vertex-ai-llm-request-type"] == "shared"
    assert call["timeout"] == 1800 and call["metadata"]["x-server-timeout"] == "1800"
    assert result.status == "" and result.traffic == "ON_DEMAND_FLEX"
    assert result.response == {**ANSWER, "usageMetadata": traffic}, "camelCase, enum names, no defaults"


def test_an_online_call_stays_in_the_run_location_without_headers() -> None:
    client = RecordingClient(ANSWER)
    result = caller_with(client, "online")(json.dumps(REQUEST))
    (call,) = client.calls
    assert "/locations/us-central1/" in call["request"].model
    assert set(call["metadata"]) == {"x-server-timeout"} and result.traffic is None


def http_error(code: int, body: dict) -> core.GoogleAPICallError:
    response = requests.Response()
    response.status_code, response._content = code, json.dumps(body).encode()
    response.request = requests.Request("POST", "http://127.0.0.1:1/v1/x:generateContent").prepare()
    return core.from_http_response(response)


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        (400, "Please use a valid role: user, model.", "INVALID_ARGUMENT"),
        (429, "Resource exhausted. Please try again later.", "RESOURCE_EXHAUSTED"),
        (503, "The service is currently unavailable.", "UNAVAILABLE"),
    ],
)
def test_a_failed_call_is_a_row_status_as_a_batch_job_writes_it(code: int, message: str, status: str) -> None:
    error = http_error(code, {"error": {"code": code, "message": message, "status": status}})
    expected = service_row_status(code, message, status)
    assert row_status(code, message, status) == expected
    assert error_status(error) == expected
    assert error_status(core.RetryError("gave up", error)) == expected
    result = caller_with(RecordingClient(error=error))(json.dumps(REQUEST))
    assert (result.response, result.status) == (None, expected)


def test_a_request_that_is_no_generate_content_request_fails_its_row_with_a_400() -> None:
    client = RecordingClient(ANSWER)
    result = caller_with(client)(json.dumps({"contents": [], "nonsense": 1}))
    assert client.calls == [] and result.status.startswith('Bad Request: {"error": {"code": 400')
    assert "INVALID_ARGUMENT" in result.status


def test_a_dropped_connection_is_a_retryable_status() -> None:
    from vertex_batch.transient_errors import is_retryable_row_status

    status = error_status(ConnectionError("reset by peer"))
    assert status.startswith("Service Unavailable: ") and is_retryable_row_status(status)
