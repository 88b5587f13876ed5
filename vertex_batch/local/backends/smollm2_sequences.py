"""The state of the prompts the SmolLM2 backend is answering: one ``SequenceState`` a prompt, grouped by
the batch of the stream it came in (``BatchOutcomes``), each batch handed back once all its rows are done.

A sequence collects its answer token by token (``add``) until the end of generation, a stop string or its
token budget, and then records its ``Generation``, or the error it failed with, in its batch (``finish``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertex_batch.local.backends.base import ChatPrompt, Generation, cut_at_stop


@dataclass
class BatchOutcomes:
    """The outcomes of one batch of prompts handed to the stream, filled in as its sequences finish."""

    outcomes: list[Generation | Exception | None]
    remaining: int  # sequences of the batch still being answered


@dataclass
class SequenceState:
    """The state of one prompt while it is being answered."""

    index: int  # position in its batch
    tokens: list[int]
    budget: int  # tokens it may generate: min(max_tokens, room left in its context)
    prompt: ChatPrompt
    rng: np.random.Generator
    batch: BatchOutcomes
    grammar: str | None = None  # GBNF the answer must follow (structured output)
    sampler: Any = None  # the llama.cpp sampler chain of a sequence with a grammar, while it is live
    seq_id: int = -1
    shared: int = 0  # leading prompt tokens whose cells are shared with the prefix sequence
    n_fed: int = 0  # tokens of the sequence already decoded into the context
    output: list[int] = field(default_factory=list)
    text_bytes: bytearray = field(default_factory=bytearray)
    logprob_sum: float = 0.0
    logprob_count: int = 0
    finish_reason: str | None = None
    text: str = ""

    @property
    def reserved(self) -> int:
        """Context cells this sequence may use at most, besides the shared prefix."""
        return len(self.tokens) - self.shared + self.budget

    def add(self, token: int, logprob: float, piece: bytes | None) -> None:
        """Take the chosen ``token`` (its text ``piece``, or ``None`` for end of generation); finish on end
        of generation, a stop string or the token budget."""
        self.logprob_sum += logprob
        self.logprob_count += 1
        if piece is None:
            self.finish_reason = "STOP"
        else:
            self.output.append(token)
            self.text_bytes += piece
            if self.prompt.stop:
                text = self.text_bytes.decode("utf-8", errors="ignore")
                cut = cut_at_stop(text, self.prompt.stop)
                if cut != text:
                    self.text = cut
                    self.finish_reason = "STOP"
            if self.finish_reason is None and len(self.output) >= self.budget:
                self.finish_reason = "MAX_TOKENS"
        if self.finish_reason is not None:
            self.finish()

    def finish(self, failure: Exception | None = None) -> None:
        """Record the outcome of a sequence that is done (answered, or failed with ``failure``)."""
        self.release()
        if failure is not None:
            self.finish_reason = "ERROR"
        self.batch.outcomes[self.index] = failure if failure is not None else self.result()
        self.batch.remaining -= 1

    def release(self) -> None:
        """Free the sampler chain of the sequence (and the samplers it owns)."""
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None

    def result(self) -> Generation:
        """The answer so far, as a ``Generation``."""
        text = self.text
        if not text and self.output:
            # A stop string found only after the tokens that closed a multi-byte character.
            text = cut_at_stop(self.text_bytes.decode("utf-8", errors="ignore"), self.prompt.stop)
        avg = self.logprob_sum / self.logprob_count if self.logprob_count else None
        return Generation(
            text=text,
            finish_reason=self.finish_reason or "STOP",
            prompt_tokens=len(self.tokens),
            output_tokens=len(self.output),
            avg_logprob=avg,
        )
