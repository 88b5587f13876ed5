"""Embedding backends: unit-length vectors of the promised size, stable per text, truncation counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from vertex_batch.local.backends.embedding import DIMENSIONS, load_embedding_backend, unit_values
from vertex_batch.local.backends.embedding_fake import FakeEmbeddingBackend

TEXTS = [
    "Terrible hiking boots, a waste of money.",
    "Terrible hiking boots, a total waste of money.",
    "Love this yoga mat, works perfectly.",
    "Terrible hiking boots, a waste of money.",
]


def _cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.unit
def test_fake_vectors_are_unit_length_stable_and_distinct() -> None:
    backend = FakeEmbeddingBackend()
    first = backend.embed(TEXTS, max_tokens=2048)
    again = backend.embed(list(reversed(TEXTS)), max_tokens=2048)
    assert [len(e.values) for e in first] == [DIMENSIONS] * 4
    assert all(abs(np.linalg.norm(e.values) - 1) < 1e-6 for e in first)
    assert first[0].values == first[3].values == again[0].values
    assert first[0].values != first[1].values
    # Shared words point the same way: the near-duplicate is closer than the unrelated review.
    assert _cosine(first[0].values, first[1].values) > _cosine(first[0].values, first[2].values)


@pytest.mark.unit
def test_fake_truncates_at_max_tokens() -> None:
    backend = FakeEmbeddingBackend()
    long_text = " ".join(f"w{i}" for i in range(30))
    (cut,) = backend.embed([long_text], max_tokens=10)
    (prefix,) = backend.embed([" ".join(f"w{i}" for i in range(10))], max_tokens=10)
    assert (cut.token_count, cut.truncated, cut.input_tokens) == (10, True, 30)
    assert cut.values == prefix.values
    (short,) = backend.embed(["two words"], max_tokens=10)
    assert (short.token_count, short.truncated, short.input_tokens) == (2, False, 2)


@pytest.mark.unit
def test_unit_values_and_backend_names() -> None:
    assert unit_values(np.array([3.0, 4.0])) == (0.6, 0.8)
    assert unit_values(np.zeros(2)) == (0.0, 0.0)
    assert isinstance(load_embedding_backend("fake-fast-test"), FakeEmbeddingBackend)
    with pytest.raises(ValueError, match="cannot embed"):
        load_embedding_backend("openai")


@pytest.mark.unit
def test_orthonormal_map_keeps_lengths_and_angles() -> None:
    from vertex_batch.local.backends.embedding_smollm2 import orthonormal_map

    matrix = orthonormal_map(768, 576)
    assert matrix.shape == (768, 576)
    assert np.allclose(matrix.T @ matrix, np.eye(576), atol=1e-9)
    assert np.array_equal(matrix, orthonormal_map(768, 576))


@pytest.fixture(scope="module")
def smollm2_embedder() -> Iterator[Any]:
    backend = load_embedding_backend("smollm2")
    try:
        yield backend
    finally:
        backend.close()  # type: ignore[attr-defined]


@pytest.mark.model
def test_smollm2_mean_pooled_vectors(smollm2_embedder: Any) -> None:
    first = smollm2_embedder.embed(TEXTS, max_tokens=2048)
    assert [len(e.values) for e in first] == [DIMENSIONS] * 4
    assert all(abs(np.linalg.norm(e.values) - 1) < 1e-6 for e in first)
    assert first[0].values == first[3].values
    assert first[0].values != first[1].values
    assert _cosine(first[0].values, first[1].values) > _cosine(first[0].values, first[2].values)
    assert all(e.token_count > 0 and not e.truncated for e in first)
    # Decoded alone: a text's vector does not depend on the other texts of the call (cache cleared).
    smollm2_embedder._cache.clear()
    (alone,) = smollm2_embedder.embed([TEXTS[0]], max_tokens=2048)
    assert alone.values == first[0].values


@pytest.mark.model
def test_smollm2_truncation(smollm2_embedder: Any) -> None:
    (cut,) = smollm2_embedder.embed(["word " * 40], max_tokens=8)
    assert cut.truncated and cut.token_count == 8 and cut.input_tokens > 8
