"""Each family's request rules and response shapes, without servers: Claude's Messages bodies, chat-completions
bodies and Gemini embedding requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vertex_batch.catalog import ModelInfo, Thinking, catalog
from vertex_batch.local.backends import Generation
from vertex_batch.local.backends.embedding_fake import FakeEmbeddingBackend
from vertex_batch.local.gemini import RowError, level_budget, row_status
from vertex_batch.local.service import family_chat, family_claude
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.family import Outcome, no_pause
from vertex_batch.local.service.family_gemini_embedding import GeminiEmbeddingFamily
from vertex_batch.local.service.store import JobRecord

pytestmark = pytest.mark.unit

CLAUDES = [model for model in catalog().of_family("claude") if model.status() == "available"]
#: A Claude model with adaptive thinking (``output_config.effort`` levels) that can stop thinking, and one that
#: cannot, by their catalog entries.
CLAUDE = next(
    m
    for m in CLAUDES
    if m.thinking and m.thinking.control == "level" and m.thinking.can_disable and m.max_output_tokens
)
ALWAYS_THINKS = next(m for m in CLAUDES if m.thinking and m.thinking.control == "level" and not m.thinking.can_disable)
#: Claude Haiku 4.5 and earlier take only the budget form; the catalog lists none of them now.
BUDGET_CLAUDE = CLAUDE.model_copy(
    update={"thinking": Thinking(control="budget", max_budget=32_000, source=CLAUDE.thinking.source)}
)
CHAT = next(m for m in catalog().of_family("chat-completions") if m.status() == "available" and m.max_output_tokens)
#: A chat-completions model with ``reasoning_effort`` levels (the catalog has no thinking facts for them yet).
LEVEL_CHAT = CHAT.model_copy(
    update={"thinking": Thinking(control="level", levels=("LOW", "MEDIUM", "HIGH"), default_level="MEDIUM", source="x")}
)
ANSWER = Generation(text="Fine.", finish_reason="STOP", prompt_tokens=12, output_tokens=3, thoughts_tokens=20)
ENABLED_REFUSED = (
    '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
    '"output_config.effort" to control thinking behavior.'
)


def claude_body(**fields: Any) -> dict[str, Any]:
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    return {key: value for key, value in {**body, **fields}.items() if value is not None}


def claude_error(body: Any, model: ModelInfo = CLAUDE) -> str:
    with pytest.raises(RowError) as info:
        family_claude.to_prompt(body, model)
    status = family_claude.claude_status(info.value.code, info.value.message)
    reason, _, error = status.partition(": ")
    assert reason == "Bad Request" and json.loads(error)["type"] == "error"
    assert json.loads(error)["error"]["type"] == "invalid_request_error"
    return json.loads(error)["error"]["message"]


def test_claude_bodies_map_to_prompts() -> None:
    prompt = family_claude.to_prompt(
        json.dumps(
            claude_body(
                max_tokens=2048,
                system=[{"type": "text", "text": "Be brief."}],
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "user", "content": "again"},
                    {"role": "assistant", "content": "Hello."},
                    {"role": "user", "content": "Sentiment of 'great'?"},
                ],
                temperature=1,
                stop_sequences=["\n\n"],
                thinking={"type": "adaptive"},
                output_config={"effort": "low"},
            )
        ),
        CLAUDE,
    )
    assert prompt.messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi\n\nagain"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Sentiment of 'great'?"},
    )
    assert (prompt.max_tokens, prompt.stop, prompt.thinking_budget, prompt.include_thoughts) == (
        2048, ("\n\n",), level_budget("low"), True
    )  # fmt: skip
    budget = family_claude.to_prompt(
        claude_body(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}), BUDGET_CLAUDE
    )
    assert (budget.thinking_budget, budget.include_thoughts) == (1024, True)


def test_claude_thinking_defaults_follow_the_catalog() -> None:
    """Without ``thinking``, a model that cannot stop thinking thinks at its default effort; the others do not."""
    assert ALWAYS_THINKS.thinking is not None and ALWAYS_THINKS.thinking.default_level
    always = family_claude.to_prompt(claude_body(), ALWAYS_THINKS)
    assert always.thinking_budget == level_budget(ALWAYS_THINKS.thinking.default_level) and always.include_thoughts
    for model in CLAUDES:
        if model.thinking and model.thinking.can_disable:
            assert family_claude.to_prompt(claude_body(), model).thinking_budget is None
            off = family_claude.to_prompt(claude_body(thinking={"type": "disabled"}), model)
            assert off.thinking_budget is None and not off.include_thoughts
    adaptive = family_claude.to_prompt(claude_body(thinking={"type": "adaptive"}), CLAUDE)
    assert CLAUDE.thinking is not None and CLAUDE.thinking.default_level
    assert adaptive.thinking_budget == level_budget(CLAUDE.thinking.default_level)


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (CLAUDE, claude_body(anthropic_version=None), "anthropic_version: Field required"),
        (CLAUDE, claude_body(anthropic_version="2023-06-01"), "anthropic_version: Input should be 'vertex-2023-10-16'"),
        (CLAUDE, claude_body(max_tokens=None), "max_tokens: Field required"),
        (
            CLAUDE,
            claude_body(max_tokens=CLAUDE.max_output_tokens + 1),
            f"max_tokens: {CLAUDE.max_output_tokens + 1} > {CLAUDE.max_output_tokens}, which is the maximum allowed",
        ),
        (CLAUDE, claude_body(messages=None), "messages: Field required"),
        (CLAUDE, claude_body(messages=[]), "messages: at least one message is required"),
        (
            CLAUDE,
            claude_body(messages=[{"role": "tester", "content": "x"}]),
            "messages.0.role: Input should be 'user' or",
        ),
        (CLAUDE, claude_body(messages=[{"role": "assistant", "content": "x"}]), "messages: first message must use the"),
        (
            CLAUDE,
            claude_body(messages=[{"role": "user", "content": ""}]),
            "messages.0: all messages must have non-empty",
        ),
        (CLAUDE, claude_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (CLAUDE, claude_body(system=5), "system: Input should be a valid string"),
        (CLAUDE, claude_body(stop_sequences="END"), "stop_sequences: Input should be a valid list"),
        (CLAUDE, claude_body(thinking={"type": "on"}), "thinking: Input tag 'on' found using 'type' does not match"),
        (CLAUDE, claude_body(thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=4096), ENABLED_REFUSED),
        (ALWAYS_THINKS, claude_body(thinking={"type": "disabled"}), '"thinking.type.disabled" is not supported'),
        (CLAUDE, claude_body(output_config={"effort": "extreme"}), "output_config.effort: Input should be 'low', "),
        (CLAUDE, claude_body(temperature=0.5, thinking={"type": "adaptive"}), "`temperature` may only be set to 1"),
        (
            BUDGET_CLAUDE,
            claude_body(thinking={"type": "enabled", "budget_tokens": 512}),
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            BUDGET_CLAUDE,
            claude_body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 4000}),
            "`max_tokens` must be",
        ),
        (BUDGET_CLAUDE, claude_body(thinking={"type": "adaptive"}), '"thinking.type.adaptive" is not supported'),
        (CLAUDE, claude_body(output_format={"type": "json"}), "output_format: Extra inputs are not permitted"),
    ],
)
def test_claude_bodies_are_refused_with_anthropic_errors(model: ModelInfo, body: dict[str, Any], message: str) -> None:
    assert claude_error(body, model).startswith(message)


def test_claude_messages_follow_the_anthropic_response() -> None:
    thinking = claude_body(max_tokens=2048, thinking={"type": "adaptive"})
    prompt = family_claude.to_prompt(thinking, CLAUDE)
    message = family_claude.to_message(ANSWER, prompt, CLAUDE.id)
    assert message["id"].startswith("msg_vrtx_") and message["type"] == "message" and message["role"] == "assistant"
    assert [block["type"] for block in message["content"]] == ["thinking", "text"]
    assert message["content"][1]["text"] == "Fine." and message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 12 and message["usage"]["output_tokens"] == 23
    plain_prompt = family_claude.to_prompt(claude_body(thinking={"type": "disabled"}), CLAUDE)
    plain = family_claude.to_message(ANSWER, plain_prompt, CLAUDE.id)
    assert [block["type"] for block in plain["content"]] == ["text"]
    cut = Generation(text="Fi", finish_reason="MAX_TOKENS", prompt_tokens=1, output_tokens=2)
    assert family_claude.to_message(cut, prompt, "m")["stop_reason"] == "max_tokens"


def chat_error(body: Any, model: ModelInfo = CHAT) -> str:
    with pytest.raises(RowError) as info:
        family_chat.to_prompt(body, model, 256)
    assert info.value.code == 400
    return info.value.message


def test_chat_bodies_map_to_prompts() -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    body = {
        "model": "ignored",
        "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_completion_tokens": 40,
        "stop": "END",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        "reasoning_effort": "low",
    }
    prompt = family_chat.to_prompt(json.dumps(body), LEVEL_CHAT, 256)
    assert prompt.messages == ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"})
    assert (prompt.max_tokens, prompt.stop, prompt.response_mime_type) == (40, ("END",), "application/json")
    assert prompt.response_schema == schema and prompt.thinking_budget == level_budget("low")
    assert family_chat.to_prompt({"messages": body["messages"]}, LEVEL_CHAT, 256).thinking_budget == level_budget(
        "MEDIUM"
    )
    assert family_chat.to_prompt({"messages": body["messages"]}, CHAT, 256).max_tokens == 256
    if CHAT.thinking is None:  # no thinking facts: the local model does not think
        assert family_chat.to_prompt(body, CHAT, 256).thinking_budget is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing required parameter: 'messages'."),
        ({"messages": []}, "Invalid 'messages': empty array."),
        ({"messages": [{"role": "tester", "content": "x"}]}, 'Invalid value: "tester". Supported values are:'),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "Invalid 'temperature': value above"),
        (
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": CHAT.max_output_tokens + 1},
            "Invalid 'max_tokens': value above",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}, "Invalid 'stop'"),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}, 'Invalid value: "xml"'),
    ],
)
def test_chat_bodies_are_refused(body: dict[str, Any], message: str) -> None:
    assert chat_error(body).startswith(message)


def test_chat_reasoning_effort_must_be_one_of_the_models_levels() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}
    assert chat_error(body, LEVEL_CHAT) == "Invalid value: \"extreme\". Supported values are: 'low', 'medium', 'high'."


def test_chat_completions_follow_the_openai_response() -> None:
    completion = family_chat.to_completion(ANSWER, f"{CHAT.publisher}/{CHAT.id}")
    assert completion["object"] == "chat.completion" and completion["id"].startswith("chatcmpl-")
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": "Fine."} and choice["finish_reason"] == "stop"
    assert completion["usage"] == {
        "prompt_tokens": 12, "completion_tokens": 23, "total_tokens": 35,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }  # fmt: skip


def job_for(model_id: str) -> JobRecord:
    return JobRecord(id="1", project="p", location="us-central1", display_name="j", model=model_id,
                     model_id=model_id, state="JOB_STATE_RUNNING", create_us=0, update_us=0)  # fmt: skip


CONFIG = ServiceConfig(state_dir=Path("unused"))


def test_injected_faults_take_each_familys_shape() -> None:
    fault = row_status(503, "The service is currently unavailable.", "UNAVAILABLE")
    claude = family_claude.ClaudeFamily(CLAUDE, job_for(CLAUDE.id), CONFIG).fault(fault)
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "The service is currently unavailable."}}
    assert claude == f"Service Unavailable: {json.dumps(body)}"
    chat = family_chat.ChatCompletionsFamily(CHAT, job_for(CHAT.id), CONFIG).fault(fault)
    assert chat == {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}


def gemini_embedding_outcomes(model_id: str, requests: list[Any]) -> list[Outcome]:
    family = GeminiEmbeddingFamily(catalog().get(model_id), job_for(model_id), CONFIG)
    batch = [(index, {"key": index, "request": request}) for index, request in enumerate(requests)]
    (answered,) = family.predictions(iter([batch]), FakeEmbeddingBackend(), lambda index: None, no_pause)
    return [outcome for _, outcome in answered]


def embed_request(text: str, **config: Any) -> dict[str, Any]:
    return {"content": {"parts": [{"text": text}]}, "embed_content_config": config}


def test_gemini_embeddings_have_the_models_size_and_follow_the_config() -> None:
    full, cut, document = gemini_embedding_outcomes(
        "gemini-embedding-001",
        [
            embed_request("Best recipe for banana bread:"),
            embed_request("Best recipe for banana bread:", output_dimensionality=768),
            embed_request("Best recipe for banana bread:", task_type="RETRIEVAL_DOCUMENT", title="Bread"),
        ],
    )
    values = full.response["embedding"]["values"]
    assert full.ok and len(values) == 3072 and abs(float(np.linalg.norm(values)) - 1) < 1e-6
    assert cut.response["embedding"]["values"] == values[:768]
    assert document.response["embedding"]["values"] != values  # task type and title change the vector
    assert full.response["usageMetadata"]["promptTokenCount"] > 0 and "truncated" not in full.response
    (inline,) = gemini_embedding_outcomes(
        "gemini-embedding-2", [embed_request("Best recipe for banana bread:", task_type="RETRIEVAL_DOCUMENT")]
    )
    assert inline.response["embedding"]["values"] == values  # gemini-embedding-2 ignores the task type


def test_gemini_embedding_rows_fail_alone() -> None:
    unknown, too_big, no_text, good = gemini_embedding_outcomes(
        "gemini-embedding-001",
        [
            {"content": {"parts": [{"text": "x"}]}, "config": {"task_type": "CLUSTERING"}},
            embed_request("x", output_dimensionality=4096),
            {"content": {"parts": []}},
            embed_request("fine"),
        ],
    )
    messages = [json.loads(outcome.failure.split(": ", 1)[1])["error"]["message"] for outcome in (unknown, too_big)]
    assert messages == [
        'Invalid JSON payload received. Unknown name "config": Cannot find field.',
        "outputDimensionality 4096 is not supported: the model supports values from 1 to 3072.",
    ]
    assert no_text.failure.startswith("Bad Request: ") and no_text.response == {} and good.ok
