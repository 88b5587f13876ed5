"""Online prediction: ``publishers/google/models/{model}:generateContent``, one request, one answer, and
``:countTokens``, the prompt's token count by the backend's own tokenizer (the count its answers report
as ``promptTokenCount``).

The request goes through the same mapping as a batch row (``vertex_batch.local.gemini``, with the model's
catalog limits and thinking defaults) and the same model backend, so an online answer and a batch answer to
the same request agree (same tokens, so the same cost at the same price share). Refusals are Google
error bodies: 400 ``INVALID_ARGUMENT`` for a bad request (e.g. ``Please use a valid role: user, model.``),
404 ``NOT_FOUND`` for a model the catalog does not serve online there, or an unknown method.
``--fault-row-delay-s`` slows each call as it slows each batch row.

Which models (``vertex_batch.catalog``): a Gemini ``generate`` model of the catalog that is not retired and
is served at the path's location; anything else is production's 404 "Publisher Model … was not found or
your project does not have access to it" (retired ids "typically return a 404", model-versions page; a
model outside its locations answers the same, Firebase AI Logic locations page). The local project counts
as one that used a model before, so a model whose new access is blocked still answers until it retires.

Lanes (``usageMetadata.trafficType``, named by ``aiplatform_v1``'s ``TrafficType``), after the Flex PayGo
page (docs.cloud.google.com/gemini-enterprise-agent-platform/models/flex-paygo, read 2026-12-03):
- ``X-Vertex-AI-LLM-Shared-Request-Type: flex`` on ``locations/global`` for a model whose catalog entry
  has a Flex discount is served as Flex: ``ON_DEMAND_FLEX``. Production uses Provisioned Throughput first
  and ``X-Vertex-AI-LLM-Request-Type: shared`` skips it; the local project has none, so both are Flex.
- Anything else is ``ON_DEMAND`` (standard pay-as-you-go). Flex "doesn't support regional or
  multi-regional endpoints" and only selected models; a Flex header there is not refused but served
  standard, as production does: "the endpoint accepts the header and silently ignores it" (a third-party
  Vertex client's tier module, public code, 2026; no refusal or its wording is documented anywhere). Clients
  see the lane they got in ``trafficType``; billing follows it. Priority PayGo and Provisioned Throughput
  are not served (their headers get ``ON_DEMAND``).
- A Flex request body over 20 MB is a 400 (the page's "Request payload limit"; the wording, inferred, is
  Google's front-end one, ``Request payload size exceeds the limit: N bytes.``).
- Flex is throttled more: ``--flex-throttle-rate`` answers that share of Flex calls with the 429
  ``RESOURCE_EXHAUSTED`` online calls get when shared capacity runs out.
- Deadlines: ``X-Server-Timeout`` (seconds, what google-genai sends for ``HttpOptions.timeout``), else 10
  minutes (the API errors page's default server deadline); Flex defaults to 20 minutes and is capped at 30.
  A call still waiting for one of the ``--online-concurrency`` slots at its deadline is a 504
  ``DEADLINE_EXCEEDED`` (gRPC's wording, inferred): calls beyond the bound wait rather than fail, since the
  bound is this machine's (one local model), not production's capacity; production's 429s come only from
  the rates above.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from google.cloud import aiplatform_v1

from vertex_batch.catalog import ModelInfo
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
_TRAFFIC = aiplatform_v1.GenerateContentResponse.UsageMetadata.TrafficType
STANDARD = _TRAFFIC.ON_DEMAND.name
FLEX = _TRAFFIC.ON_DEMAND_FLEX.name
#: Request headers that choose the lane (lowercase: HTTP header names are case-insensitive).
SHARED_REQUEST_TYPE = "x-vertex-ai-llm-shared-request-type"
SERVER_TIMEOUT = "x-server-timeout"
#: Flex PayGo's limit on a request's inline payload ("20 MB"; Google's front ends count MiB).
FLEX_MAX_PAYLOAD_BYTES = 20 * 1024 * 1024
STANDARD_DEADLINE_S = 10 * 60.0
FLEX_DEADLINE_S = 20 * 60.0
FLEX_MAX_DEADLINE_S = 30 * 60.0
DEADLINE_MESSAGE = "Deadline expired before operation could complete."


def parse_model_ref(publisher: str, model_ref: str, resource: str) -> ModelInfo:
    """The catalog model of ``{model}:{method}`` at ``location``; a 404 for another publisher, a model not
    served online there, or another method."""
    model, _, method = model_ref.partition(":")
    if method not in METHODS:
        raise not_found(
            f"Unknown method {method or model_ref!r} on a publisher model; "
            f"the local service answers {', '.join(METHODS)}."
        )
    model_id = model.split("@", 1)[0]
    _, project, _, location = resource.split("/")
    return online_model(publisher, model_id, project, location)


def traffic_type(headers: Mapping[str, str], location: str, model: ModelInfo) -> str:
    """The lane a call is served in: ``ON_DEMAND_FLEX`` for a Flex request on ``global`` to a Flex model,
    else ``ON_DEMAND``."""
    wants_flex = headers.get(SHARED_REQUEST_TYPE, "").strip().lower() == "flex"
    return FLEX if wants_flex and location.lower() == "global" and model.flex else STANDARD


def check_payload(traffic: str, size: int) -> None:
    """A 400 for a Flex request whose body is over Flex PayGo's payload limit."""
    if traffic == FLEX and size > FLEX_MAX_PAYLOAD_BYTES:
        raise bad_request(f"Request payload size exceeds the limit: {FLEX_MAX_PAYLOAD_BYTES} bytes.")


def deadline_s(headers: Mapping[str, str], traffic: str) -> float:
    """Seconds a call may take: ``X-Server-Timeout`` or the lane's default, Flex at most 30 minutes."""
    default = FLEX_DEADLINE_S if traffic == FLEX else STANDARD_DEADLINE_S
    try:
        asked = float(headers.get(SERVER_TIMEOUT) or default)
    except ValueError:
        asked = default
    asked = asked if asked > 0 else default
    return min(asked, FLEX_MAX_DEADLINE_S) if traffic == FLEX else asked


class OnlineSlots:
    """At most ``size`` generateContent calls at once; the others wait, each until its deadline."""

    def __init__(self, size: int) -> None:
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def hold(self, deadline: float) -> AsyncIterator[None]:
        """A slot for one call; a 504 ``DEADLINE_EXCEEDED`` when none frees up within ``deadline`` seconds."""
        try:
            async with asyncio.timeout(deadline):
                await self._free.acquire()
        except TimeoutError:
            raise ApiError(504, DEADLINE_MESSAGE, "DEADLINE_EXCEEDED") from None
        try:
            yield
        finally:
            self._free.release()


def _prompt_and_backend(
    body: Any,
    message: str,
    config: ServiceConfig,
    models: ModelHost,
    read_text_file: Callable[[str], str] | None,
    model: ModelInfo | None = None,
) -> tuple[ChatPrompt, ModelBackend]:
    """The backend's prompt for a request ``body`` (a ``message`` JSON object) to ``model`` and the loaded
    backend."""
    if not isinstance(body, dict):
        raise bad_request(f"The request body must be a {message} JSON object.")
    try:
        prompt = gemini.to_prompt(
            body, default_max_tokens=config.default_max_output_tokens, read_text_file=read_text_file, model=model
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
    traffic: str = STANDARD,
    read_text_file: Callable[[str], str] | None = None,
    model: ModelInfo | None = None,
) -> dict[str, Any]:
    """The ``GenerateContentResponse`` for one ``GenerateContentRequest`` served in lane ``traffic``;
    raises ``ApiError``."""
    prompt, backend = _prompt_and_backend(body, "GenerateContentRequest", config, models, read_text_file, model)
    if faults.row_delay_s > 0:
        time.sleep(faults.row_delay_s)
    (result,) = generate_each(backend, [prompt])
    if isinstance(result, BackendRowError):
        raise bad_request(result.message)
    assert isinstance(result, Generation)
    answer = gemini.to_response(result, backend.model_version)
    answer["usageMetadata"]["trafficType"] = traffic
    return {**answer, "createTime": rfc3339(now_us()), "responseId": secrets.token_urlsafe(12)}


def count_tokens(
    body: Any,
    config: ServiceConfig,
    models: ModelHost,
    read_text_file: Callable[[str], str] | None = None,
    model: ModelInfo | None = None,
) -> dict[str, Any]:
    """The ``CountTokensResponse`` of a ``CountTokensRequest`` (contents, systemInstruction, ...)."""
    prompt, backend = _prompt_and_backend(body, "CountTokensRequest", config, models, read_text_file, model)
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
