"""Online prediction: ``publishers/google/models/{model}:generateContent``, one request, one answer, and
``:countTokens``, the prompt's token count by the backend's own tokenizer (the count its answers report
as ``promptTokenCount``).

The request goes through the same mapping as a batch row (``vertex_batch.local.gemini``) and the same
model backend, so an online answer and a batch answer to the same request agree. Refusals are Google
error bodies: 400 ``INVALID_ARGUMENT`` for a bad request (e.g. ``Please use a valid role: user, model.``),
404 ``NOT_FOUND`` for an unknown model or method. ``--fault-row-delay-s`` slows each call as it slows
each batch row.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from vertex_batch.local import gemini
from vertex_batch.local.backends import BackendRowError, ChatPrompt, Generation, ModelBackend, generate_each
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError, bad_request, not_found
from vertex_batch.local.service.faults import Faults
from vertex_batch.local.service.model_host import BackendUnavailable, ModelHost
from vertex_batch.local.service.resources import rfc3339
from vertex_batch.local.service.served_models import online_model
from vertex_batch.local.service.store import now_us

#: Methods of a publisher model the service answers.
METHODS = ("generateContent", "countTokens")


def parse_model_ref(publisher: str, model_ref: str, config: ServiceConfig, resource: str) -> str:
    """The model id of ``{model}:{method}``; a 404 for another publisher, model or method."""
    model, _, method = model_ref.partition(":")
    if method not in METHODS:
        raise not_found(
            f"Unknown method {method or model_ref!r} on a publisher model; "
            f"the local service answers {', '.join(METHODS)}."
        )
    model_id = model.split("@", 1)[0]
    _, project, _, location = resource.split("/")
    online_model(publisher, model_id, project, location)
    return model_id


def _prompt_and_backend(
    body: Any,
    message: str,
    config: ServiceConfig,
    models: ModelHost,
    read_text_file: Callable[[str], str] | None,
) -> tuple[ChatPrompt, ModelBackend]:
    """The backend's prompt for a request ``body`` (a ``message`` JSON object) and the loaded backend."""
    if not isinstance(body, dict):
        raise bad_request(f"The request body must be a {message} JSON object.")
    try:
        prompt = gemini.to_prompt(
            body, default_max_tokens=config.default_max_output_tokens, read_text_file=read_text_file
        )
    except gemini.RowError as err:
        raise ApiError(err.code, err.message, err.status) from None
    try:
        backend = models.get()
    except BackendUnavailable as err:
        raise ApiError(503, str(err), "UNAVAILABLE") from None
    assert backend is not None
    return prompt, backend


def generate_content(
    body: Any,
    config: ServiceConfig,
    models: ModelHost,
    faults: Faults,
    read_text_file: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The ``GenerateContentResponse`` for one ``GenerateContentRequest``; raises ``ApiError``."""
    prompt, backend = _prompt_and_backend(body, "GenerateContentRequest", config, models, read_text_file)
    if faults.row_delay_s > 0:
        time.sleep(faults.row_delay_s)
    (result,) = generate_each(backend, [prompt])
    if isinstance(result, BackendRowError):
        raise bad_request(result.message)
    assert isinstance(result, Generation)
    return {
        **gemini.to_response(result, backend.model_version),
        "createTime": rfc3339(now_us()),
        "responseId": secrets.token_urlsafe(12),
    }


def count_tokens(
    body: Any,
    config: ServiceConfig,
    models: ModelHost,
    read_text_file: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The ``CountTokensResponse`` of a ``CountTokensRequest`` (contents, systemInstruction, ...)."""
    prompt, backend = _prompt_and_backend(body, "CountTokensRequest", config, models, read_text_file)
    tokens = prompt_token_count(backend, prompt)
    characters = sum(len("".join(message["content"].split())) for message in prompt.messages)
    return {
        "totalTokens": tokens,
        "totalBillableCharacters": characters,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
    }


def prompt_token_count(backend: ModelBackend, prompt: ChatPrompt) -> int:
    """Tokens of ``prompt`` by the backend's tokenizer: its ``count_tokens``, SmolLM2's chat-template
    tokens, else SmolLM2's tokenizer over the message texts (the GGUF vocabulary alone, loaded once)."""
    count = getattr(backend, "count_tokens", None)
    if callable(count):
        return int(count(prompt))
    tokenize = getattr(backend, "prompt_tokens", None)
    if callable(tokenize):
        return len(tokenize(prompt))
    vocabulary = _smollm2_vocabulary()
    text = "\n".join(message["content"] for message in prompt.messages)
    return len(vocabulary.tokenize(text.encode("utf-8"), add_bos=False, special=False))


@cache
def _smollm2_vocabulary() -> Any:
    """SmolLM2's tokenizer without its weights (``vocab_only``: milliseconds, a few MB)."""
    try:
        # Before llama_cpp: the weights module sets llama.cpp's thread setting, read once at its import.
        from vertex_batch.local.backends.smollm2_weights import smollm2_path

        from llama_cpp import Llama  # isort: skip

        return Llama(model_path=smollm2_path(), vocab_only=True, verbose=False)
    except (ImportError, RuntimeError, ValueError) as err:
        raise ApiError(501, f"countTokens needs a tokenizer and none is available: {err}", "UNIMPLEMENTED") from None
