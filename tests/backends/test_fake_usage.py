"""The fast test backend's usage accounting: thinking tokens, implicitly cached prefixes, token counting,
and the ``usageMetadata`` the service writes from them (priced by ``vertex_batch.costs``)."""

from __future__ import annotations

import pytest

from vertex_batch.catalog import catalog, utc_today
from vertex_batch.costs import Usage, model_cost
from vertex_batch.local import gemini
from vertex_batch.local.backends.fake import FakeFastTestBackend

pytestmark = pytest.mark.unit

LONG_SYSTEM = " ".join(f"rule{i}" for i in range(1100))


def request(text: str, system: str | None = None, **thinking: object) -> dict[str, object]:
    body: dict[str, object] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if thinking:
        body["generationConfig"] = {"thinkingConfig": thinking}
    return body


def test_thinking_is_reported_within_the_budget_and_counted_in_the_total() -> None:
    backend = FakeFastTestBackend()
    (answer,) = backend.generate([gemini.to_prompt(request("Classify: great phone", thinkingBudget=40))])
    assert 0 < answer.thoughts_tokens <= 40
    usage = gemini.to_response(answer, backend.model_version)["usageMetadata"]
    assert usage["thoughtsTokenCount"] == answer.thoughts_tokens
    assert usage["totalTokenCount"] == answer.prompt_tokens + answer.output_tokens + answer.thoughts_tokens


def test_no_thinking_without_a_budget_or_with_budget_zero() -> None:
    backend = FakeFastTestBackend()
    plain, off = backend.generate(
        [gemini.to_prompt(request("hello there")), gemini.to_prompt(request("hello there", thinkingBudget=0))]
    )
    assert plain.thoughts_tokens == off.thoughts_tokens == 0
    assert "thoughtsTokenCount" not in gemini.to_response(plain, "m")["usageMetadata"]


def test_include_thoughts_returns_a_thought_part_that_response_text_leaves_out() -> None:
    backend = FakeFastTestBackend()
    (answer,) = backend.generate([gemini.to_prompt(request("why is the sky blue", includeThoughts=True))])
    parts = gemini.to_response(answer, "m")["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"]
    assert parts[-1]["text"] == answer.text and answer.thoughts_tokens > 0


def test_a_repeated_long_system_instruction_is_a_cached_prefix() -> None:
    backend = FakeFastTestBackend()
    first, second = backend.generate(
        [gemini.to_prompt(request("review one", LONG_SYSTEM)), gemini.to_prompt(request("review two", LONG_SYSTEM))]
    )
    assert first.cached_tokens == 0
    assert second.cached_tokens == 1100 < second.prompt_tokens
    usage = gemini.to_response(second, "m")["usageMetadata"]
    assert usage["cachedContentTokenCount"] == 1100
    (short,) = backend.generate([gemini.to_prompt(request("review three", "be brief"))])
    assert short.cached_tokens == 0


def test_count_tokens_is_the_prompt_token_count_of_the_answer() -> None:
    backend = FakeFastTestBackend()
    prompt = gemini.to_prompt(request("a b c d e", "you are terse"))
    (answer,) = backend.generate([prompt])
    assert backend.count_tokens(prompt) == answer.prompt_tokens == 8


def test_cost_of_a_thinking_and_cached_answer_matches_a_hand_calculation() -> None:
    backend = FakeFastTestBackend()
    prompts = [gemini.to_prompt(request(f"review {i}", LONG_SYSTEM, thinkingBudget=30)) for i in range(2)]
    _, answer = backend.generate(prompts)
    usage = Usage.from_metadata(gemini.to_response(answer, "m")["usageMetadata"])
    assert usage.cached_content == 1100 and usage.thoughts > 0
    flash = catalog().get("gemini-3.5-flash")
    price = flash.price_at(utc_today())
    assert price is not None and price.cached_input is not None
    hand = (
        (usage.prompt - 1100) * price.input * 0.5
        + 1100 * price.cached_input
        + (usage.candidates + usage.thoughts) * price.output * 0.5
    ) / 1e6
    assert model_cost(flash, usage, utc_today()) == pytest.approx(hand, rel=1e-12)


def test_thinking_config_is_validated() -> None:
    with pytest.raises(gemini.RowError, match="thinkingBudget"):
        gemini.to_prompt(request("x", thinkingBudget=99_999))
    with pytest.raises(gemini.RowError, match="include_thoughts"):
        gemini.to_prompt(request("x", includeThoughts="yes"))


def test_max_output_tokens_bounds_answer_and_thoughts_together() -> None:
    backend = FakeFastTestBackend()
    body = request("Classify: great phone", thinkingBudget=64)
    body["generationConfig"]["maxOutputTokens"] = 6  # type: ignore[index]
    (answer,) = backend.generate([gemini.to_prompt(body)])
    assert answer.output_tokens + answer.thoughts_tokens <= 6
