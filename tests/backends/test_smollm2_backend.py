"""The SmolLM2 backend on the real model: properties of the answers, never exact texts."""

from __future__ import annotations

import pytest

from vertex_batch.local.backends import BackendRowError, ChatPrompt, generate_each, load_backend
from vertex_batch.local.backends.smollm2 import PromptTooLong
from vertex_batch.local.backends.smollm2_weights import smollm2_path

pytestmark = pytest.mark.model


def _chat(user: str, system: str | None = None, **settings: object) -> ChatPrompt:
    messages = ({"role": "system", "content": system},) if system else ()
    messages += ({"role": "user", "content": user},)
    settings.setdefault("temperature", 0.0)
    settings.setdefault("max_tokens", 24)
    return ChatPrompt(messages=messages, **settings)  # type: ignore[arg-type]


def test_model_file_is_found() -> None:
    assert smollm2_path().endswith(".gguf")


def test_answer_properties(smollm2) -> None:
    [answer] = smollm2.generate([_chat("Write one sentence about the sea.", max_tokens=32)])
    assert smollm2.model_version == "smollm2-135m-instruct@local"
    assert answer.text.strip()
    assert answer.finish_reason in ("STOP", "MAX_TOKENS")
    assert answer.prompt_tokens > 5
    assert 0 < answer.output_tokens <= 32
    assert answer.avg_logprob is not None and answer.avg_logprob < 0


def test_prompt_tokens_match_the_chat_template(smollm2) -> None:
    prompt = _chat("Hello there")
    [answer] = smollm2.generate([prompt])
    assert answer.prompt_tokens == len(smollm2.prompt_tokens(prompt))
    with_system = _chat("Hello there", system="You answer in one word.")
    [other] = smollm2.generate([with_system])
    assert other.prompt_tokens != answer.prompt_tokens


def test_max_tokens_cuts_the_answer(smollm2) -> None:
    [answer] = smollm2.generate([_chat("Tell me a long story about a dragon and a knight.", max_tokens=5)])
    assert answer.finish_reason == "MAX_TOKENS"
    assert answer.output_tokens == 5
    assert answer.text.strip()


def test_zero_max_tokens(smollm2) -> None:
    [answer] = smollm2.generate([_chat("Hi", max_tokens=0)])
    assert (answer.text, answer.finish_reason, answer.output_tokens) == ("", "MAX_TOKENS", 0)
    assert answer.prompt_tokens > 0


def test_stop_strings_are_honoured_and_trimmed(smollm2) -> None:
    question = "List the numbers from 1 to 10, separated by commas."
    [free] = smollm2.generate([_chat(question, max_tokens=40)])
    assert "," in free.text, "the unconstrained answer should contain the stop string"
    [stopped] = smollm2.generate([_chat(question, max_tokens=40, stop=(",",))])
    assert "," not in stopped.text
    assert stopped.finish_reason == "STOP"
    assert stopped.output_tokens < free.output_tokens
    assert free.text.startswith(stopped.text)


def test_same_prompt_twice_gives_the_same_text(smollm2) -> None:
    prompts = [_chat("Name a colour."), _chat("Name an animal.")]
    first = smollm2.generate(prompts)
    second = smollm2.generate(prompts)
    assert [a.text for a in first] == [b.text for b in second]
    assert [a.output_tokens for a in first] == [b.output_tokens for b in second]


def test_seeded_sampling_is_repeatable(smollm2) -> None:
    prompts = [_chat("Invent a name for a cat.", temperature=1.0, top_p=0.9, top_k=40, seed=11)]
    assert smollm2.generate(prompts)[0].text == smollm2.generate(prompts)[0].text


def test_batch_returns_answers_in_order_with_mixed_settings(smollm2) -> None:
    prompts = [
        _chat("What is the capital of France? Answer in one word.", max_tokens=8),
        _chat("Count from 1 to 20.", max_tokens=3),
        _chat("Say hello.", temperature=0.8, top_p=0.9, seed=3, max_tokens=16),
        _chat("Write a haiku about rain.", temperature=1.2, top_k=20, seed=5, max_tokens=30, stop=("\n",)),
        _chat("Count from 1 to 50.", max_tokens=12),
    ] * 3  # 15 prompts: more than max_batch=8, so slots are reused
    answers = smollm2.generate(prompts)
    assert len(answers) == len(prompts)
    for prompt, answer in zip(prompts, answers, strict=True):
        assert answer.output_tokens <= prompt.max_tokens
        assert answer.prompt_tokens == len(smollm2.prompt_tokens(prompt))
        if answer.finish_reason == "MAX_TOKENS":
            assert answer.output_tokens == prompt.max_tokens
    assert "paris" in answers[0].text.lower()
    assert answers[1].finish_reason == "MAX_TOKENS" and answers[1].output_tokens == 3
    assert "\n" not in answers[3].text
    greedy = [i for i, p in enumerate(prompts) if p.temperature == 0]
    for i in greedy:  # the same greedy prompt in the same batch gives the same answer
        assert answers[i].text == answers[i % 5].text


def test_capital_of_france(smollm2) -> None:
    [answer] = smollm2.generate([_chat("What is the capital of France?", system="Be concise.", max_tokens=24)])
    assert "paris" in answer.text.lower()


def test_obvious_sentiment(smollm2) -> None:
    review = "I loved it! Wonderful, the best purchase I ever made."
    question = f"Is the sentiment of this review positive or negative?\nReview: {review}"
    [answer] = smollm2.generate([_chat(question, max_tokens=16)])
    assert "positive" in answer.text.lower()


def test_shared_prompt_prefix_in_a_batch(smollm2) -> None:
    question = "Is the sentiment of this review positive or negative?\nReview: "
    reviews = [
        "I loved it! Wonderful, the best purchase I ever made.",
        "Terrible. It broke on the first day and support never answered.",
        "I loved it! Wonderful, the best purchase I ever made.",
    ]
    answers = smollm2.generate([_chat(question + review, max_tokens=16) for review in reviews])
    assert "positive" in answers[0].text.lower()
    assert answers[0].text == answers[2].text
    assert all(a.text.strip() and a.output_tokens > 0 for a in answers)
    assert answers[1].prompt_tokens == len(smollm2.prompt_tokens(_chat(question + reviews[1])))


def test_common_prefix_length() -> None:
    from vertex_batch.local.backends.smollm2 import _common_prefix_length

    assert _common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert _common_prefix_length([[1, 2], [1, 2]]) == 2
    assert _common_prefix_length([[7], [1, 2]]) == 0


def test_too_long_prompt_is_a_row_error(smollm2) -> None:
    long_prompt = _chat("word " * 2000)
    with pytest.raises(PromptTooLong) as caught:
        smollm2.generate([_chat("Hi", max_tokens=4), long_prompt])
    assert isinstance(caught.value, BackendRowError)
    assert caught.value.index == 1 and set(caught.value.failures) == {1}
    assert "context" in caught.value.message
    outcomes = generate_each(smollm2, [_chat("Hi", max_tokens=4), long_prompt, _chat("Hello", max_tokens=4)])
    assert isinstance(outcomes[1], BackendRowError)
    assert all(o.output_tokens > 0 for o in (outcomes[0], outcomes[2]))  # type: ignore[union-attr]


def test_prompt_near_the_context_gets_cut_at_the_context(smollm2) -> None:
    instruction = "\nRepeat the word 'word' forever."
    words = smollm2.n_ctx - len(smollm2.prompt_tokens(_chat(instruction))) - 30
    prompt = _chat("word " * words + instruction, max_tokens=500)
    room = smollm2.n_ctx - len(smollm2.prompt_tokens(prompt))
    assert 0 < room < 500
    [answer] = smollm2.generate([prompt])
    assert answer.prompt_tokens + answer.output_tokens <= smollm2.n_ctx
    assert answer.finish_reason == ("MAX_TOKENS" if answer.output_tokens == room else "STOP")


def test_registry_builds_the_backend() -> None:
    pytest.importorskip("llama_cpp")
    backend = load_backend("smollm2", n_ctx=256, max_batch=2)
    try:
        [answer] = backend.generate([_chat("Hi", max_tokens=4)])
        assert answer.output_tokens > 0
    finally:
        backend.close()  # type: ignore[attr-defined]


def test_stream_answers_batches_in_order_through_one_context(smollm2) -> None:
    batches = [
        [_chat("Name a colour.", max_tokens=6), _chat("Count from 1 to 50.", max_tokens=20)],
        [],
        [_chat("Name an animal.", max_tokens=6), _chat("Hi", max_tokens=0), _chat("word " * 2000)],
        [_chat("Say hello.", max_tokens=4)] * 9,  # more rows than max_batch=8: slots are handed on
    ]
    outcomes = list(smollm2.generate_stream(batches))
    assert [len(o) for o in outcomes] == [len(b) for b in batches]
    assert all(o.output_tokens <= 6 for o in outcomes[0][:1] + outcomes[2][:1])  # type: ignore[union-attr]
    assert outcomes[0][1].output_tokens > 6  # type: ignore[union-attr]
    assert outcomes[2][1].output_tokens == 0 and outcomes[2][1].finish_reason == "MAX_TOKENS"  # type: ignore[union-attr]
    assert isinstance(outcomes[2][2], PromptTooLong)
    assert all(o.text.strip() and 0 < o.output_tokens <= 4 for o in outcomes[3])  # type: ignore[union-attr]


def test_stream_closed_early_frees_the_backend(smollm2) -> None:
    batches = ([_chat(f"Write a sentence about the number {i}.", max_tokens=12)] for i in range(50))
    stream = smollm2.generate_stream(batches)
    first = next(stream)
    stream.close()
    assert first[0].output_tokens > 0  # type: ignore[union-attr]
    [answer] = smollm2.generate([_chat("Hi", max_tokens=4)])  # the lock and the context are free again
    assert answer.output_tokens > 0
