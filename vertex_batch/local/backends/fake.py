"""A deterministic, instant backend for scale and fault tests only. It does not run a model.

Its answers are derived from a hash of the prompt, so they are stable and cheap; token counts are word
counts (``count_tokens`` gives the same count ``promptTokenCount`` reports). Never use it to judge answers:
it exists to push hundreds of thousands of rows through the pipeline.

Usage accounting is exercised like Gemini 2.5's: a prompt that asks for thinking (``thinkingBudget`` > 0 or
-1, or ``includeThoughts``) reports ``thoughts_tokens`` drawn from the hash, at most the budget, with a
thought summary when ``includeThoughts``; a system instruction of at least ``min_cached_tokens`` words that
this backend has answered before counts as an implicitly cached prefix (``cached_tokens``), as Gemini's
implicit cache does for repeated prefixes of 1024+ tokens.

Structured output is honoured: with ``responseMimeType: application/json`` and a ``responseSchema`` the
answer is JSON that follows the schema as ``response_schema.to_json_schema`` reads it for every backend
(every property present, values drawn from the same hash); with ``text/x.enum`` it is one of the schema's
``enum`` values.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from vertex_batch.local.backends.base import SCHEMA_MIME_TYPES, ChatPrompt, Generation, cut_at_stop
from vertex_batch.local.backends.response_schema import to_json_schema

_WORDS = ("positive", "negative", "neutral", "yes", "no", "maybe", "alpha", "beta", "gamma", "delta")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DEFAULT_ARRAY_ITEMS = (1, 3)
_DEFAULT_INTEGER_RANGE = (0, 100)
#: Gemini 2.5 Flash's minimum prefix for implicit caching, in tokens (here: words).
MIN_CACHED_PREFIX_TOKENS = 1024
#: Thinking budget assumed for dynamic thinking (``thinkingBudget`` -1 or unset with ``includeThoughts``).
DYNAMIC_THINKING_TOKENS = 8192


class FakeFastTestBackend:
    """Deterministic pseudo-answers; ``model_version`` says plainly that it is a test backend."""

    model_version = "fake-fast-test@local"

    def __init__(self, words_per_answer: int = 4, min_cached_tokens: int = MIN_CACHED_PREFIX_TOKENS) -> None:
        self.words_per_answer = words_per_answer
        self.min_cached_tokens = min_cached_tokens
        self._seen_prefixes: set[bytes] = set()
        self._lock = threading.Lock()

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        return [self._with_usage(prompt, self._one(prompt)) for prompt in prompts]

    def count_tokens(self, prompt: ChatPrompt) -> int:
        """The prompt's token count, as ``promptTokenCount`` of its answer reports it."""
        return max(1, len(_prompt_text(prompt).split()))

    def _with_usage(self, prompt: ChatPrompt, generation: Generation) -> Generation:
        """Add thinking tokens and the cached prefix to an answer."""
        text_in = _prompt_text(prompt)
        thoughts, summary = 0, ""
        budget = prompt.thinking_budget
        if (budget is not None and budget != 0) or prompt.include_thoughts:
            limit = DYNAMIC_THINKING_TOKENS if budget is None or budget < 0 else budget
            digest = hashlib.sha256(("thinking\0" + text_in).encode()).digest()
            # As on Gemini 2.5, maxOutputTokens bounds the answer and the thoughts together.
            room = max(prompt.max_tokens - generation.output_tokens, 0)
            thoughts = min(limit, room, 16 + int.from_bytes(digest[:2], "big") % 48)
            if prompt.include_thoughts:
                summary = "Thinking about: " + " ".join(text_in.split()[:8])
        return replace(
            generation,
            thoughts_tokens=thoughts,
            thought_text=summary,
            cached_tokens=min(self._cached_prefix(prompt), generation.prompt_tokens),
        )

    def _cached_prefix(self, prompt: ChatPrompt) -> int:
        """Words of a system instruction answered before (0 the first time, or when it is too short)."""
        if not prompt.messages or prompt.messages[0]["role"] != "system":
            return 0
        words = len(prompt.messages[0]["content"].split())
        if words < self.min_cached_tokens:
            return 0
        key = hashlib.sha256(prompt.messages[0]["content"].encode()).digest()
        with self._lock:
            seen = key in self._seen_prefixes
            self._seen_prefixes.add(key)
        return words if seen else 0

    def _one(self, prompt: ChatPrompt) -> Generation:
        text_in = _prompt_text(prompt)
        if prompt.response_schema is not None and prompt.response_mime_type in SCHEMA_MIME_TYPES:
            return self._structured(prompt, text_in)
        digest = hashlib.sha256(text_in.encode()).digest()
        wanted = min(self.words_per_answer, prompt.max_tokens)
        words = [_WORDS[b % len(_WORDS)] for b in digest[:wanted]]
        text = cut_at_stop(" ".join(words), prompt.stop)
        finish = "MAX_TOKENS" if prompt.max_tokens < self.words_per_answer else "STOP"
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=max(1, len(text_in.split())),
            output_tokens=len(text.split()),
            avg_logprob=-0.1,
        )

    def _structured(self, prompt: ChatPrompt, text_in: str) -> Generation:
        """A schema-conforming answer, cut at ``max_tokens`` (then ``MAX_TOKENS``) like a real model's."""
        assert prompt.response_schema is not None
        value = schema_value(prompt.response_schema, text_in)
        if prompt.response_mime_type == "text/x.enum":
            text = value if isinstance(value, str) else json.dumps(value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        tokens = list(_TOKEN.finditer(text))
        finish = "STOP"
        if len(tokens) > prompt.max_tokens:
            text = text[: tokens[prompt.max_tokens - 1].end()]
            tokens = tokens[: prompt.max_tokens]
            finish = "MAX_TOKENS"
        text = cut_at_stop(text, prompt.stop)
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=max(1, len(text_in.split())),
            output_tokens=len(_TOKEN.findall(text)),
            avg_logprob=-0.1,
        )


def _prompt_text(prompt: ChatPrompt) -> str:
    return "\n".join(message["content"] for message in prompt.messages)


def schema_value(schema: Mapping[str, Any], seed: str) -> Any:
    """A JSON value that follows a Gemini ``Schema`` (or a JSON Schema), drawn deterministically from ``seed``.

    The schema is read as ``to_json_schema`` converts it: every property is filled, in ``propertyOrdering``
    order; arrays have ``minItems``..``maxItems`` items (1 to 3 by default); strings honour ``enum`` and the
    ``date`` / ``date-time`` formats, numbers ``minimum``/``maximum``; ``anyOf`` takes its first option.
    """
    return _value(to_json_schema(schema), seed, "$")


def _draw(seed: str, path: str) -> int:
    """A 64-bit number from the seed and the value's path, so that sibling values differ."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{path}".encode()).digest()[:8], "big")


def _value(schema: Mapping[str, Any], seed: str, path: str) -> Any:
    """The value at ``path`` of a converted (JSON) schema."""
    options = schema.get("anyOf")
    if options:
        return _value(options[0], seed, path)
    draw = _draw(seed, path)
    enum = schema.get("enum")
    if enum:
        return enum[draw % len(enum)]
    kind = schema.get("type", "string")
    if isinstance(kind, list):  # ["string", "null"]: a value of the first type that is not null
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _value(value, seed, f"{path}.{name}") for name, value in properties.items()}
    if kind == "array":
        low = schema.get("minItems", _DEFAULT_ARRAY_ITEMS[0])
        high = max(schema.get("maxItems", max(low, _DEFAULT_ARRAY_ITEMS[1])), low)
        count = low + draw % (high - low + 1)
        return [_value(schema.get("items", {}), seed, f"{path}[{i}]") for i in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", _DEFAULT_INTEGER_RANGE[0]))
        high = max(int(schema.get("maximum", low + _DEFAULT_INTEGER_RANGE[1])), low)
        return low + draw % (high - low + 1)
    if kind == "number":
        low = float(schema.get("minimum", 0.0))
        high = max(float(schema.get("maximum", low + 1.0)), low)
        return min(max(round(low + (high - low) * (draw % 10_001) / 10_000, 2), low), high)
    if kind == "boolean":
        return draw % 2 == 0
    if kind == "null":
        return None
    return _string(schema, draw)


def _string(schema: Mapping[str, Any], draw: int) -> str:
    fmt = schema.get("format")
    if fmt in ("date-time", "date"):
        day = f"2025-{1 + draw % 12:02d}-{1 + (draw >> 8) % 28:02d}"
        return day if fmt == "date" else f"{day}T{(draw >> 16) % 24:02d}:{(draw >> 24) % 60:02d}:00Z"
    count = 1 + draw % 3
    return " ".join(_WORDS[(draw >> (8 * i)) % len(_WORDS)] for i in range(1, count + 1))
