"""The interface of the local service's text-embedding backends, and the backend chosen by name.

An embedding backend turns texts into unit-length vectors of a fixed size (``dimensions``). It counts
tokens with its own tokenizer, embeds at most ``max_tokens`` of them and says whether it cut the text.
What goes into the text (title, task type) and what a row's output looks like is the service's business
(``vertex_batch.local.service.embeddings``); backends only embed strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Backend names, as for the generation backends (``--backend``).
EMBEDDING_BACKENDS = ("smollm2", "fake-fast-test")
#: Size of the vectors every local backend returns: the legacy text embedding models' default output size.
DIMENSIONS = 768
#: Decimal places kept in each value (short JSON; float32 precision is about 7 significant digits).
VALUE_DECIMALS = 8


@dataclass(frozen=True)
class Embedding:
    """One text's vector (unit length, ``dimensions`` values) and its token statistics."""

    values: tuple[float, ...]
    token_count: int  # tokens embedded (after any truncation)
    truncated: bool  # the text had more than ``max_tokens`` tokens and was cut
    input_tokens: int  # tokens of the whole text, before truncation


class EmbeddingBackend(Protocol):
    """Embeds texts, in order."""

    model_version: str
    dimensions: int

    def embed(self, texts: Sequence[str], max_tokens: int) -> list[Embedding]:
        """One ``Embedding`` per text; a text longer than ``max_tokens`` tokens is cut to its first
        ``max_tokens`` tokens and marked ``truncated``."""
        ...


def unit_values(vector: np.ndarray) -> tuple[float, ...]:
    """``vector`` scaled to length 1 and rounded to ``VALUE_DECIMALS`` places (a zero vector stays zero)."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector = vector / norm
    return tuple(np.round(vector, VALUE_DECIMALS).tolist())


def load_embedding_backend(name: str, **options: object) -> EmbeddingBackend:
    """The embedding backend that goes with generation backend ``name``; options go to its constructor."""
    if name == "smollm2":
        from vertex_batch.local.backends.embedding_smollm2 import SmolLM2EmbeddingBackend

        return SmolLM2EmbeddingBackend(**options)  # type: ignore[arg-type]
    if name == "fake-fast-test":
        from vertex_batch.local.backends.embedding_fake import FakeEmbeddingBackend

        return FakeEmbeddingBackend(**options)  # type: ignore[arg-type]
    raise ValueError(
        f"the {name!r} backend cannot embed text; embedding models run on one of {', '.join(EMBEDDING_BACKENDS)}"
    )
