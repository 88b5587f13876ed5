"""A deterministic, instant backend for scale and fault tests only. It does not run a model.

Its answers are derived from a hash of the prompt, so they are stable and cheap; token counts are word
counts. Never use it to judge answers: it exists to push hundreds of thousands of rows through the pipeline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from vertex_batch.local.backends.base import ChatPrompt, Generation

_WORDS = ("positive", "negative", "neutral", "yes", "no", "maybe", "alpha", "beta", "gamma", "delta")


class FakeFastTestBackend:
    """Deterministic pseudo-answers; ``model_version`` says plainly that it is a test backend."""

    model_version = "fake-fast-test@local"

    def __init__(self, words_per_answer: int = 4) -> None:
        self.words_per_answer = words_per_answer

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        return [self._one(prompt) for prompt in prompts]

    def _one(self, prompt: ChatPrompt) -> Generation:
        text_in = "\n".join(message["content"] for message in prompt.messages)
        digest = hashlib.sha256(text_in.encode()).digest()
        wanted = min(self.words_per_answer, prompt.max_tokens)
        words = [_WORDS[b % len(_WORDS)] for b in digest[:wanted]]
        text = " ".join(words)
        for stop in prompt.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        finish = "MAX_TOKENS" if prompt.max_tokens < self.words_per_answer else "STOP"
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=max(1, len(text_in.split())),
            output_tokens=len(text.split()),
            avg_logprob=-0.1,
        )
