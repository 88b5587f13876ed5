"""Gemini ``GenerateContentRequest`` → ``ChatPrompt`` and ``Generation`` → ``GenerateContentResponse``.

Also the per-row status strings Vertex AI writes into batch output: ``""`` on success, otherwise
``"<HTTP reason>: <JSON error body>"``, e.g. ``Bad Request: {"error": {"code": 400, "message":
"Please use a valid role: user, model.", "status": "INVALID_ARGUMENT"}}``.
Each request is parsed strictly as proto3 JSON of ``GenerateContentRequest`` (``proto_json``): unknown or
misspelled fields, values of the wrong type and invalid enum names fail the row as Vertex AI fails it.

Thinking follows the model's catalog entry (``ModelInfo.thinking``): a request without ``thinkingConfig``
thinks as the model does by default (Gemini 3: its default ``thinkingLevel``; 2.5: dynamic), ``thinkingLevel``
is for models controlled by level and must be one of theirs, ``thinkingBudget`` 0 is refused by models that
cannot stop thinking ("Budget 0 is invalid. This model only works in thinking mode.", Gemini 2.5 Pro), and
both set at once is a 400 (Gemini 3 guide: use one of them). The local model's budget for a level is
``LEVEL_BUDGETS`` (a local choice; HIGH thinks dynamically).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from vertex_batch import online_calls
from vertex_batch.catalog import ModelInfo
from vertex_batch.local.backends.base import SCHEMA_MIME_TYPES, ChatPrompt, Generation
from vertex_batch.local.proto_json import ProtoJsonError, parse_request

RPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
VALID_ROLE_MESSAGE = "Please use a valid role: user, model."
TEXT_ONLY_MESSAGE = (
    "The local model is text-only: parts with MIME type {mime} are not supported by the local "
    "batch-prediction service. Send text parts (or text/plain files) only."
)
MAX_STOP_SEQUENCES = 5
#: ``maxOutputTokens`` ceiling when the model's catalog entry gives none.
MAX_OUTPUT_TOKENS = 65_536
#: ``thinkingBudget`` ceiling when the model's catalog entry gives none.
MAX_THINKING_BUDGET = 32_768
#: The local model's thinking budget for each thinking level of any family (Gemini ``thinkingLevel``, Claude
#: ``output_config.effort``, chat-completions ``reasoning_effort``; -1: dynamic). Read through ``level_budget``.
LEVEL_BUDGETS = {"MINIMAL": 128, "LOW": 1024, "MEDIUM": 8192, "HIGH": -1, "XHIGH": -1, "MAX": -1}
#: ``generationConfig.responseMimeType`` values the service accepts.
RESPONSE_MIME_TYPES = ("text/plain", "application/json", "text/x.enum")

#: Reads a ``gs://`` object as text (for ``text/plain`` ``fileData`` parts); raises on failure.
TextFileReader = Callable[[str], str]


def level_budget(level: str) -> int:
    """The local model's thinking budget for a thinking level, whatever its family's case (``high``, ``HIGH``)."""
    return LEVEL_BUDGETS[level.upper()]


def row_status(code: int, message: str, status: str | None = None) -> str:
    """The ``status`` value of a failed output row, formatted exactly as Vertex AI writes it."""
    return online_calls.row_status(code, message, status or RPC_STATUS.get(code, "UNKNOWN"))


class RowError(Exception):
    """A request that fails on its own row; the job goes on."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or RPC_STATUS.get(code, "UNKNOWN")

    @property
    def row_status(self) -> str:
        return row_status(self.code, self.message, self.status)


def invalid(message: str) -> RowError:
    """A 400 INVALID_ARGUMENT row error."""
    return RowError(400, message, "INVALID_ARGUMENT")


def _field(obj: Mapping[str, Any], camel: str) -> Any:
    """``obj[camel]`` or its snake_case spelling."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def load_json_object(value: Any, what: str, field: str = "request") -> dict[str, Any]:
    """A row's ``field`` as a dict: a JSON column value, or a STRING column holding JSON; ``what`` names what it
    must be (``a GenerateContentRequest``) in the row error otherwise."""
    if value is None:
        raise invalid(f"The {field} is empty: each row needs {what} in its {field} field.")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise invalid(f"The {field} is not valid JSON: {err.msg} at position {err.pos}.") from None
    if not isinstance(value, dict):
        raise invalid(f"The {field} must be a JSON object ({what}), not a JSON {_json_type(value)}.")
    return value


def load_request(value: Any) -> dict[str, Any]:
    """The request of one Gemini row (``load_json_object``)."""
    return load_json_object(value, "a GenerateContentRequest")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


def _number(config: Mapping[str, Any], camel: str, low: float, high: float, *, integer: bool = False) -> Any:
    value = _field(config, camel)
    if value is None:
        return None
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    kind = "TYPE_INT32" if integer else "TYPE_FLOAT"
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            raise invalid(f"Invalid value at 'generation_config.{snake}' ({kind}), \"{value}\"") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"Invalid value at 'generation_config.{snake}' ({kind}), {json.dumps(value)}")
    if integer and value != int(value):
        raise invalid(f"Invalid value at 'generation_config.{snake}' ({kind}), {value}")
    if not low <= value <= high:
        raise invalid(
            f"Unable to submit request because it has a {camel} value of {value} but the supported range "
            f"is from {low:g} to {high:g}."
        )
    return int(value) if integer else float(value)


def _part_text(part: Any, read_text_file: TextFileReader | None) -> str:
    if not isinstance(part, dict):
        raise invalid('Each part must be a JSON object such as {"text": "..."}.')
    if _field(part, "thought") is True:
        return ""
    text = part.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise invalid("Invalid value at 'contents.parts.text' (TYPE_STRING): a part's text must be a string.")
        return text
    inline = _field(part, "inlineData")
    if isinstance(inline, dict):
        mime = str(_field(inline, "mimeType") or "")
        if not mime.startswith("text/"):
            raise invalid(TEXT_ONLY_MESSAGE.format(mime=mime or "(none)"))
        try:
            return base64.b64decode(str(inline.get("data") or ""), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid("The inlineData part is not valid base64-encoded UTF-8 text.") from None
    file_data = _field(part, "fileData")
    if isinstance(file_data, dict):
        mime = str(_field(file_data, "mimeType") or "")
        uri = str(_field(file_data, "fileUri") or "")
        if not mime.startswith("text/"):
            raise invalid(TEXT_ONLY_MESSAGE.format(mime=mime or "(none)"))
        if read_text_file is None or not uri.startswith("gs://"):
            raise invalid(f"The local batch-prediction service can read text files from gs:// only, not {uri!r}.")
        try:
            return read_text_file(uri)
        except Exception as err:
            raise invalid(f"Cannot read the file {uri}: {err}") from None
    kinds = ", ".join(sorted(part)) or "an empty part"
    raise invalid(f"The local model supports text parts only; this part has {kinds}.")


def content_text(content: Mapping[str, Any], read_text_file: TextFileReader | None = None) -> str:
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise invalid(
            "Unable to submit request because it must include at least one parts field, "
            "which describes the prompt input."
        )
    texts = [_part_text(part, read_text_file) for part in parts]
    if not any(text.strip() for text in texts):
        raise invalid(
            "Unable to submit request because it has an empty text parameter. "
            "Add a value to the parameter and try again."
        )
    return "\n".join(text for text in texts if text)


def to_prompt(
    request: Any,
    *,
    default_max_tokens: int = 256,
    read_text_file: TextFileReader | None = None,
    model: ModelInfo | None = None,
) -> ChatPrompt:
    """Validate one ``GenerateContentRequest`` and map it to a chat prompt, with ``model``'s limits and
    thinking defaults when given; raise ``RowError`` if invalid."""
    raw = load_request(request)
    try:
        request = parse_request(raw)
    except ProtoJsonError as err:
        raise invalid(str(err)) from None
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid(
            "Unable to submit request because it has no contents: a GenerateContentRequest needs "
            '"contents": [{"role": "user", "parts": [{"text": "..."}]}].'
        )
    messages: list[dict[str, str]] = []
    system = request.get("systemInstruction")
    if system is not None:
        messages.append({"role": "system", "content": content_text(system, read_text_file)})
    for content in contents:
        if not isinstance(content, dict):
            raise invalid("Each element of contents must be a JSON object with role and parts.")
        role = content.get("role")
        if role in (None, "") and len(contents) == 1:
            role = "user"
        if role not in ("user", "model"):
            raise invalid(VALID_ROLE_MESSAGE)
        chat_role = "user" if role == "user" else "assistant"
        messages.append({"role": chat_role, "content": content_text(content, read_text_file)})
    tools = request.get("tools")
    if tools:
        raise invalid("The local model does not support tools (function calling, search or code execution).")
    if _field(request, "cachedContent"):
        raise invalid("The local batch-prediction service does not support cachedContent.")
    config = request.get("generationConfig") or {}
    # The backend constrains output with the schema as the user wrote it (the proto form renders
    # int64 bounds as strings and drops explicit defaults).
    raw_config = _field(raw, "generationConfig") or {}
    for name in ("responseSchema", "responseJsonSchema"):
        if name in config:
            config[name] = _field(raw_config, name)
    return _with_config(tuple(messages), config, default_max_tokens, model)


def _with_config(
    messages: tuple[dict[str, str], ...], config: Mapping[str, Any], default_max: int, model: ModelInfo | None
) -> ChatPrompt:
    candidates = _number(config, "candidateCount", 1, 8, integer=True)
    if candidates is not None and candidates > 1:
        raise invalid(
            f"candidateCount is {candidates}, but the local model returns one candidate per request: "
            "only one candidate can be specified."
        )
    stops = _field(config, "stopSequences") or []
    if isinstance(stops, str):
        stops = [stops]
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        raise invalid("stopSequences must be a list of strings.")
    if len(stops) > MAX_STOP_SEQUENCES:
        raise invalid(f"stopSequences has {len(stops)} entries; at most {MAX_STOP_SEQUENCES} are allowed.")
    temperature = _number(config, "temperature", 0.0, 2.0)
    top_p = _number(config, "topP", 0.0, 1.0)
    top_k = _number(config, "topK", 1, 1_000_000)  # a float in GenerationConfig
    max_tokens = _number(
        config, "maxOutputTokens", 1, (model and model.max_output_tokens) or MAX_OUTPUT_TOKENS, integer=True
    )
    seed = _number(config, "seed", -(2**31), 2**31 - 1, integer=True)
    mime_type, schema = _response_format(config)
    thinking_budget, include_thoughts = _thinking(config, model)
    return ChatPrompt(
        messages=messages,
        temperature=1.0 if temperature is None else temperature,
        top_p=0.95 if top_p is None else top_p,
        top_k=None if top_k is None else int(top_k),
        max_tokens=default_max if max_tokens is None else max_tokens,
        stop=tuple(stop for stop in stops if stop),
        seed=seed,
        response_mime_type=mime_type,
        response_schema=schema,
        thinking_budget=thinking_budget,
        include_thoughts=include_thoughts,
    )


def _thinking(config: Mapping[str, Any], model: ModelInfo | None) -> tuple[int | None, bool]:
    """``thinkingConfig`` (``thinkingBudget``: -1 dynamic, 0 off; ``thinkingLevel``; ``includeThoughts``) as
    the local model's budget, checked against the model's thinking control and defaulted from it."""
    thinking = _field(config, "thinkingConfig")
    if thinking is not None and not isinstance(thinking, dict):
        raise invalid("generationConfig.thinkingConfig must be a JSON object.")
    thinking = thinking or {}
    control = model.thinking if model is not None and model.thinking and model.thinking.control != "none" else None
    max_budget = (control and control.max_budget) or MAX_THINKING_BUDGET
    budget = _number(thinking, "thinkingBudget", -1, max_budget, integer=True)
    level = _field(thinking, "thinkingLevel")
    level = None if level in (None, "THINKING_LEVEL_UNSPECIFIED") else str(level)
    include = _field(thinking, "includeThoughts")
    if include is not None and not isinstance(include, bool):
        raise invalid(
            f"Invalid value at 'generation_config.thinking_config.include_thoughts' (TYPE_BOOL), {json.dumps(include)}"
        )
    if budget is not None and level is not None:
        raise invalid(
            "Unable to submit request because thinking_budget and thinking_level are both set. Set only one of them."
        )
    if model is not None:
        _check_thinking(model, budget, level)
    if level is not None:
        budget = level_budget(level)
    elif budget is None and control is not None:
        budget = control.default_budget if control.default_level is None else level_budget(control.default_level)
    return budget, bool(include)


def _check_thinking(model: ModelInfo, budget: int | None, level: str | None) -> None:
    """Refuse thinking settings the model does not take."""
    control = model.thinking if model.thinking is not None and model.thinking.control != "none" else None
    if level is not None and (control is None or control.control != "level"):
        raise invalid(f"Thinking level is not supported for {model.id}; set thinkingBudget instead.")
    if control is not None and level is not None and level not in control.levels:
        raise invalid(
            f"Thinking level {level} is not supported for {model.id}; use one of {', '.join(control.levels)}."
        )
    if budget is not None and control is None:
        raise invalid(f"Thinking is not supported for {model.id}.")
    if budget == 0 and control is not None and not control.can_disable:
        raise invalid("Budget 0 is invalid. This model only works in thinking mode.")


def _response_format(config: Mapping[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """``responseMimeType`` and the response schema (``responseSchema``, or ``responseJsonSchema``).

    A schema needs ``application/json`` or ``text/x.enum``; ``text/x.enum`` needs a schema with ``enum``.
    """
    mime_type = _field(config, "responseMimeType")
    if mime_type is not None and mime_type not in RESPONSE_MIME_TYPES:
        raise invalid(
            f"Unsupported responseMimeType {json.dumps(mime_type)}: use one of {', '.join(RESPONSE_MIME_TYPES)}."
        )
    schema = _field(config, "responseSchema")
    json_schema = _field(config, "responseJsonSchema")
    if schema is not None and json_schema is not None:
        raise invalid("Set only one of responseSchema and responseJsonSchema.")
    name = "responseSchema" if schema is not None else "responseJsonSchema"
    schema = schema if schema is not None else json_schema
    if schema is None:
        if mime_type == "text/x.enum":
            raise invalid("responseMimeType text/x.enum needs a responseSchema with an enum.")
        return mime_type, None
    if not isinstance(schema, dict):
        raise invalid(f"{name} must be a JSON object (a Schema), not a JSON {_json_type(schema)}.")
    if mime_type not in SCHEMA_MIME_TYPES:
        raise invalid(
            f"{name} is only supported when responseMimeType is one of {', '.join(SCHEMA_MIME_TYPES)}; "
            f"it is {json.dumps(mime_type or 'unset')}."
        )
    if mime_type == "text/x.enum" and not isinstance(schema.get("enum"), list):
        raise invalid("responseMimeType text/x.enum needs a responseSchema with an enum.")
    return mime_type, schema


def batch_model_version(model_id: str) -> str:
    """``modelVersion`` of batch output rows, shaped as Vertex AI shapes it (``<model>-001@default``)."""
    return f"{model_id}@default"


def to_response(generation: Generation, model_version: str) -> dict[str, Any]:
    """The ``GenerateContentResponse`` JSON of one generation (text only: every token is TEXT)."""
    parts: list[dict[str, Any]] = [{"text": generation.text}]
    if generation.thought_text:
        parts.insert(0, {"text": generation.thought_text, "thought": True})
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "finishReason": generation.finish_reason,
    }
    if generation.avg_logprob is not None:
        candidate["avgLogprobs"] = generation.avg_logprob
    usage: dict[str, Any] = {
        "promptTokenCount": generation.prompt_tokens,
        "candidatesTokenCount": generation.output_tokens,
        "totalTokenCount": generation.prompt_tokens + generation.output_tokens + generation.thoughts_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": generation.prompt_tokens}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": generation.output_tokens}],
    }
    # Like Vertex AI, counts that are zero are left out; the cached count is part of promptTokenCount.
    if generation.thoughts_tokens:
        usage["thoughtsTokenCount"] = generation.thoughts_tokens
    if generation.cached_tokens:
        usage["cachedContentTokenCount"] = generation.cached_tokens
    return {"candidates": [candidate], "modelVersion": model_version, "usageMetadata": usage}
