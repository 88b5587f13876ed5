"""A backend that forwards prompts to any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama).

For users who host a bigger open model themselves. Each prompt is one ``POST {base_url}/chat/completions``;
a small thread pool keeps ``concurrency`` requests in flight. Optional request fields that a server
rejects (``logprobs``, ``top_k``, ``seed``) are dropped and not sent again. An unreachable server and the
statuses in ``_RETRY_STATUSES`` are retried through ``google.api_core.retry``, waiting the server's
``Retry-After`` when it sends one, else doubling from ``backoff``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from google.api_core.retry import retry_target

from vertex_batch.local.backends.base import BackendRowError, ChatPrompt, Generation, cut_at_stop

_FINISH_REASONS = {
    "stop": "STOP",
    "eos": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "tool_calls": "STOP",
    "function_call": "STOP",
}
# Fields a server may not know; dropped (once for all) when it answers 400/422 naming them.
_OPTIONAL_FIELDS = ("logprobs", "top_k", "seed")
# Words in a 400/422 answer that mean this one prompt cannot be served (the others can).
_ROW_ERROR_HINTS = ("context", "too long", "maximum", "max_tokens", "exceed", "token limit")
_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_WAIT = 30.0  # seconds, however long the server's Retry-After


class OpenAICompatibleError(RuntimeError):
    """The server cannot answer at all (unreachable, unauthorised, unknown model, malformed answers)."""


class _TransientError(OpenAICompatibleError):
    """A failure another attempt may not meet: the server unreachable, or a status in ``_RETRY_STATUSES``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Backoff:
    """The waits before the retries of one request, for ``retry_target``: at most ``retries`` of them,
    doubling from ``backoff`` seconds, or the ``Retry-After`` of the answer that failed when it had one."""

    def __init__(self, retries: int, backoff: float) -> None:
        self._left = retries
        self._next = backoff
        self._retry_after: float | None = None

    def retryable(self, error: Exception) -> bool:
        """Whether ``error`` is transient and retries are left."""
        return isinstance(error, _TransientError) and self._left > 0

    def on_error(self, error: Exception) -> None:
        """Count a retry (``retry_target`` calls this before it draws the wait)."""
        self._left -= 1
        self._retry_after = error.retry_after if isinstance(error, _TransientError) else None

    def __iter__(self) -> Iterator[float]:
        while True:
            wait = self._retry_after if self._retry_after is not None else self._next
            self._next *= 2
            yield min(wait, _MAX_RETRY_WAIT)


class OpenAICompatibleBackend:
    """Chat completions from an OpenAI-compatible server, ``concurrency`` requests at a time."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120,
        concurrency: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_version = f"{model}@openai-compatible"
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            timeout=timeout,
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._unsupported: set[str] = set()
        self._unsupported_lock = threading.Lock()

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        """Answer every prompt, in order; raise ``BackendRowError`` (with the other answers) for rows
        the server refuses as too long or invalid."""
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            outcomes = list(pool.map(self._one, prompts))
        failures = {i: outcome for i, outcome in enumerate(outcomes) if isinstance(outcome, str)}
        results = [outcome if isinstance(outcome, Generation) else None for outcome in outcomes]
        if failures:
            first = min(failures)
            raise BackendRowError(first, failures[first], failures=failures, results=results)
        return [result for result in results if result is not None]

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request ------------------------------------------------------------------------------

    def _payload(self, prompt: ChatPrompt) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in prompt.messages],
            "temperature": prompt.temperature,
            "top_p": prompt.top_p,
            "max_tokens": prompt.max_tokens,
            "logprobs": True,
        }
        if prompt.stop:
            payload["stop"] = list(prompt.stop)
        if prompt.seed is not None:
            payload["seed"] = prompt.seed
        if prompt.top_k is not None:
            payload["top_k"] = prompt.top_k
        with self._unsupported_lock:
            for name in self._unsupported:
                payload.pop(name, None)
        return payload

    def _one(self, prompt: ChatPrompt) -> Generation | str:
        """The answer to one prompt, or a message saying why this row cannot be answered; transient
        failures are retried."""
        backoff = _Backoff(self.retries, self.backoff)
        attempt = functools.partial(self._attempt, f"{self.base_url}/chat/completions", prompt)
        return retry_target(attempt, backoff.retryable, backoff, on_error=backoff.on_error)

    def _attempt(self, url: str, prompt: ChatPrompt) -> Generation | str:
        """One attempt at a prompt (sent again at once without the optional fields the server rejects):
        the answer, a message saying why this row cannot be answered, or an ``OpenAICompatibleError``."""
        while True:
            payload = self._payload(prompt)
            try:
                response = self._client.post(url, json=payload)
            except httpx.TransportError as error:
                raise _TransientError(f"cannot reach {url}: {error}") from error
            if response.status_code == 200:
                return self._parse(response, prompt)
            body = response.text[:500]
            if response.status_code in (400, 422):
                rejected = [name for name in _OPTIONAL_FIELDS if name in payload and name in body.lower()]
                if rejected:
                    with self._unsupported_lock:
                        self._unsupported.update(rejected)
                    continue
                if response.status_code == 400 or any(hint in body.lower() for hint in _ROW_ERROR_HINTS):
                    return f"the server refused this prompt ({response.status_code}): {body}"
            message = f"{url} answered {response.status_code}: {body}"
            if response.status_code in _RETRY_STATUSES:
                retry_after = response.headers.get("retry-after", "")
                raise _TransientError(message, float(retry_after) if retry_after.isdigit() else None)
            raise OpenAICompatibleError(message)

    def _parse(self, response: httpx.Response, prompt: ChatPrompt) -> Generation:
        try:
            data = response.json()
            choice = data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise OpenAICompatibleError(f"not an OpenAI chat completion answer: {response.text[:300]}") from error
        message = choice.get("message") or {}
        text = cut_at_stop(message.get("content") or "", prompt.stop)
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            finish_reason=_FINISH_REASONS.get(str(choice.get("finish_reason") or "stop"), "STOP"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            avg_logprob=_average_logprob(choice.get("logprobs")),
        )


def _average_logprob(logprobs: object) -> float | None:
    """Mean log-probability of the chosen tokens, from the chat (``content``) or legacy
    (``token_logprobs``) shape; ``None`` when the server sent none."""
    if not isinstance(logprobs, dict):
        return None
    values: list[float] = []
    content = logprobs.get("content")
    if isinstance(content, list):
        values = [float(item["logprob"]) for item in content if isinstance(item, dict) and "logprob" in item]
    elif isinstance(logprobs.get("token_logprobs"), list):
        values = [float(value) for value in logprobs["token_logprobs"] if value is not None]
    return sum(values) / len(values) if values else None
