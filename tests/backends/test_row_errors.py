"""``BackendRowError`` and ``generate_each``: per-row failures without losing the other rows."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from vertex_batch.local.backends import BackendRowError, ChatPrompt, Generation, generate_each


def _prompt(text: str) -> ChatPrompt:
    return ChatPrompt(messages=({"role": "user", "content": text},))


class _RefusesBadRows:
    """Raises for every prompt containing "bad" before doing any work, like the SmolLM2 backend."""

    model_version = "stub@test"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        texts = [p.messages[0]["content"] for p in prompts]
        self.calls.append(texts)
        failures = {i: "bad row" for i, text in enumerate(texts) if "bad" in text}
        if failures:
            raise BackendRowError(min(failures), "bad row", failures=failures)
        return [Generation(text=t.upper(), finish_reason="STOP", prompt_tokens=1, output_tokens=1) for t in texts]


def test_generate_each_drops_failed_rows_and_asks_again() -> None:
    backend = _RefusesBadRows()
    outcomes = generate_each(backend, [_prompt(t) for t in ("a", "bad1", "b", "bad2")])
    assert [o.text if isinstance(o, Generation) else o.index for o in outcomes] == ["A", 1, "B", 3]
    assert backend.calls == [["a", "bad1", "b", "bad2"], ["a", "b"]]
    assert isinstance(outcomes[3], BackendRowError) and outcomes[3].message == "bad row"


def test_generate_each_passes_plain_answers_through() -> None:
    outcomes = generate_each(_RefusesBadRows(), [_prompt("x"), _prompt("y")])
    assert [o.text for o in outcomes] == ["X", "Y"]  # type: ignore[union-attr]


def test_runtime_failures_are_not_row_errors() -> None:
    class Broken:
        model_version = "broken@test"

        def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
            raise RuntimeError("the runtime is gone")

    with pytest.raises(RuntimeError, match="gone"):
        generate_each(Broken(), [_prompt("x")])


def test_row_error_defaults() -> None:
    error = BackendRowError(2, "too long")
    assert error.failures == {2: "too long"} and error.results is None
    assert str(error) == "row 2: too long"
