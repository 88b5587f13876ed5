"""``:countTokens`` through the official LlmUtilityServiceClient, and thinking / cached-prefix usage online."""

from __future__ import annotations

import uuid

from google.cloud import aiplatform_v1
from svc_helpers import ONLINE_MODEL, PARENT, PROJECT, ServiceProcess, call, request_for

from vertex_batch.connections import Connections

MODEL = f"{PARENT}/publishers/google/models/{ONLINE_MODEL}"


def utility_client(service: ServiceProcess) -> aiplatform_v1.LlmUtilityServiceClient:
    return Connections(project=PROJECT, vertex_endpoint=service.url).llm_utility_client()


def test_count_tokens_equals_the_prompt_tokens_an_answer_reports(service: ServiceProcess) -> None:
    contents = [aiplatform_v1.Content(role="user", parts=[aiplatform_v1.Part(text="Is item 7 in stock today?")])]
    system = aiplatform_v1.Content(parts=[aiplatform_v1.Part(text="Answer yes or no.")])
    counted = utility_client(service).count_tokens(
        request=aiplatform_v1.CountTokensRequest(
            endpoint=MODEL, model=MODEL, contents=contents, system_instruction=system
        )
    )
    body = request_for("Is item 7 in stock today?")
    body["systemInstruction"] = {"parts": [{"text": "Answer yes or no."}]}
    status, answer = call("POST", f"{service.url}/v1/{MODEL}:generateContent", body)
    assert status == 200
    assert counted.total_tokens == answer["usageMetadata"]["promptTokenCount"] > 0
    assert counted.prompt_tokens_details[0].token_count == counted.total_tokens
    assert counted.total_billable_characters > 0


def test_count_tokens_refuses_what_generate_content_refuses(service: ServiceProcess) -> None:
    status, body = call("POST", f"{service.url}/v1/{MODEL}:countTokens", request_for("hi", role="narrator"))
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_online_answers_report_thinking_and_a_cached_prefix(service: ServiceProcess) -> None:
    system = " ".join(f"rule-{uuid.uuid4().hex[:6]}-{i}" for i in range(1100))
    usages = []
    for question in ("first question", "second question"):
        body = request_for(question)
        body["systemInstruction"] = {"parts": [{"text": system}]}
        body["generationConfig"] = {"thinkingConfig": {"thinkingBudget": 64}}
        status, answer = call("POST", f"{service.url}/v1/{MODEL}:generateContent", body)
        assert status == 200, answer
        usages.append(answer["usageMetadata"])
    assert "cachedContentTokenCount" not in usages[0]
    assert usages[1]["cachedContentTokenCount"] == 1100
    for usage in usages:
        assert 0 < usage["thoughtsTokenCount"] <= 64
        assert usage["totalTokenCount"] == (
            usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
        )
