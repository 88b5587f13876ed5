"""The fast test backend's structured output: JSON that follows the request's responseSchema."""

from __future__ import annotations

import json

from vertex_batch.local.backends import ChatPrompt
from vertex_batch.local.backends.fake import FakeFastTestBackend, schema_value

SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "answer": {"type": "STRING"},
        "confidence": {"type": "NUMBER"},
        "count": {"type": "INTEGER", "minimum": 3, "maximum": 5},
        "ok": {"type": "BOOLEAN"},
        "label": {"type": "STRING", "enum": ["positive", "negative", "neutral"]},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 2, "maxItems": 2},
        "nested": {"type": "OBJECT", "properties": {"score": {"type": "NUMBER", "minimum": 1, "maximum": 2}}},
    },
    "required": ["answer"],
}


def prompt(text: str, **kwargs: object) -> ChatPrompt:
    return ChatPrompt(messages=({"role": "user", "content": text},), **kwargs)  # type: ignore[arg-type]


def answer(text: str, **kwargs: object) -> str:
    return FakeFastTestBackend().generate([prompt(text, **kwargs)])[0].text


def test_json_answer_follows_the_schema() -> None:
    for question in ("What is 2 + 2?", "Name a colour.", "Capital of France?"):
        value = json.loads(answer(question, response_mime_type="application/json", response_schema=SCHEMA))
        assert list(value) == list(SCHEMA["properties"])
        assert isinstance(value["answer"], str) and value["answer"]
        assert isinstance(value["confidence"], float) and 0 <= value["confidence"] <= 1
        assert isinstance(value["count"], int) and 3 <= value["count"] <= 5
        assert isinstance(value["ok"], bool)
        assert value["label"] in ("positive", "negative", "neutral")
        assert len(value["tags"]) == 2 and all(isinstance(tag, str) for tag in value["tags"])
        assert 1 <= value["nested"]["score"] <= 2


def test_json_answer_is_deterministic_and_depends_on_the_prompt() -> None:
    kwargs = {"response_mime_type": "application/json", "response_schema": SCHEMA}
    assert answer("a", **kwargs) == answer("a", **kwargs)
    assert len({answer(str(i), **kwargs) for i in range(20)}) > 1
    labels = {json.loads(answer(str(i), **kwargs))["label"] for i in range(40)}
    assert labels == {"positive", "negative", "neutral"}, "enum values are drawn from the hash"


def test_generation_counts_tokens_and_stops() -> None:
    backend = FakeFastTestBackend()
    schema = {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}}
    (full,) = backend.generate([prompt("q", response_mime_type="application/json", response_schema=schema)])
    assert full.finish_reason == "STOP" and full.output_tokens >= 5
    json.loads(full.text)
    (cut,) = backend.generate(
        [prompt("q", response_mime_type="application/json", response_schema=schema, max_tokens=3)]
    )
    assert cut.finish_reason == "MAX_TOKENS" and cut.output_tokens == 3
    assert full.text.startswith(cut.text) and cut.text != full.text


def test_enum_mime_type_answers_one_value() -> None:
    schema = {"type": "STRING", "enum": ["red", "green", "blue"]}
    assert answer("colour?", response_mime_type="text/x.enum", response_schema=schema) in ("red", "green", "blue")


def test_without_a_schema_the_answer_is_words() -> None:
    plain = answer("What is 2 + 2?")
    assert plain == answer("What is 2 + 2?", response_mime_type="application/json")
    assert plain == answer("What is 2 + 2?", response_mime_type="text/plain")
    assert len(plain.split()) == 4


def test_json_schema_spelling_and_any_of() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "maybe": {"type": ["integer", "null"]},
            "either": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
        },
        "required": ["when", "missing"],
        "propertyOrdering": ["either", "when"],
    }
    value = schema_value(schema, "seed")
    assert list(value) == ["either", "when", "maybe", "missing"]
    assert isinstance(value["either"], bool)
    assert isinstance(value["maybe"], int)
    assert value["when"].endswith("Z") and value["when"][4] == "-"
    assert isinstance(value["missing"], str)
