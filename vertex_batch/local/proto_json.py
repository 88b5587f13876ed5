"""Strict proto3 JSON parsing of a Gemini ``GenerateContentRequest``, with Vertex AI's error wording.

A request is checked against the newest request types the official clients ship: google-cloud-aiplatform's
``aiplatform_v1`` and ``aiplatform_v1beta1`` types each lag production in places (``thinkingConfig.
thinkingLevel`` and ``mediaResolution`` on parts are v1 only; ``generationConfig.modelConfig`` is v1beta1
only), and production's batch backend reads a row whatever API version created the job, so a request is
accepted when either version's type accepts it (the v1 error is reported when neither does). Fields
google-genai sends that neither pinned type has yet (``serviceTier``, from ``types.ServiceTier``) are
accepted with the values google-genai defines. Parsing follows the proto3 JSON mapping as Google's front
end applies it: field names in lowerCamelCase or as in the proto, a single value where a
list is expected, numbers as JSON strings, enum names (matched regardless of case). Anything else is
refused the way Vertex AI refuses it, e.g.
``Invalid JSON payload received. Unknown name "type_" at 'generation_config.response_schema': Cannot find
field.`` Paths use proto field names; list and map entries carry their index (``contents[0].parts[0]``,
``…properties[1].value``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.cloud import aiplatform_v1, aiplatform_v1beta1
from google.genai import types as genai_types
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

#: Request types a Gemini row is checked against, the first one's error reported.
REQUEST_TYPES = (aiplatform_v1.GenerateContentRequest, aiplatform_v1beta1.GenerateContentRequest)
#: Request types of a Gemini embedding row (``EmbedContentRequest``).
EMBED_REQUEST_TYPES = (aiplatform_v1.EmbedContentRequest, aiplatform_v1beta1.EmbedContentRequest)
#: Top-level request fields production takes that the pinned types lack: JSON name -> accepted values.
NEWER_FIELDS: dict[str, frozenset[str]] = {
    "serviceTier": frozenset(tier.value.lower() for tier in genai_types.ServiceTier),
}
_TYPE_NAMES = {
    getattr(FieldDescriptor, name): name
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_") and isinstance(getattr(FieldDescriptor, name), int)
}
_INTEGER_TYPES = frozenset(
    getattr(FieldDescriptor, f"TYPE_{name}")
    for name in ("INT32", "INT64", "UINT32", "UINT64", "SINT32", "SINT64", "FIXED32", "FIXED64", "SFIXED32", "SFIXED64")
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})


class ProtoJsonError(ValueError):
    """A request that is not valid proto3 JSON for its message; ``str()`` is Vertex AI's message."""


def parse_request(value: dict[str, Any], message_types: tuple[Any, ...] = REQUEST_TYPES) -> dict[str, Any]:
    """Check a request strictly against each of ``message_types`` (a ``GenerateContentRequest`` by default);
    return it in canonical proto3 JSON (lowerCamelCase names, lists where the proto has lists) as the first
    type that accepts it reads it; raises the first type's ``ProtoJsonError`` when none does."""
    value, newer = _newer_fields(value)
    first: ProtoJsonError | None = None
    for message_type in message_types:
        try:
            return {**parse_message(message_type, value), **newer}
        except ProtoJsonError as err:
            first = first or err
    assert first is not None
    raise first


def _newer_fields(value: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``value`` without the ``NEWER_FIELDS`` (checked here), and those fields by their JSON names."""
    rest, newer = dict(value), {}
    for json_name, allowed in NEWER_FIELDS.items():
        snake = re.sub(r"[A-Z]", lambda upper: "_" + upper.group().lower(), json_name)
        for key in (json_name, snake):
            if key in rest:
                item = rest.pop(key)
                if not isinstance(item, str) or item.lower() not in allowed:
                    raise _invalid_value(snake, "TYPE_ENUM", item)
                newer[json_name] = item
    return rest, newer


def parse_message(message_type: Any, value: dict[str, Any], root: str = "") -> dict[str, Any]:
    """``parse_request`` for any message: ``message_type`` is a protobuf class or a proto-plus type (such as
    ``aiplatform_v1.BatchPredictionJob``); ``root`` is the path the front end reports for the top level
    (``"batch_prediction_job"`` for a create body, whose request message holds the job in that field)."""
    pb_type = message_type.pb() if hasattr(message_type, "pb") else message_type
    normalized = _message(value, pb_type.DESCRIPTOR, root)
    try:
        message = json_format.ParseDict(normalized, pb_type(), ignore_unknown_fields=False)
    except json_format.ParseError as err:
        raise ProtoJsonError(f"Invalid JSON payload received. {err}") from None
    return json_format.MessageToDict(message)


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _invalid_value(path: str, kind: str, value: Any) -> ProtoJsonError:
    shown = f'"{value}"' if isinstance(value, str) else json.dumps(value)
    return ProtoJsonError(f"Invalid value at '{path}' ({kind}), {shown}")


def proto_name(field: FieldDescriptor) -> str:
    """The field's name in the .proto file: the Python types rename fields such as ``type`` to ``type_``."""
    if field.name.endswith("_") and field.json_name == field.name[:-1]:
        return field.json_name
    return field.name


def _message(value: Any, descriptor: Descriptor, path: str) -> dict[str, Any]:
    fields = {**{proto_name(f): f for f in descriptor.fields}, **{f.json_name: f for f in descriptor.fields}}
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            raise ProtoJsonError(f'Invalid JSON payload received. Unknown name "{key}"{_at(path)}: Cannot find field.')
        out[field.json_name] = _field(field, item, key, path)
    return out


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _field(field: FieldDescriptor, value: Any, key: str, parent: str) -> Any:
    path = _join(parent, proto_name(field))
    if value is None:
        return None
    if _is_map(field):
        if not isinstance(value, dict):
            raise _invalid_value(path, f"type.googleapis.com/{field.message_type.full_name}", value)
        value_field = field.message_type.fields_by_name["value"]
        return {
            name: _single(value_field, item, f"{path}[{index}].value")
            for index, (name, item) in enumerate(value.items())
        }
    if field.is_repeated:
        items = value if isinstance(value, list) else [value]
        return [_single(field, item, f"{path}[{index}]") for index, item in enumerate(items)]
    if isinstance(value, list):
        raise ProtoJsonError(
            f'Invalid JSON payload received. Unknown name "{key}"{_at(parent)}: '
            "Proto field is not repeating, cannot start list."
        )
    return _single(field, value, path)


def _single(field: FieldDescriptor, value: Any, path: str) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name.startswith("google.protobuf."):
            return value  # well-known types (Struct, Value, Duration, …): json_format checks them
        if not isinstance(value, dict):
            raise _invalid_value(path, f"type.googleapis.com/{field.message_type.full_name}", value)
        return _message(value, field.message_type, path)
    if field.enum_type is not None:
        return _enum(field, value, path)
    return _scalar(field, value, path)


def _enum(field: FieldDescriptor, value: Any, path: str) -> Any:
    names = {item.name.upper(): item.name for item in field.enum_type.values}
    if isinstance(value, str) and value.upper() in names:
        return names[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and field.enum_type.values_by_number.get(value):
        return value
    raise _invalid_value(path, f"type.googleapis.com/{field.enum_type.full_name}", value)


def _scalar(field: FieldDescriptor, value: Any, path: str) -> Any:
    kind = field.type
    ok = True
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        ok = isinstance(value, str)
    elif kind == FieldDescriptor.TYPE_BOOL:
        ok = isinstance(value, bool)
    elif isinstance(value, bool):
        ok = False
    elif kind in _INTEGER_TYPES:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                ok = False
        elif isinstance(value, float):
            ok = value.is_integer()
            value = int(value) if ok else value
        else:
            ok = isinstance(value, int)
    elif kind in _FLOAT_TYPES:
        if isinstance(value, str) and value not in _FLOAT_WORDS:
            try:
                value = float(value)
            except ValueError:
                ok = False
        else:
            ok = isinstance(value, int | float | str)
    if not ok:
        raise _invalid_value(path, _TYPE_NAMES.get(kind, "TYPE_UNKNOWN"), value)
    return value
