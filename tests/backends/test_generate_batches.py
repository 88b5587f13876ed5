"""``generate_batches``: batch outcomes in order, from streaming and one-call-per-batch backends."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import pytest

from vertex_batch.local.backends import BackendRowError, ChatPrompt, Generation, generate_batches

pytestmark = pytest.mark.unit


def _prompt(text: str) -> ChatPrompt:
    return ChatPrompt(messages=({"role": "user", "content": text},))


def _answer(prompt: ChatPrompt) -> Generation:
    return Generation(text=prompt.messages[0]["content"], finish_reason="STOP", prompt_tokens=1, output_tokens=1)


class Streaming:
    model_version = "streaming"

    def __init__(self, fail_after: int | None = None) -> None:
        self.taken = 0
        self.fail_after = fail_after
        self.closed = threading.Event()

    def generate_stream(
        self, batches: Iterable[Sequence[ChatPrompt]], stop: threading.Event
    ) -> Iterator[list[Generation | Exception]]:
        try:
            for number, prompts in enumerate(batches):
                if stop.is_set():
                    return
                self.taken += 1
                if self.fail_after is not None and number == self.fail_after:
                    raise RuntimeError("the runtime broke")
                yield [_answer(p) for p in prompts]
        finally:
            self.closed.set()


class OneCallPerBatch:
    model_version = "plain"

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        if any(p.messages[0]["content"] == "bad" for p in prompts):
            bad = next(i for i, p in enumerate(prompts) if p.messages[0]["content"] == "bad")
            raise BackendRowError(bad, "bad row")
        if any(p.messages[0]["content"] == "crash" for p in prompts):
            raise RuntimeError("crashed")
        return [_answer(p) for p in prompts]


def _batches(count: int) -> Iterator[list[ChatPrompt]]:
    return ([_prompt(f"{i}.{j}") for j in range(3)] for i in range(count))


def test_streaming_backend_answers_every_batch_in_order() -> None:
    outcomes = list(generate_batches(Streaming(), _batches(20)))
    assert [[o.text for o in batch] for batch in outcomes] == [[f"{i}.{j}" for j in range(3)] for i in range(20)]  # type: ignore[union-attr]


def test_closing_stops_the_stream_ahead_of_the_caller() -> None:
    backend = Streaming()
    stream = generate_batches(backend, _batches(1000), ahead=2)
    assert next(stream)[0].text == "0.0"  # type: ignore[union-attr]
    stream.close()
    assert backend.closed.is_set() and backend.taken < 10


def test_a_failing_stream_raises_in_the_caller() -> None:
    stream = generate_batches(Streaming(fail_after=2), _batches(5))
    assert len(next(stream)) == 3 and len(next(stream)) == 3
    with pytest.raises(RuntimeError, match="the runtime broke"):
        next(stream)


def test_other_backends_answer_batch_by_batch_with_per_row_outcomes() -> None:
    batches = [[_prompt("a"), _prompt("bad"), _prompt("c")], [_prompt("crash")], []]
    first, second, third = generate_batches(OneCallPerBatch(), batches)
    assert [type(o) for o in first] == [Generation, BackendRowError, Generation]
    assert isinstance(second[0], RuntimeError) and third == []
