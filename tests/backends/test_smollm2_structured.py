"""Structured output on the SmolLM2 backend: grammar-constrained answers that follow the schema."""

from __future__ import annotations

import json

import pytest

from vertex_batch.local.backends import BackendRowError, ChatPrompt, generate_each
from vertex_batch.local.backends.grammar import response_grammar

ANSWER_SCHEMA = {
    "type": "OBJECT",
    "properties": {"answer": {"type": "STRING"}, "confidence": {"type": "NUMBER"}},
    "required": ["answer"],
}
ENUM_SCHEMA = {"type": "STRING", "enum": ["positive", "negative", "neutral"]}


def _chat(user: str, **settings: object) -> ChatPrompt:
    settings.setdefault("temperature", 0.0)
    settings.setdefault("max_tokens", 64)
    return ChatPrompt(messages=({"role": "user", "content": user},), **settings)  # type: ignore[arg-type]


def test_grammar_choice_follows_the_mime_type() -> None:
    assert response_grammar(_chat("x")) is None
    assert response_grammar(_chat("x", response_mime_type="text/plain", response_schema=ANSWER_SCHEMA)) is None
    enum = response_grammar(_chat("x", response_mime_type="text/x.enum", response_schema=ENUM_SCHEMA))
    assert enum == 'root ::= "positive" | "negative" | "neutral"'
    any_json = response_grammar(_chat("x", response_mime_type="application/json"))
    assert any_json is not None and "root" in any_json
    typed = response_grammar(_chat("x", response_mime_type="application/json", response_schema=ANSWER_SCHEMA))
    assert typed is not None and "confidence" in typed and r"\x00-\x1F" in typed


def test_grammar_orders_each_object_by_its_own_property_ordering() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "inner": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "STRING"}}},
            "b": {"type": "BOOLEAN"},
        },
        "propertyOrdering": ["b", "inner"],
    }
    grammar = response_grammar(_chat("x", response_mime_type="application/json", response_schema=schema))
    assert grammar is not None
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert rules["root"].index("b-kv") < rules["root"].index("inner-kv")
    assert rules["inner"].index("inner-a-kv") < rules["inner"].index("inner-b-kv")


@pytest.mark.model
def test_json_schema_answer_parses_with_every_field(smollm2) -> None:
    prompt = _chat(
        "What is the capital of France? Answer in JSON.",
        response_mime_type="application/json",
        response_schema=ANSWER_SCHEMA,
    )
    [answer] = smollm2.generate([prompt])
    assert answer.finish_reason == "STOP"
    value = json.loads(answer.text)
    assert set(value) == {"answer", "confidence"}
    assert isinstance(value["answer"], str)
    assert isinstance(value["confidence"], int | float) and not isinstance(value["confidence"], bool)
    assert answer.avg_logprob is not None and answer.avg_logprob < 0
    assert 0 < answer.output_tokens <= 64


@pytest.mark.model
def test_sampled_json_answer_still_follows_the_schema(smollm2) -> None:
    schema = {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}, "count": {"type": "INTEGER"}}}
    prompt = _chat(
        "Is water wet, and how many legs has a cat?",
        response_mime_type="application/json",
        response_schema=schema,
        temperature=0.8,
        top_p=0.9,
        top_k=40,
        seed=7,
    )
    first, second = smollm2.generate([prompt, prompt])
    assert first.text == second.text  # the seed fixes the draw
    if first.finish_reason == "STOP":
        value = json.loads(first.text)
        assert set(value) == {"ok", "count"}
        assert isinstance(value["ok"], bool) and isinstance(value["count"], int)
    else:
        assert first.text.startswith("{")


@pytest.mark.model
def test_enum_answer_is_one_of_the_values(smollm2) -> None:
    prompt = _chat(
        "Classify the sentiment: 'I love this phone, it works great!'",
        response_mime_type="text/x.enum",
        response_schema=ENUM_SCHEMA,
    )
    [answer] = smollm2.generate([prompt])
    assert answer.text in ENUM_SCHEMA["enum"]
    assert answer.finish_reason == "STOP"


@pytest.mark.model
def test_mixed_batch_keeps_order_and_plain_answers(smollm2) -> None:
    plain = _chat("Write one sentence about the sea.", max_tokens=24)
    structured = _chat(
        "What is the capital of France? Answer in JSON.",
        response_mime_type="application/json",
        response_schema=ANSWER_SCHEMA,
    )
    first, second, third = smollm2.generate([structured, plain, structured])
    for answer in (first, third):
        assert json.loads(answer.text).keys() == {"answer", "confidence"}
    assert second.text.strip() and not second.text.lstrip().startswith("{")  # free prose, as before
    assert 0 < second.output_tokens <= 24
    assert second.avg_logprob is not None and second.avg_logprob < 0


@pytest.mark.model
def test_json_without_schema_is_an_object(smollm2) -> None:
    prompt = _chat("Describe a cat as JSON.", response_mime_type="application/json", max_tokens=48)
    [answer] = smollm2.generate([prompt])
    assert answer.text.lstrip().startswith("{")
    if answer.finish_reason == "STOP":
        assert isinstance(json.loads(answer.text), dict)


@pytest.mark.model
def test_unusable_schema_fails_only_its_row(smollm2) -> None:
    broken = _chat("Hi", response_mime_type="application/json", response_schema={"type": "NO_SUCH_TYPE"})
    fine = _chat("Say hello.", max_tokens=8)
    error, answer = generate_each(smollm2, [broken, fine])
    assert isinstance(error, BackendRowError) and "response schema" in error.message
    assert not isinstance(answer, BackendRowError) and answer.text.strip()
