"""Claude rows (``publishers/anthropic/models/claude-…``), as Vertex AI's Claude batch page describes them.

Input: ``{"custom_id": …, "request": <Messages body>}`` a JSONL line, or BigQuery columns ``custom_id`` and
``request`` (other columns are ignored by the model and carried to the output, as for Gemini); the output
reserves ``response`` (JSON) and ``status``. A body is checked as the Claude endpoint on Vertex AI checks it
(field names from anthropic-sdk-python's ``MessageCreateParams``): ``anthropic_version`` must be
``vertex-2023-10-16``; ``max_tokens`` (up to the model's output limit) and a non-empty ``messages`` are
required; roles are ``user``/``assistant``, the first one ``user``, consecutive turns of one role merged (the
SDK: "Consecutive user or assistant turns in your request will be combined into a single turn"); ``system``
is a string or text blocks; ``temperature`` and ``top_p`` lie in [0, 1]; an unknown field is refused
(``<field>: Extra inputs are not permitted``, Vertex AI's wording, seen live). The messages follow the
Anthropic API's (``messages: Field required``, ``messages: at least one message is required``…).

Thinking follows the model's catalog entry (``ModelInfo.thinking``; Anthropic's pages platform.claude.com/
docs/en/build-with-claude/extended-thinking and …/effort, read 2026-12-03):
- ``control = "level"`` (Claude 4.7 and later: adaptive thinking): ``thinking: {"type": "adaptive"}`` with
  ``output_config.effort`` one of the model's levels (default ``default_level``). The budget form is a 400
  ``"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and
  "output_config.effort" to control thinking behavior.`` (platform.claude.com extended-thinking page: 4.7+
  reject it; the wording captured on a Claude 5 Sonnet model, and on the Anthropic API in
  zhukunpenglinyutong/jetbrains-cc-gui#1003). A model that cannot stop thinking (``can_disable`` false:
  Fable 5.x, Opus 5.5) thinks when ``thinking`` is absent and refuses ``disabled`` with 400
  ``"thinking.type.disabled" is not supported for this model.`` (captured on a Claude Fable 5 model,
  cline/cline#13203); the others think only when asked.
- ``control = "budget"`` (Haiku 4.5 and earlier): ``enabled`` with ``budget_tokens`` ≥ 1,024 and below
  ``max_tokens``, or ``disabled``; ``adaptive`` is refused (wording inferred, after the 4.7+ message).
- ``output_config.effort`` on a model without levels, and thinking on a model without thinking, are refused
  (wording inferred).
- With ``enabled`` or ``adaptive`` thinking, ``temperature`` may only be 1.

Output: ``response`` is an Anthropic ``Message`` (``id`` ``msg_vrtx_…``, ``type`` message, ``role``
assistant, ``content`` text blocks after a ``thinking`` block when thinking, ``stop_reason`` ``end_turn`` or
``max_tokens``, ``usage`` with ``input_tokens``, ``output_tokens`` including thinking, cache counts). A
failed row's ``status`` is ``<HTTP reason>: <Anthropic error body>``, e.g. ``Bad Request: {"type": "error",
"error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}`` (inferred: Vertex's
row status prefix around the error body Claude's endpoint answers). Local limits: text only, no tools;
``stop_reason`` is never ``stop_sequence`` (the backends do not say which stop matched).
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from vertex_batch.catalog import ModelInfo, Thinking
from vertex_batch.local.backends import ChatPrompt, Generation
from vertex_batch.local.gemini import invalid, level_budget, load_json_object
from vertex_batch.local.service.family import GenerativeFamily
from vertex_batch.online_calls import http_reason

ANTHROPIC_VERSION = "vertex-2023-10-16"
#: Top-level fields of a Messages body (anthropic-sdk-python ``MessageCreateParams``, with Vertex's
#: ``anthropic_version``; ``model`` is in the path on Vertex AI and ignored in the body).
REQUEST_FIELDS = frozenset(
    {
        "anthropic_version", "max_tokens", "messages", "model", "system", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "metadata", "thinking", "tools", "tool_choice", "service_tier", "container",
        "cache_control", "output_config", "inference_geo",
    }
)  # fmt: skip
#: Fields the local model cannot honour.
TOOL_FIELDS = ("tools", "tool_choice", "container")
#: Anthropic error types by HTTP code.
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 503: "overloaded_error",
    529: "overloaded_error",
}  # fmt: skip
MIN_THINKING_BUDGET = 1024
THINKING_TYPES = ("enabled", "disabled", "adaptive")
EXTENDED_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def claude_status(code: int, message: str) -> str:
    """A failed Claude row's ``status``: the HTTP reason and the Anthropic error body."""
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(code, "api_error"), "message": message}}
    return f"{http_reason(code)}: {json.dumps(body)}"


def _body(value: Any) -> dict[str, Any]:
    return load_json_object(value, "a Messages API body", "request")


def _integer(body: dict[str, Any], name: str, low: int, where: str = "") -> int | None:
    """``body[name]``, an integer of at least ``low`` (``where`` is its path in errors, default ``name``)."""
    value, where = body.get(name), where or name
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise invalid(f"{where}: Input should be a valid integer")
    if value < low:
        raise invalid(f"{where}: Input should be greater than or equal to {low}")
    return int(value)


def _fraction(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name}: Input should be a valid number")
    if not 0 <= value <= 1:
        raise invalid(
            f"{name}: Input should be {'greater than or equal to 0' if value < 0 else 'less than or equal to 1'}"
        )
    return float(value)


def _text(content: Any, where: str) -> str:
    """The text of a message's ``content`` (a string or content blocks); text only, locally."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(f"{where}.content: Input should be a valid string or a list of content blocks")
    texts = []
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier turns' thinking is context only
        elif kind == "text":
            raise invalid(f"{where}.content.{index}.text: Field required")
        else:
            raise invalid(
                f"{where}.content.{index}: the local model reads text blocks only, not {kind or 'this block'}."
            )
    return "\n".join(texts)


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    turns: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{index}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        text = _text(message.get("content"), f"messages.{index}")
        if not text.strip() and not (index == len(messages) - 1 and message["role"] == "assistant"):
            raise invalid(
                f"messages.{index}: all messages must have non-empty content except for the optional final "
                "assistant message"
            )
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1] = {"role": message["role"], "content": f"{turns[-1]['content']}\n\n{text}"}
        else:
            turns.append({"role": message["role"], "content": text})
    if turns[0]["role"] != "user":
        raise invalid('messages: first message must use the "user" role')
    return turns


def _system(body: dict[str, Any]) -> str | None:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return system or None
    if isinstance(system, list) and all(isinstance(block, dict) and block.get("type") == "text" for block in system):
        return "\n".join(str(block.get("text", "")) for block in system) or None
    raise invalid("system: Input should be a valid string or a list of text blocks")


def _thinking(body: dict[str, Any], max_tokens: int, model: ModelInfo) -> int | None:
    """The local thinking budget (``None``: no thinking, -1: dynamic) of ``thinking`` and
    ``output_config.effort``, checked against the model's thinking control."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if thinking is not None and kind not in THINKING_TYPES:
        raise invalid(
            f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{name}'" for name in THINKING_TYPES)
        )
    control = model.thinking if model.thinking is not None and model.thinking.control != "none" else None
    effort = _effort(body, control)
    if control is None and kind in ("enabled", "adaptive"):
        raise invalid(f'"thinking.type.{kind}" is not supported for this model.')
    if control is not None and control.control == "level":
        if kind == "enabled":
            raise invalid(
                '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
                '"output_config.effort" to control thinking behavior.'
            )
        if kind == "disabled" and not control.can_disable:
            raise invalid('"thinking.type.disabled" is not supported for this model.')
        thinks = kind == "adaptive" or (kind is None and not control.can_disable)
        return level_budget(effort) if thinks and effort else None
    if kind == "adaptive":
        raise invalid(
            '"thinking.type.adaptive" is not supported for this model. Use "thinking.type.enabled" and '
            '"thinking.budget_tokens" to control thinking behavior.'
        )
    if kind != "enabled":
        return None
    assert isinstance(thinking, dict)
    if thinking.get("budget_tokens") is None:
        raise invalid("thinking.enabled.budget_tokens: Field required")
    budget = _integer(thinking, "budget_tokens", MIN_THINKING_BUDGET, "thinking.enabled.budget_tokens")
    assert budget is not None
    if budget >= max_tokens:
        raise invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            f"{EXTENDED_THINKING_DOCS}#max-tokens-and-context-window-size"
        )
    return budget


def _effort(body: dict[str, Any], control: Thinking | None) -> str | None:
    """``output_config.effort``, one of the model's levels, or the model's default level."""
    effort = _output_config(body).get("effort")
    levels = control.levels if control is not None and control.control == "level" else ()
    if effort is None:
        return control.default_level if levels and control else None
    if effort not in levels:
        if not levels:
            raise invalid("output_config.effort: effort is not supported for this model.")
        names = [f"'{level}'" for level in levels]
        raise invalid(f"output_config.effort: Input should be {', '.join(names[:-1])} or {names[-1]}")
    return str(effort)


def _output_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("output_config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise invalid("output_config: Input should be a valid dictionary")
    return config


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """``output_config.format`` (``json_schema``) as the backend's response schema."""
    output_format = _output_config(body).get("format")
    if output_format is None:
        return None
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        raise invalid(
            "output_config.format: Input tag found using 'type' does not match the expected tag: 'json_schema'"
        )
    schema = output_format.get("schema")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.json_schema.schema: Field required")
    return schema


def to_prompt(value: Any, model: ModelInfo) -> ChatPrompt:
    """Check one Messages body and map it to a chat prompt; raises ``RowError`` as the endpoint refuses it."""
    body = _body(value)
    extra = sorted(set(body) - REQUEST_FIELDS)
    if extra:
        raise invalid(f"{extra[0]}: Extra inputs are not permitted")
    if "anthropic_version" not in body:
        raise invalid("anthropic_version: Field required")
    if body["anthropic_version"] != ANTHROPIC_VERSION:
        raise invalid(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
    if body.get("max_tokens") is None:
        raise invalid("max_tokens: Field required")
    max_tokens = _integer(body, "max_tokens", 1)
    assert max_tokens is not None
    if model.max_output_tokens and max_tokens > model.max_output_tokens:
        raise invalid(
            f"max_tokens: {max_tokens} > {model.max_output_tokens}, which is the maximum allowed number of output "
            f"tokens for {model.id}"
        )
    messages = _messages(body)
    system = _system(body)
    temperature, top_p = _fraction(body, "temperature"), _fraction(body, "top_p")
    top_k = _integer(body, "top_k", 0)
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    budget = _thinking(body, max_tokens, model)
    asked = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") in ("enabled", "adaptive")
    if asked and temperature not in (None, 1.0):
        raise invalid(f"`temperature` may only be set to 1 when thinking is enabled. See {EXTENDED_THINKING_DOCS}")
    if any(body.get(name) for name in TOOL_FIELDS):
        raise invalid("The local model does not support tools (tools, tool_choice, container).")
    schema = _schema(body)
    return ChatPrompt(
        messages=tuple(([{"role": "system", "content": system}] if system else []) + messages),
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        top_k=top_k or None,
        max_tokens=max_tokens,
        stop=tuple(stop for stop in stops if stop),
        response_mime_type="application/json" if schema is not None else None,
        response_schema=schema,
        thinking_budget=budget,
        include_thoughts=budget is not None,
    )


def to_message(generation: Generation, prompt: ChatPrompt, model_id: str) -> dict[str, Any]:
    """The Anthropic ``Message`` of one answer."""
    content: list[dict[str, Any]] = []
    if prompt.include_thoughts and generation.thoughts_tokens:
        signature = base64.b64encode(secrets.token_bytes(24)).decode()
        content.append({"type": "thinking", "thinking": generation.thought_text, "signature": signature})
    content.append({"type": "text", "text": generation.text})
    return {
        "id": f"msg_vrtx_{secrets.token_urlsafe(18)}",
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": "max_tokens" if generation.finish_reason == "MAX_TOKENS" else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": generation.prompt_tokens - generation.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": generation.cached_tokens,
            "output_tokens": generation.output_tokens + generation.thoughts_tokens,
        },
    }


class ClaudeFamily(GenerativeFamily):
    """Claude batch rows: Gemini's input and output columns, Anthropic's bodies and errors."""

    name = "claude"

    def failure(self, code: int, message: str, status: str | None = None) -> str:
        return claude_status(code, message)

    def to_prompt(self, source: dict[str, Any]) -> ChatPrompt:
        return to_prompt(source.get("request"), self.info)

    def response(self, generation: Generation, prompt: ChatPrompt) -> Any:
        return to_message(generation, prompt, self.job.model_id)
