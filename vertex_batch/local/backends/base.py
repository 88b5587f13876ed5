"""The interface every model backend of the local batch service implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatPrompt:
    """One request mapped to a chat: messages plus the sampling settings Gemini allows."""

    messages: tuple[dict[str, str], ...]  # {"role": "system"|"user"|"assistant", "content": str}
    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    """What a backend produced for one prompt."""

    text: str
    finish_reason: str  # "STOP" or "MAX_TOKENS"
    prompt_tokens: int
    output_tokens: int
    avg_logprob: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


class ModelBackend(Protocol):
    """Generates answers for a batch of prompts; implementations batch internally for throughput."""

    model_version: str

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        """Answer every prompt, in order. Raise only for failures of the whole runtime."""
        ...
