"""GBNF grammars that hold a structured-output answer to its response schema, for llama.cpp's sampler.

A prompt asking for ``application/json`` with a schema gets the grammar of that schema (converted to a
JSON Schema by ``response_schema``, then to GBNF by llama-cpp-python's own converter); ``application/json``
without a schema gets any JSON object; ``text/x.enum`` gets one of the enum's values, unquoted.
``GrammarCache`` keeps the grammars built for a backend, each checked once against the model's vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vertex_batch.local.backends.base import SCHEMA_MIME_TYPES, ChatPrompt
from vertex_batch.local.backends.response_schema import to_json_schema

# The string-character rule of llama.cpp's schema converter, and the same without control characters.
_LOOSE_CHAR_RULE = r'char ::= [^"\\] |'
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'
_GBNF_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MAX_CACHED_GRAMMARS = 256  # grammars built from response schemas, kept per backend


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (llama-cpp-python's own escapes neither backslashes nor control
    characters)."""
    escaped = "".join(_GBNF_ESCAPES.get(char) or (f"\\x{ord(char):02X}" if ord(char) < 0x20 else char) for char in text)
    return f'"{escaped}"'


def response_grammar(prompt: ChatPrompt) -> str | None:
    """The GBNF grammar that the answer to ``prompt`` must follow, or ``None`` for free text."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    schema = prompt.response_schema
    if prompt.response_mime_type == "text/x.enum":
        enum = schema.get("enum") if isinstance(schema, Mapping) else None
        if not isinstance(enum, list) or not enum:
            return None
        values = [value if isinstance(value, str) else json.dumps(value) for value in enum]
        return "root ::= " + " | ".join(_gbnf_literal(value) for value in values)
    if prompt.response_mime_type != "application/json":
        return None
    if not isinstance(schema, Mapping) or not schema:
        return JSON_GBNF
    # Properties are already in ``propertyOrdering`` order, so the converter needs no order of its own.
    grammar = json_schema_to_gbnf(json.dumps(to_json_schema(schema)))
    # The converter lets raw control characters into strings; JSON (and ``json.loads``) does not.
    return grammar.replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


class GrammarCache:
    """The grammars of a backend's prompts, built once per response schema and checked against the
    model's vocabulary (``vocab``, a ``llama_vocab`` pointer) by building a grammar sampler from them."""

    def __init__(self, vocab: Any) -> None:
        self._vocab = vocab
        self._grammars: dict[str, tuple[str | None, str | None]] = {}  # schema key -> (grammar, error)

    def get(self, prompt: ChatPrompt) -> str | None:
        """The grammar of ``prompt``'s answer (``None`` for free text); ``ValueError`` if it cannot be built."""
        if prompt.response_mime_type not in SCHEMA_MIME_TYPES:
            return None
        key = json.dumps([prompt.response_mime_type, prompt.response_schema], sort_keys=True, default=str)
        if key not in self._grammars:
            if len(self._grammars) >= _MAX_CACHED_GRAMMARS:
                self._grammars.clear()
            self._grammars[key] = self._build(prompt)
        grammar, error = self._grammars[key]
        if error is not None:
            raise ValueError(error)
        return grammar

    def _build(self, prompt: ChatPrompt) -> tuple[str | None, str | None]:
        """(grammar, None), or (None, why) when the schema cannot become a grammar llama.cpp accepts."""
        import llama_cpp

        try:
            grammar = response_grammar(prompt)
        except Exception as error:  # the converter raises assorted errors on schemas it cannot handle
            return None, str(error) or type(error).__name__
        if grammar is not None:
            sampler = llama_cpp.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            if not sampler:
                return None, "llama.cpp rejected the grammar built from it"
            llama_cpp.llama_sampler_free(sampler)
        return grammar, None
