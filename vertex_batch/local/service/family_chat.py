"""Open models' rows (Model-as-a-Service: Llama, gpt-oss …) in OpenAI's chat-completions batch shape.

Input, as the MaaS batch page describes it: JSONL lines ``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body": {…}}`` or BigQuery columns ``custom_id``, ``method``, ``url``, ``body`` (JSON);
``custom_id``, ``method``, ``url`` and the body's ``model`` are not used; ``method`` and ``url`` are dropped
from the output; other columns pass through; ``response`` (JSON) and ``id`` are reserved. The body is an
OpenAI chat-completions request: ``messages`` (roles system, developer, user, assistant, tool) is required
and non-empty; ``max_tokens`` or ``max_completion_tokens`` (up to the model's output limit), ``temperature``
in [0, 2], ``top_p`` in [0, 1], ``stop`` (a string or up to 4), ``seed``, ``response_format`` (``text``,
``json_object``, ``json_schema``: structured output) and ``reasoning_effort`` (models with thinking levels)
are read; other fields are ignored, as OpenAI-compatible servers ignore them (not documented either way).
Messages are OpenAI's (``Missing required parameter: 'messages'.``); that Vertex AI words them so is
inferred.

Output: ``response`` is an OpenAI ``chat.completion`` (``choices[0].message.content``, ``finish_reason``
``stop`` or ``length``, ``usage.prompt_tokens``/``completion_tokens``/``total_tokens``), ``id`` names the row,
and a failed row has ``response`` null and ``error`` ``{"code", "message", "status"}`` (the ``error`` column is
read by third-party clients of these jobs, e.g. EasyLLM/langbatch; its content is inferred). Local limits:
text only, no tools, one choice.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from typing import Any

from google.cloud import bigquery

from vertex_batch.catalog import ModelInfo
from vertex_batch.local.backends import ChatPrompt, Generation
from vertex_batch.local.gemini import RPC_STATUS, invalid, level_budget, load_json_object
from vertex_batch.local.service.family import GenerativeFamily, Outcome

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_STOP_SEQUENCES = 4
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call")


def _body(value: Any) -> dict[str, Any]:
    return load_json_object(value, "a chat completions request", "body")


def _number(body: dict[str, Any], name: str, low: float, high: float, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise invalid(f"Invalid type for '{name}': expected {kind}, but got {json.dumps(value)} instead.")
    if value < low:
        raise invalid(f"Invalid '{name}': value below minimum. Expected a value >= {low:g}, but got {value} instead.")
    if value > high:
        raise invalid(f"Invalid '{name}': value above maximum. Expected a value <= {high:g}, but got {value} instead.")
    return int(value) if integer else float(value)


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if content is None and message.get("role") == "assistant":
        return ""
    if not isinstance(content, list):
        raise invalid(f"Invalid type for 'messages[{index}].content': expected a string or an array of parts.")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise invalid(f"messages[{index}]: the local model reads text parts only, not {kind or 'this part'}.")
        texts.append(part["text"])
    return "\n".join(texts)


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("Missing required parameter: 'messages'.")
    if not isinstance(messages, list):
        raise invalid("Invalid type for 'messages': expected an array of objects.")
    if not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
        )
    chat: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"Invalid type for 'messages[{index}]': expected an object.")
        role = message.get("role")
        if role not in ROLES:
            raise invalid(
                f"Invalid value: {json.dumps(role)}. Supported values are: "
                + ", ".join(f"'{name}'" for name in ROLES)
                + "."
            )
        if role == "tool" or message.get("tool_calls"):
            raise invalid("The local model does not support tools (tool calls and tool messages).")
        chat.append({"role": "system" if role == "developer" else role, "content": _content(message, index)})
    return chat


def _response_format(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    response_format = body.get("response_format")
    if response_format is None:
        return None, None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in RESPONSE_FORMATS:
        raise invalid(
            f"Invalid value: {json.dumps(kind)}. Supported values are: 'text', 'json_object', and 'json_schema'."
        )
    if kind == "text":
        return None, None
    if kind == "json_object":
        return "application/json", None
    schema = (response_format.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        raise invalid("Missing required parameter: 'response_format.json_schema.schema'.")
    return "application/json", schema


def _reasoning(body: dict[str, Any], model: ModelInfo) -> int | None:
    """``reasoning_effort`` as the local thinking budget, for models with thinking levels."""
    control = model.thinking
    if control is None or control.control != "level":
        return None
    effort = body.get("reasoning_effort")
    if effort is None:
        return level_budget(control.default_level) if control.default_level else None
    level = str(effort).upper()
    if level not in control.levels:
        raise invalid(
            f"Invalid value: {json.dumps(effort)}. Supported values are: "
            + ", ".join(f"'{name.lower()}'" for name in control.levels)
            + "."
        )
    return level_budget(level)


def to_prompt(value: Any, model: ModelInfo, default_max_tokens: int) -> ChatPrompt:
    """Check one chat-completions body and map it to a chat prompt; raises ``RowError``."""
    body = _body(value)
    messages = _messages(body)
    if any(body.get(name) for name in TOOL_FIELDS):
        raise invalid("The local model does not support tools (tools, tool_choice, functions).")
    limit = model.max_output_tokens or 1_000_000
    max_tokens = _number(body, "max_completion_tokens", 1, limit, integer=True)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", 1, limit, integer=True)
    count = _number(body, "n", 1, 128, integer=True)
    if count is not None and count > 1:
        raise invalid(f"n is {count}, but the local model returns one choice per request.")
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else stops
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        raise invalid("Invalid type for 'stop': expected a string or an array of strings.")
    if len(stops) > MAX_STOP_SEQUENCES:
        raise invalid(
            f"Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP_SEQUENCES}, "
            f"but got an array with length {len(stops)} instead."
        )
    mime_type, schema = _response_format(body)
    temperature, top_p = _number(body, "temperature", 0, 2), _number(body, "top_p", 0, 1)
    budget = _reasoning(body, model)
    return ChatPrompt(
        messages=tuple(messages),
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        max_tokens=default_max_tokens if max_tokens is None else max_tokens,
        stop=tuple(stop for stop in stops if stop),
        seed=_number(body, "seed", -(2**63), 2**63 - 1, integer=True),
        response_mime_type=mime_type,
        response_schema=schema,
        thinking_budget=budget,
    )


def to_completion(generation: Generation, model: str) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` of one answer."""
    message: dict[str, Any] = {"role": "assistant", "content": generation.text}
    if generation.thought_text:
        message["reasoning_content"] = generation.thought_text
    usage: dict[str, Any] = {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.output_tokens + generation.thoughts_tokens,
        "total_tokens": generation.prompt_tokens + generation.output_tokens + generation.thoughts_tokens,
    }
    if generation.thoughts_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": generation.thoughts_tokens}
    finish = "length" if generation.finish_reason == "MAX_TOKENS" else "stop"
    return {
        "id": new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }


def new_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


class ChatCompletionsFamily(GenerativeFamily):
    """Chat-completions batch rows: ``body`` in, ``id``, ``response`` and ``error`` out."""

    name = "chat-completions"
    request_key = "body"
    line_example = '{"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}'
    reserved = ("response", "id", "error")
    dropped = ("method", "url")
    added_columns = (
        bigquery.SchemaField("id", "STRING"),
        bigquery.SchemaField("response", "JSON"),
        bigquery.SchemaField("error", "JSON"),
    )
    ok_sql = "error IS NULL"

    def empty_response(self) -> Any:
        return None

    def failure(self, code: int, message: str, status: str | None = None) -> dict[str, Any]:
        return {"code": code, "message": message, "status": status or RPC_STATUS.get(code, "UNKNOWN")}

    def table_row(self, values: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        row = {**values, "id": _row_id(outcome), "response": outcome.response}
        return row if outcome.ok else {**row, "error": outcome.failure}

    def line(self, source: dict[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
        kept = {key: value for key, value in source.items() if key not in (*self.dropped, *self.reserved)}
        return {**kept, "id": _row_id(outcome), "response": outcome.response, "error": outcome.failure}

    @staticmethod
    def line_ok(line: dict[str, Any]) -> bool:
        return line.get("error") is None

    def to_prompt(self, source: dict[str, Any]) -> ChatPrompt:
        return to_prompt(source.get("body"), self.info, self.config.default_max_output_tokens)

    def response(self, generation: Generation, prompt: ChatPrompt) -> Any:
        return to_completion(generation, f"{self.info.publisher}/{self.job.model_id}")


def _row_id(outcome: Outcome) -> str:
    return outcome.response["id"] if outcome.ok and isinstance(outcome.response, dict) else new_id()
