"""Every request field google-genai can send reaches the local parser accepted: requests are built by
google-genai's own Vertex request converter (``models._GenerateContentParameters_to_vertex``, serialised as
``Models.generate_content`` serialises them) with each ``GenerateContentConfig`` field set, and each one must
parse (``proto_json``) and map to a prompt, or be refused only as a limit of the local model (tools, cached
content), never as an unknown or invalid field. A field google-genai adds makes this test fail until it
has a sample below."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from google import genai
from google.genai import _common, models, types
from google.oauth2.credentials import Credentials

from vertex_batch.catalog import catalog
from vertex_batch.local import gemini, proto_json

pytestmark = pytest.mark.unit


@pytest.fixture
def emulator_env() -> None:
    """No servers here (overrides the suite's autouse fixture, which starts the stack)."""


#: ``GenerateContentConfig`` fields that never reach the request body.
CLIENT_ONLY = {"http_options", "should_return_http_response", "automatic_function_calling"}
#: Fields google-genai refuses for Vertex AI itself (it raises before sending).
REFUSED_BY_THE_CLIENT = {"enable_enhanced_civic_answers"}
SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}}
SAMPLES: dict[str, Any] = {
    "system_instruction": "Be brief.",
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "candidate_count": 1,
    "max_output_tokens": 100,
    "stop_sequences": ["END"],
    "response_logprobs": True,
    "logprobs": 2,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.1,
    "seed": 3,
    "response_mime_type": "application/json",
    "response_schema": types.Schema(type="OBJECT", properties={"label": types.Schema(type="STRING")}),
    "response_json_schema": SCHEMA,
    "routing_config": {"auto_mode": {"model_routing_preference": "BALANCED"}},
    "model_selection_config": {"feature_selection_preference": "PRIORITIZE_QUALITY"},
    "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
    "tools": [types.Tool(function_declarations=[types.FunctionDeclaration(name="lookup", description="Look up.")])],
    "tool_config": {"function_calling_config": {"mode": "AUTO"}},
    "labels": {"team": "data"},
    "cached_content": "projects/p/locations/us-central1/cachedContents/1",
    "response_modalities": ["TEXT"],
    "media_resolution": "MEDIA_RESOLUTION_LOW",
    "speech_config": "Kore",
    "audio_timestamp": True,
    "thinking_config": {"thinking_level": "LOW", "include_thoughts": True},
    "image_config": {"aspect_ratio": "1:1"},
    "model_armor_config": {"prompt_template_name": "projects/p/locations/l/templates/t"},
    "service_tier": "flex",
}
#: Fields that need another one beside them (a schema constrains JSON or enum answers only).
COMPANIONS: dict[str, dict[str, Any]] = {
    "response_schema": {"response_mime_type": "application/json"},
    "response_json_schema": {"response_mime_type": "application/json"},
}
#: More values of fields that take several shapes.
VARIANTS: list[tuple[str, Any]] = [
    ("thinking_config", {"thinking_budget": 1024}),
    *[("thinking_config", {"thinking_level": level}) for level in ("MINIMAL", "MEDIUM", "HIGH")],
    ("service_tier", "standard"),
    ("response_mime_type", "text/x.enum"),
]


@cache
def vertex_client() -> genai.Client:
    return genai.Client(vertexai=True, project="p", location="us-central1", credentials=Credentials(token="x"))


def vertex_request(config: dict[str, Any]) -> dict[str, Any]:
    """The JSON body google-genai sends to ``:generateContent`` on Vertex AI for ``config``."""
    client = vertex_client()
    parameters = types._GenerateContentParameters(model="gemini-3.5-flash", contents="Classify: great", config=config)
    request = models._GenerateContentParameters_to_vertex(client._api_client, parameters, None, parameters)
    request.pop("_url", None)
    request.pop("config", None)
    return json.loads(json.dumps(_common.encode_unserializable_types(_common.convert_to_dict(request))))


def test_every_field_google_genai_sends_has_a_sample() -> None:
    assert set(SAMPLES) == set(types.GenerateContentConfig.model_fields) - CLIENT_ONLY - REFUSED_BY_THE_CLIENT


@pytest.mark.parametrize(("field", "value"), [*SAMPLES.items(), *VARIANTS], ids=lambda item: str(item)[:40])
def test_each_field_is_accepted_by_the_local_parser(field: str, value: Any) -> None:
    config = {field: value, **COMPANIONS.get(field, {})}
    if field == "response_mime_type" and value == "text/x.enum":
        config["response_schema"] = types.Schema(type="STRING", enum=["positive", "negative"])
    request = vertex_request(config)
    proto_json.parse_request(json.loads(json.dumps(request)))  # raises for an unknown or invalid field
    try:
        prompt = gemini.to_prompt(request, model=catalog().get("gemini-3.5-flash"))
    except gemini.RowError as err:
        assert err.message.startswith(("The local model", "The local batch-prediction service")), err.message
        return
    if field == "thinking_config":
        expected = value.get("thinking_budget") or gemini.LEVEL_BUDGETS[value["thinking_level"]]
        assert prompt.thinking_budget == expected


def test_the_client_refuses_some_fields_for_vertex_ai_itself() -> None:
    for field in REFUSED_BY_THE_CLIENT:
        with pytest.raises(ValueError, match="not supported"):
            vertex_request({field: True})
