"""A deterministic, instant embedding backend for scale and fault tests only. It does not run a model.

Each vector is a hashed bag of words (every lower-cased word adds ±1 at a position drawn from its hash)
plus a small component drawn from the hash of the whole text, scaled to length 1. So identical texts get
identical vectors, different texts get different vectors, and texts that share words point the same way.
Tokens are words and punctuation marks (the generation fake backend counts the same way).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from vertex_batch.local.backends.embedding import DIMENSIONS, Embedding, unit_values

_TOKEN = re.compile(r"\w+|[^\w\s]")
#: Weight of the whole-text component against the bag of words (keeps different texts apart).
_TEXT_WEIGHT = 0.25


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class FakeEmbeddingBackend:
    """Hashed bag-of-words vectors; ``model_version`` says plainly that it is a test backend."""

    model_version = "fake-fast-test-embedding@local"

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str], max_tokens: int) -> list[Embedding]:
        return [self._one(text, max_tokens) for text in texts]

    def _one(self, text: str, max_tokens: int) -> Embedding:
        tokens = list(_TOKEN.finditer(text))
        total = len(tokens)
        truncated = total > max_tokens
        if truncated:
            text = text[: tokens[max_tokens - 1].end()] if max_tokens > 0 else ""
            tokens = tokens[:max_tokens]
        vector = np.zeros(self.dimensions)
        for token in tokens:
            draw = _seed(token.group().lower())
            vector[draw % self.dimensions] += 1.0 if (draw >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        noise = np.random.default_rng(_seed(text)).standard_normal(self.dimensions)
        noise *= _TEXT_WEIGHT * max(norm, 1.0) / float(np.linalg.norm(noise))
        return Embedding(
            values=unit_values(vector + noise),
            token_count=len(tokens),
            truncated=truncated,
            input_tokens=total,
        )
