"""SmolLM2-135M-Instruct through llama.cpp, with many prompts decoded together in one context.

Prompts are formatted with the model's own chat template and run through llama.cpp's low-level batch
API: up to ``max_batch`` sequences share one context, each step decodes one token for every live
sequence, and a finished sequence's slot is given at once to the next waiting prompt, whose prompt tokens
go into the same ``llama_decode`` calls as the answers under way (continuous batching). ``generate_stream``
keeps this going across all the batches of rows a job hands it, so a job's rows flow through one context;
the last rows of one batch never wait for the slowest of the batch before the next batch starts. A prefix
common to the waiting prompts (typically the system instruction) is decoded once and its cells shared.

The model file comes from ``smollm2_weights``, the grammars of structured output from ``grammar``, token
choice from ``sampler`` and the per-prompt state from ``smollm2_sequences``. Structured output conforms by
construction: every property of an object schema is required, and the answer ends when the grammar is
complete (only end-of-generation is then allowed) or at ``max_tokens``, where it may be cut like Gemini's.
``avg_logprob`` always comes from the raw logits of the chosen tokens.

Exact texts differ between this batched path and one-at-a-time generation, and between builds of
llama.cpp, and may differ for the same prompt decoded beside different sequences; within one build and
the same batches they are stable.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import jinja2
import numpy as np

from vertex_batch.local.backends.base import BackendRowError, ChatPrompt, Generation
from vertex_batch.local.backends.grammar import GrammarCache
from vertex_batch.local.backends.sampler import grammar_sampler, is_greedy, sample_token
from vertex_batch.local.backends.smollm2_sequences import BatchOutcomes, SequenceState
from vertex_batch.local.backends.smollm2_weights import smollm2_path

_PIECE_BUFFER = 256
# A prompt prefix common to all prompts of a call (a system instruction, a template) is decoded once and
# its cells shared, when it is at least this long.
MIN_SHARED_PREFIX = 8
# Sequences decoded together by default, measured on 2 cores (benchmarks/service_vs_ceiling.py): 64 is the
# slowest (every sequence attends over the cells shared by all); with rows that end at different times and
# share a prefix, 32 beat 16.
DEFAULT_MAX_BATCH = 32


def _common_prefix_length(token_lists: list[list[int]]) -> int:
    """How many leading tokens all the lists share."""
    first, length = token_lists[0], min(len(tokens) for tokens in token_lists)
    for tokens in token_lists[1:]:
        same = 0
        while same < length and tokens[same] == first[same]:
            same += 1
        length = same
    return length


def _put(batch: Any, n: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
    """Write one token into entry ``n`` of a ``llama_batch``."""
    batch.token[n] = token
    batch.pos[n] = pos
    batch.n_seq_id[n] = 1
    batch.seq_id[n][0] = seq_id
    batch.logits[n] = logits


class PromptTooLong(BackendRowError):
    """A prompt that does not fit the per-sequence context, even before any token is generated."""


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
        self._model, self._vocab = model, model.vocab
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
        self._grammars = GrammarCache(self._vocab)
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

    def _take(self, prompts: Sequence[ChatPrompt]) -> tuple[BatchOutcomes, list[SequenceState]]:
        """A batch's outcomes and the sequences to decode for it. Rows that cannot be answered get their
        ``BackendRowError`` at once, rows with no room to generate their empty answer."""
        batch = BatchOutcomes(outcomes=[None] * len(prompts), remaining=0)
        sequences: list[SequenceState] = []
        for index, prompt in enumerate(prompts):
            try:
                tokens = self.prompt_tokens(prompt)
            except (ValueError, jinja2.TemplateError) as error:  # e.g. roles out of order
                batch.outcomes[index] = BackendRowError(index, f"the chat template rejected the messages: {error}")
                continue
            try:
                grammar = self._grammars.get(prompt)
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
            sequence = SequenceState(
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
                batch.outcomes[index] = sequence.result()
            else:
                sequences.append(sequence)
        batch.remaining = len(sequences)
        return batch, sequences

    # -- the decoding loop ------------------------------------------------------------------------

    def _stream(
        self, batches: Iterator[Sequence[ChatPrompt]], stop: threading.Event
    ) -> Iterator[list[Generation | Exception]]:
        lib, memory = self._lib, self._ctx.memory
        pending: deque[BatchOutcomes] = deque()  # batches taken and not yet handed back, in order
        waiting: deque[SequenceState] = deque()
        live: list[SequenceState] = []
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
                        sequence.sampler = grammar_sampler(self._model, sequence.grammar, sequence.prompt, sequence.rng)
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
                        waiting.popleft().finish(RuntimeError("the prompt does not fit the context"))
                    continue
                outputs = self._fill_batch(live)
                status = lib.llama_decode(self._ctx.ctx, self._batch)
                if status != 0:
                    error = RuntimeError(f"llama_decode failed with status {status}")
                    for sequence in live:
                        sequence.finish(error)
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
                sequence.release()
            lib.llama_memory_clear(memory, True)
            self._prefix, self._prefix_users = [], 0

    def _shared_length(self, tokens: list[int]) -> int:
        """Leading tokens of ``tokens`` whose cells can be copied from the shared prefix (0 if too few)."""
        if not self._prefix:
            return 0
        length = min(_common_prefix_length([tokens, self._prefix]), len(tokens) - 1)
        return length if length >= MIN_SHARED_PREFIX else 0

    def _drop_prefix(self) -> None:
        """Free the shared prefix's cells."""
        self._lib.llama_memory_seq_rm(self._ctx.memory, self.max_batch, -1, -1)
        self._prefix = []

    def _share_prefix(self, waiting: deque[SequenceState]) -> None:
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
                _put(batch, n, token, start + n, self.max_batch, False)
            batch.n_tokens = len(chunk)
            status = self._lib.llama_decode(self._ctx.ctx, batch)
            if status != 0:
                self._drop_prefix()
                return
        self._prefix = tokens

    def _fill_batch(self, live: list[SequenceState]) -> list[tuple[int, SequenceState]]:
        """Put the next tokens of the live sequences into the batch; return (batch position, sequence)
        for those whose logits will be read. Sequences past their prompt come first (one token each),
        then prompt tokens fill the rest of the batch."""
        batch = self._batch
        n = 0
        outputs: list[tuple[int, SequenceState]] = []
        for sequence in live:
            if sequence.n_fed >= len(sequence.tokens):
                _put(batch, n, sequence.output[-1], sequence.n_fed, sequence.seq_id, True)
                sequence.n_fed += 1
                outputs.append((n, sequence))
                n += 1
        for sequence in live:
            remaining = len(sequence.tokens) - sequence.n_fed
            if remaining <= 0 or n >= self.n_batch:
                continue
            take = min(remaining, self.n_batch - n)
            for pos in range(sequence.n_fed, sequence.n_fed + take):
                _put(batch, n, sequence.tokens[pos], pos, sequence.seq_id, False)
                n += 1
            sequence.n_fed += take
            if sequence.n_fed == len(sequence.tokens):
                batch.logits[n - 1] = True
                outputs.append((n - 1, sequence))
        batch.n_tokens = n
        return outputs

    def _sample_outputs(self, outputs: list[tuple[int, SequenceState]]) -> None:
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
                token = int(sequence.sampler.sample(self._ctx, position))
            elif is_greedy(prompt):
                token = int(greedy[row])
            else:
                token = sample_token(logits[row], prompt, sequence.rng)
            eog = self._lib.llama_vocab_is_eog(self._vocab, token)
            sequence.add(token, float(logits[row, token]) - float(log_z[row]), None if eog else self._piece(token))

    def _piece(self, token: int) -> bytes:
        """The text bytes of one token (control tokens render as nothing)."""
        piece = self._pieces.get(token)
        if piece is None:
            size = self._lib.llama_token_to_piece(self._vocab, token, self._piece_buffer, _PIECE_BUFFER, 0, False)
            piece = self._piece_buffer.raw[: max(size, 0)]
            self._pieces[token] = piece
        return piece
