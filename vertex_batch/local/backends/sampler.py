"""Choosing a sequence's next token from its logits, with the prompt's temperature, top-k, top-p and seed.

Free text is sampled in numpy from the logits row of the batch (temperature 0 or top-k 1 is greedy). A
sequence with a grammar (structured output) is sampled by its own llama.cpp sampler chain, the grammar
first, so that only tokens that keep the answer valid can be drawn; the chain keeps the grammar's state
from token to token. Both draw from a generator seeded with the prompt's seed, so answers repeat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vertex_batch.local.backends.base import ChatPrompt

# top-p first looks among this many most likely tokens, and four times more until they hold ``top_p``.
_TOP_P_FIRST_LOOK = 64


def is_greedy(prompt: ChatPrompt) -> bool:
    """Whether ``prompt``'s settings always choose the most likely token."""
    return prompt.temperature <= 0 or prompt.top_k == 1


def sample_token(logits: np.ndarray, prompt: ChatPrompt, rng: np.random.Generator) -> int:
    """One token id from a row of logits: greedy at temperature 0, else temperature, top-k and top-p."""
    if is_greedy(prompt):
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / prompt.temperature
    n_vocab = scaled.shape[0]
    if prompt.top_k is not None and 0 < prompt.top_k < n_vocab:
        candidates = np.argpartition(-scaled, prompt.top_k - 1)[: prompt.top_k]
    else:
        candidates = np.arange(n_vocab)
    values = scaled[candidates]
    probs = np.exp(values - values.max())
    probs /= probs.sum()
    top_p = prompt.top_p
    if top_p is not None and 0 < top_p < 1:
        k = min(_TOP_P_FIRST_LOOK, probs.shape[0])
        while True:
            part = np.argpartition(-probs, k - 1)[:k] if k < probs.shape[0] else np.arange(k)
            if probs[part].sum() >= top_p or k >= probs.shape[0]:
                break
            k = min(k * 4, probs.shape[0])
        order = part[np.argsort(-probs[part], kind="stable")]
        cumulative = np.cumsum(probs[order])
        keep = int(np.searchsorted(cumulative, top_p)) + 1
        order = order[:keep]
        candidates, probs = candidates[order], probs[order]
        probs = probs / probs.sum()
    return int(candidates[rng.choice(probs.shape[0], p=probs)])


def grammar_sampler(model: Any, grammar: str, prompt: ChatPrompt, rng: np.random.Generator) -> Any:
    """A llama.cpp sampler chain (``LlamaSampler``) for a sequence held to ``grammar``: the grammar, then
    ``prompt``'s top-k, temperature and top-p (greedy at temperature 0), seeded from ``rng``.

    ``model`` is the ``LlamaModel`` whose vocabulary the grammar was checked against (``GrammarCache``).
    The chain copies the logits it reads, and sampling from it also advances the grammar. Close it when
    the sequence is done.
    """
    from llama_cpp._internals import LlamaSampler
    from llama_cpp.llama_grammar import LlamaGrammar

    chain = LlamaSampler()
    chain.add_grammar(model, LlamaGrammar.from_string(grammar))
    if is_greedy(prompt):
        chain.add_greedy()
        return chain
    if prompt.top_k is not None and prompt.top_k > 0:
        chain.add_top_k(prompt.top_k)
    chain.add_temp(prompt.temperature)
    if prompt.top_p is not None and 0 < prompt.top_p < 1:
        chain.add_top_p(prompt.top_p, 1)
    chain.add_dist(int(rng.integers(0, 2**32 - 1)))
    return chain
