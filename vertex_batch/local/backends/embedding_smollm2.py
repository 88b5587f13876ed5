"""Text embeddings from SmolLM2-135M-Instruct (the shipped GGUF) through llama.cpp's embedding mode.

Pooling: **mean** over the last hidden states of every token of the text (llama.cpp
``LLAMA_POOLING_TYPE_MEAN``; a BOS token is prepended as the model's tokenizer asks). The 576-value mean
is scaled to length 1 and mapped to 768 values by a fixed matrix with orthonormal columns (drawn once
from a seeded generator), so vectors keep their lengths and angles exactly and have the legacy text embedding models'
size. Vectors are unit length, as production's are.

Each text is decoded alone, so its vector never depends on which other texts share the call; identical
texts within one process are embedded once (a small cache). The model is a chat model, not trained for
embeddings: similar texts land closer than unrelated ones, which proves the pipeline, not retrieval quality.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from vertex_batch.local.backends.embedding import DIMENSIONS, Embedding, unit_values
from vertex_batch.local.backends.smollm2_weights import smollm2_path

#: Seed of the 576 -> 768 map: changing it changes every vector.
PROJECTION_SEED = 20260601
#: Texts whose vectors are kept (identical texts in later calls are not embedded again).
CACHE_SIZE = 4096
#: One thread: the service runs embedding and generation jobs side by side, and llama.cpp's threads spin while
#: they wait, so two 2-thread backends on a 2-core machine slow each other down (measured under load: 0.17 s
#: per review with 1 thread, 0.92 s with 2).
EMBEDDING_THREADS = 1


def orthonormal_map(rows: int, columns: int, seed: int = PROJECTION_SEED) -> np.ndarray:
    """A ``rows`` x ``columns`` matrix with orthonormal columns (``rows >= columns``), fixed by ``seed``."""
    gaussian = np.random.default_rng(seed).standard_normal((rows, columns))
    q, r = np.linalg.qr(gaussian)
    return q * np.sign(np.diag(r))  # a unique Q: the signs of R's diagonal are made positive


class SmolLM2EmbeddingBackend:
    """Mean-pooled SmolLM2 hidden states, unit length, 768 values. One call at a time (a lock)."""

    model_version = "smollm2-135m-instruct-mean-pooled@local"

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = EMBEDDING_THREADS,
        dimensions: int = DIMENSIONS,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.n_ctx = n_ctx
        self.dimensions = dimensions
        self._lock = threading.Lock()
        # Pooled embeddings need a whole sequence in one micro-batch: n_ubatch = n_batch = n_ctx.
        self.llama = llama_cpp.Llama(
            model_path=model_path or smollm2_path(),
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=verbose,
        )
        self.hidden_size = int(self.llama.n_embd())
        if dimensions < self.hidden_size:
            raise ValueError(f"dimensions must be at least the model's hidden size {self.hidden_size}")
        self._map = orthonormal_map(dimensions, self.hidden_size)
        self._prefix = len(self.llama.tokenize(b"", add_bos=True, special=False))
        self._cache: OrderedDict[tuple[str, int], Embedding] = OrderedDict()
        self._closed = False

    def embed(self, texts: Sequence[str], max_tokens: int) -> list[Embedding]:
        """One vector per text, each text decoded on its own."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the SmolLM2 embedding backend is closed")
            return [self._cached(text, max_tokens) for text in texts]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (without the BOS token)."""
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)) - self._prefix

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.llama.close()

    def _cached(self, text: str, max_tokens: int) -> Embedding:
        key = (text, max_tokens)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        result = self._one(text, max_tokens)
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _one(self, text: str, max_tokens: int) -> Embedding:
        tokens = self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        prefix, content = tokens[: self._prefix], tokens[self._prefix :]
        limit = max(0, min(max_tokens, self.n_ctx - len(prefix)))
        kept = content[:limit]
        pooled = self._pooled(prefix + kept)
        return Embedding(
            values=unit_values(self._map @ (pooled / (np.linalg.norm(pooled) or 1.0))),
            token_count=len(kept),
            truncated=len(content) > len(kept),
            input_tokens=len(content),
        )

    def _pooled(self, tokens: list[int]) -> np.ndarray:
        """The mean of the last hidden states of ``tokens`` (llama.cpp pools them)."""
        llama, lib = self.llama, self._lib
        llama._batch.reset()
        llama._batch.add_sequence(tokens, 0, True)
        llama._ctx.kv_cache_clear()
        try:
            llama._ctx.decode(llama._batch)
            pointer = lib.llama_get_embeddings_seq(llama._ctx.ctx, 0)
            if not pointer:
                raise RuntimeError("llama.cpp returned no pooled embedding")
            return np.ctypeslib.as_array(pointer, shape=(self.hidden_size,)).astype(np.float64)
        finally:
            llama._batch.reset()
            llama._ctx.kv_cache_clear()
