"""The OpenAI-compatible backend against a fake chat server on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from vertex_batch.local.backends import BackendRowError, ChatPrompt, generate_each, load_backend
from vertex_batch.local.backends.openai_compat import OpenAICompatibleBackend, OpenAICompatibleError


def _prompt(text: str, **settings: object) -> ChatPrompt:
    return ChatPrompt(messages=({"role": "user", "content": text},), **settings)  # type: ignore[arg-type]


def test_maps_answer_usage_and_logprobs(fake_openai_server) -> None:
    with OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", api_key="secret") as backend:
        [answer] = backend.generate([_prompt("hello", max_tokens=50, seed=7, temperature=0.2)])
    assert backend.model_version == "tiny-model@openai-compatible"
    assert answer.text == "echo: hello and some more words"
    assert answer.finish_reason == "STOP"
    assert answer.prompt_tokens == 1
    assert answer.output_tokens == 6
    assert answer.avg_logprob == pytest.approx(-0.5)
    sent = fake_openai_server.requests[0]
    assert sent["messages"] == [{"role": "user", "content": "hello"}]
    assert sent["temperature"] == 0.2 and sent["top_p"] == 0.95 and sent["max_tokens"] == 50
    assert sent["seed"] == 7 and sent["logprobs"] is True and "stop" not in sent and "top_k" not in sent
    assert fake_openai_server.headers[0]["Authorization"] == "Bearer secret"


def test_length_finish_is_max_tokens(fake_openai_server) -> None:
    backend = load_backend("openai", base_url=fake_openai_server.url + "/", model="tiny-model")
    [answer] = backend.generate([_prompt("hello", max_tokens=2)])
    assert answer.finish_reason == "MAX_TOKENS"
    assert answer.text == "echo: hello"
    assert answer.output_tokens == 2


def test_stop_strings_are_sent_and_honoured(fake_openai_server) -> None:
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model")
    [answer] = backend.generate([_prompt("hello", stop=(" and",), top_k=5)])
    assert answer.text == "echo: hello"
    assert answer.finish_reason == "STOP"
    assert fake_openai_server.requests[0]["stop"] == [" and"]
    assert fake_openai_server.requests[0]["top_k"] == 5


def test_many_prompts_come_back_in_order_concurrently(fake_openai_server) -> None:
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", concurrency=4)
    answers = backend.generate([_prompt(f"row{i}") for i in range(20)])
    assert [a.text.split()[1] for a in answers] == [f"row{i}" for i in range(20)]
    assert 1 < fake_openai_server.max_in_flight <= 4


def test_unsupported_optional_fields_are_dropped_once(fake_openai_server) -> None:
    fake_openai_server.reject_fields = {"logprobs", "seed"}
    fake_openai_server.send_usage = False
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", concurrency=1)
    first, second = backend.generate([_prompt("a", seed=1), _prompt("b", seed=2)])
    assert first.text.startswith("echo: a") and second.text.startswith("echo: b")
    assert first.avg_logprob is None
    assert first.prompt_tokens == 0 and first.output_tokens == 0  # the server sent no usage
    last = fake_openai_server.requests[-1]
    assert "logprobs" not in last and "seed" not in last
    assert len(fake_openai_server.requests) == 4  # two refusals, then one request per prompt


def test_transient_errors_are_retried(fake_openai_server) -> None:
    fake_openai_server.fail_first = 2
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", backoff=0.01)
    [answer] = backend.generate([_prompt("hello")])
    assert answer.text.startswith("echo: hello")
    assert len(fake_openai_server.requests) == 3


def test_retry_after_is_waited_instead_of_the_backoff(fake_openai_server) -> None:
    fake_openai_server.fail_first = 2
    fake_openai_server.retry_after = "0"
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", backoff=20.0)
    started = time.monotonic()
    [answer] = backend.generate([_prompt("hello")])
    assert answer.text.startswith("echo: hello")
    assert len(fake_openai_server.requests) == 3
    assert time.monotonic() - started < 10, "the backoff (20 s, then 40 s) was waited, not Retry-After"


def test_persistent_server_errors_fail_the_call(fake_openai_server) -> None:
    fake_openai_server.fail_first = 10
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model", retries=1, backoff=0.01)
    with pytest.raises(OpenAICompatibleError, match="503"):
        backend.generate([_prompt("hello")])


def test_unknown_model_fails_the_call(fake_openai_server) -> None:
    backend = OpenAICompatibleBackend(fake_openai_server.url, "no-such-model")
    with pytest.raises(OpenAICompatibleError, match="not found"):
        backend.generate([_prompt("hello")])


def test_unreachable_server_fails_the_call() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", "tiny-model", retries=1, backoff=0.01)
    with pytest.raises(OpenAICompatibleError, match="cannot reach"):
        backend.generate([_prompt("hello")])


def test_too_long_prompt_is_a_row_error_with_the_other_answers(fake_openai_server) -> None:
    backend = OpenAICompatibleBackend(fake_openai_server.url, "tiny-model")
    prompts = [_prompt("fine"), _prompt("TOO_LONG " * 3), _prompt("also fine")]
    with pytest.raises(BackendRowError) as caught:
        backend.generate(prompts)
    assert caught.value.index == 1
    assert set(caught.value.failures) == {1}
    assert "maximum context length" in caught.value.message
    assert caught.value.results is not None and caught.value.results[1] is None
    assert caught.value.results[0] is not None and caught.value.results[0].text.startswith("echo: fine")

    requests_before = len(fake_openai_server.requests)
    outcomes = generate_each(backend, prompts)
    assert isinstance(outcomes[1], BackendRowError) and outcomes[1].index == 1
    assert [o.text.split()[1] for o in (outcomes[0], outcomes[2])] == ["fine", "also"]  # type: ignore[union-attr]
    assert len(fake_openai_server.requests) - requests_before == 3  # answers were not asked for twice


def test_empty_batch() -> None:
    assert OpenAICompatibleBackend("http://127.0.0.1:9/v1", "tiny-model").generate([]) == []
