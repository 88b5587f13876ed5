"""The interface every model backend of the local batch service implements."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: The response MIME types a response schema constrains (structured output).
SCHEMA_MIME_TYPES = ("application/json", "text/x.enum")


@dataclass(frozen=True)
class ChatPrompt:
    """One request mapped to a chat: messages plus the sampling settings Gemini allows."""

    messages: tuple[dict[str, str], ...]  # {"role": "system"|"user"|"assistant", "content": str}
    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Structured output (generationConfig.responseMimeType / responseSchema): None (plain text),
    # "text/plain", "application/json" or "text/x.enum"; the schema is Gemini's Schema object (type OBJECT,
    # STRING, ..., properties, items, enum) as parsed JSON. Backends that cannot constrain decoding may
    # ignore them.
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = field(default=None, hash=False)
    # generationConfig.thinkingConfig: thinkingBudget (None unset, -1 dynamic, 0 off) and includeThoughts.
    # Backends without a thinking phase ignore them.
    thinking_budget: int | None = None
    include_thoughts: bool = False


@dataclass(frozen=True)
class Generation:
    """What a backend produced for one prompt."""

    text: str
    finish_reason: str  # "STOP" or "MAX_TOKENS"
    prompt_tokens: int
    output_tokens: int
    avg_logprob: float | None = None
    # Thinking tokens (billed as output, not part of ``output_tokens``) and the part of ``prompt_tokens``
    # served from a cached prefix (usageMetadata thoughtsTokenCount and cachedContentTokenCount).
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    thought_text: str = ""  # a thought summary, returned as a ``"thought": true`` part with includeThoughts


def cut_at_stop(text: str, stops: Iterable[str]) -> str:
    """``text`` up to the first place where one of the ``stops`` strings begins (all of it if none does)."""
    found = [text.find(stop) for stop in stops if stop and stop in text]
    return text[: min(found)] if found else text


class ModelBackend(Protocol):
    """Generates answers for a batch of prompts; implementations batch internally for throughput."""

    model_version: str

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        """Answer every prompt, in order.

        Raise ``BackendRowError`` when some rows cannot be answered (e.g. a prompt longer than the
        context) and any other exception only for failures of the whole runtime.
        """
        ...


class BackendRowError(Exception):
    """Some rows of a ``generate`` call cannot be answered; the other rows can.

    ``index`` and ``message`` name the first failing row (its position in the ``prompts`` passed to
    ``generate``); ``failures`` maps every failing row found to its message. ``results``, when given,
    holds the answers already produced for the other rows (``None`` where there is none), so that a
    caller need not ask for them again. ``generate_each`` turns this into per-row outcomes.
    """

    def __init__(
        self,
        index: int,
        message: str,
        *,
        failures: Mapping[int, str] | None = None,
        results: Sequence[Generation | None] | None = None,
    ) -> None:
        super().__init__(f"row {index}: {message}")
        self.index = index
        self.message = message
        self.failures: dict[int, str] = dict(failures) if failures else {index: message}
        self.results: list[Generation | None] | None = list(results) if results is not None else None


def generate_each(backend: ModelBackend, prompts: Sequence[ChatPrompt]) -> list[Generation | BackendRowError]:
    """Answer every prompt, in order, with a ``BackendRowError`` in place of each row that cannot be answered.

    Rows that fail are dropped and the rest asked again, unless the error already carried their answers.
    """
    outcomes: list[Generation | BackendRowError | None] = [None] * len(prompts)
    todo = list(range(len(prompts)))
    while todo:
        try:
            answers = backend.generate([prompts[i] for i in todo])
        except BackendRowError as error:
            failed = {todo[local] for local in error.failures if 0 <= local < len(todo)}
            if not failed:
                raise
            for local, message in error.failures.items():
                if 0 <= local < len(todo):
                    outcomes[todo[local]] = BackendRowError(todo[local], message)
            if error.results is not None and len(error.results) == len(todo):
                for local, answer in enumerate(error.results):
                    if answer is not None and todo[local] not in failed:
                        outcomes[todo[local]] = answer
            todo = [i for i in todo if outcomes[i] is None]
            continue
        for i, answer in zip(todo, answers, strict=True):
            outcomes[i] = answer
        todo = []
    return [outcome for outcome in outcomes if outcome is not None]


def generate_batches(
    backend: ModelBackend, batches: Iterable[Sequence[ChatPrompt]], ahead: int = 4
) -> Iterator[list[Generation | Exception]]:
    """Each batch's outcomes, in order: a ``Generation``, a ``BackendRowError`` for a row that cannot be
    answered, or another exception for a row the backend failed on.

    A backend with ``generate_stream`` (continuous batching) takes the batches lazily and works on several
    at once, in a thread of its own, up to ``ahead`` answered batches ahead of the caller, so that it keeps
    decoding while the caller writes; its ``generate_stream(batches, stop)`` ends early once the event
    ``stop`` is set, which closing this generator does. Any other backend answers one batch at a time
    through ``generate_each``.
    """
    stream = getattr(backend, "generate_stream", None)
    if not callable(stream):
        for prompts in batches:
            try:
                outcomes: list[Generation | Exception] = list(generate_each(backend, prompts))
            except Exception as error:
                log.exception("the model backend failed on a batch of %d prompts", len(prompts))
                outcomes = [error] * len(prompts)
            yield outcomes
        return
    answered: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                answered.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = stream(batches, stop)
        try:
            for outcomes in source:
                if not offer(("batch", outcomes)):
                    return
            offer(("end", None))
        except BaseException as error:  # handed to the caller's thread
            offer(("error", error))
        finally:
            source.close()

    producer = threading.Thread(target=produce, name="model-stream", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = answered.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        producer.join()
