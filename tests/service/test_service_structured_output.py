"""Structured output in the request mapping: responseMimeType / responseSchema reach the backend."""

from __future__ import annotations

import json

import pytest

from vertex_batch.local import gemini
from vertex_batch.local.backends.fake import FakeFastTestBackend
from vertex_batch.local.gemini import RowError, to_prompt, to_response

SCHEMA = {
    "type": "OBJECT",
    "properties": {"answer": {"type": "STRING"}, "confidence": {"type": "NUMBER"}},
    "required": ["answer"],
}
CONTENTS = [{"role": "user", "parts": [{"text": "Capital of France?"}]}]


def test_camel_case_config_reaches_the_prompt() -> None:
    prompt = to_prompt(
        {"contents": CONTENTS, "generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA}}
    )
    assert (prompt.response_mime_type, prompt.response_schema) == ("application/json", SCHEMA)


def test_snake_case_config_and_json_schema() -> None:
    prompt = to_prompt(
        json.dumps(
            {
                "contents": CONTENTS,
                "generation_config": {"response_mime_type": "application/json", "response_json_schema": SCHEMA},
            }
        )
    )
    assert (prompt.response_mime_type, prompt.response_schema) == ("application/json", SCHEMA)


def test_no_structured_output_by_default() -> None:
    prompt = to_prompt({"contents": CONTENTS, "generationConfig": {"responseMimeType": "text/plain"}})
    assert (prompt.response_mime_type, prompt.response_schema) == ("text/plain", None)
    assert to_prompt({"contents": CONTENTS}).response_mime_type is None


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"responseMimeType": "application/xml"}, "Unsupported responseMimeType"),
        ({"responseSchema": SCHEMA}, "only supported when responseMimeType"),
        ({"responseMimeType": "text/plain", "responseSchema": SCHEMA}, "only supported when responseMimeType"),
        ({"responseMimeType": "application/json", "responseSchema": "OBJECT"}, "Invalid value at"),
        ({"responseMimeType": "application/json", "responseSchema": SCHEMA, "responseJsonSchema": SCHEMA}, "only one"),
        ({"responseMimeType": "text/x.enum"}, "needs a responseSchema with an enum"),
        ({"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING"}}, "with an enum"),
    ],
)
def test_invalid_structured_output_is_a_400_row(config: dict[str, object], needle: str) -> None:
    with pytest.raises(RowError) as info:
        to_prompt({"contents": CONTENTS, "generationConfig": config})
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert needle in info.value.message


def test_fast_backend_answers_schema_json_through_the_mapping() -> None:
    request = {
        "contents": CONTENTS,
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA},
    }
    backend = FakeFastTestBackend()
    (generation,) = backend.generate([to_prompt(request)])
    response = to_response(generation, backend.model_version)
    value = json.loads(response["candidates"][0]["content"]["parts"][0]["text"])
    assert isinstance(value["answer"], str) and isinstance(value["confidence"], float)
    assert response["candidates"][0]["finishReason"] == "STOP"
    assert gemini.RESPONSE_MIME_TYPES[1] == "application/json"
