"""Online ``models/{model}:generateContent`` through google-genai, unchanged, and its Google-shaped errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials
from svc_helpers import LOCATION, ONLINE_MODEL, PARENT, PROJECT, ServiceProcess, call, request_for

from vertex_batch.catalog import catalog
from vertex_batch.local import gemini
from vertex_batch.local.backends.fake import FakeFastTestBackend
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.family_gemini import gemini_prompt


def genai_client(service: ServiceProcess, api_version: str | None = None) -> genai.Client:
    options = (
        types.HttpOptions(base_url=service.url, api_version=api_version)
        if api_version
        else (types.HttpOptions(base_url=service.url))
    )
    return genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION, credentials=Credentials(token="local"),
        http_options=options,
    )  # fmt: skip


@pytest.mark.parametrize("api_version", ["v1", None])
def test_generate_content_through_google_genai(service: ServiceProcess, api_version: str | None) -> None:
    client = genai_client(service, api_version)
    response = client.models.generate_content(
        model=ONLINE_MODEL,
        contents="Is item 7 in stock? Answer yes or no.",
        config=types.GenerateContentConfig(temperature=0, max_output_tokens=8),
    )
    # The same backend and request mapping as a batch row of the model (its default thinking too) give the same
    # answer.
    request = request_for("Is item 7 in stock? Answer yes or no.", temperature=0, maxOutputTokens=8)
    prompt = gemini_prompt(request, catalog().get(ONLINE_MODEL), ServiceConfig(state_dir=Path("unused")))
    expected = FakeFastTestBackend().generate([prompt])[0]
    assert response.text == expected.text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == FakeFastTestBackend.model_version
    usage = response.usage_metadata
    assert usage.prompt_token_count == expected.prompt_tokens
    assert usage.candidates_token_count == expected.output_tokens
    assert (usage.thoughts_token_count or 0) == expected.thoughts_tokens
    assert usage.total_token_count == expected.prompt_tokens + expected.output_tokens + expected.thoughts_tokens
    assert response.response_id and response.create_time is not None


def test_bad_role_is_a_400_in_googles_format(service: ServiceProcess) -> None:
    client = genai_client(service)
    with pytest.raises(genai.errors.ClientError) as info:
        client.models.generate_content(
            model=ONLINE_MODEL, contents=[types.Content(role="narrator", parts=[types.Part(text="hi")])]
        )
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == gemini.VALID_ROLE_MESSAGE

    url = f"{service.url}/v1/{PARENT}/publishers/google/models/{ONLINE_MODEL}:generateContent"
    status, body = call("POST", url, request_for("hi", role="narrator"))
    assert (status, body) == (
        400, {"error": {"code": 400, "message": gemini.VALID_ROLE_MESSAGE, "status": "INVALID_ARGUMENT"}}
    )  # fmt: skip


def test_unknown_model_or_method_is_a_404(service: ServiceProcess) -> None:
    base = f"{service.url}/v1/{PARENT}/publishers/google/models"
    status, body = call("POST", f"{base}/gemini-9-ultra:generateContent", request_for("hi"))
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    assert "Publisher Model" in body["error"]["message"] and "gemini-9-ultra" in body["error"]["message"]
    status, body = call("POST", f"{base}/{ONLINE_MODEL}:streamRawPredict", request_for("hi"))
    assert status == 404 and "streamRawPredict" in body["error"]["message"]
    status, body = call("POST", f"{base}/{ONLINE_MODEL}:generateContent", raw=b"{not json")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
