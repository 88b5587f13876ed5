"""Strict proto3 JSON parsing with Google's front-end error wording, on the pinned aiplatform types.

Google's API front end parses a JSON body (or a batch row) against the request's proto and refuses it as a
whole with 400 ``INVALID_ARGUMENT``. The messages reproduced here, collected one per problem and joined by
newlines as the front end joins them:

- ``Invalid JSON payload received. Unknown name "<key>" at '<path>': Cannot find field.``
  (python-aiplatform#4333 shows it for a batch row: ``… Unknown name "type_" at
  'generation_config.response_schema': Cannot find field.``); at the root the `` at '…'`` part is left out;
- ``Invalid JSON payload received. Unknown name "<key>" at '<path>': Proto field is not repeating, cannot
  start list.`` for a list where one value is expected;
- ``Invalid value at '<path>' (<TYPE_X | type.googleapis.com/<message or enum>>), <value as JSON>`` for a
  value of the wrong type or an unknown enum name.

As proto3 JSON allows, a single value where a list is expected is taken as a one-element list, and both
lowerCamelCase and snake_case field names are accepted. Paths use proto field names and ``[i]`` indexes
(``contents[0].parts[0]``). ``google.protobuf`` types (``Struct``, ``Value``, ``Timestamp``, …) are left to
``json_format``, whose own complaints come back as ``Invalid JSON payload received. …``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_TYPE_NAMES = {
    getattr(FieldDescriptor, name): name
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_") and isinstance(getattr(FieldDescriptor, name), int)
}
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)  # fmt: skip
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})


class ProtoJsonError(ValueError):
    """The JSON does not parse as the message; ``str(err)`` is the front end's wording."""


def message_class(message_type: Any) -> type[Message]:
    """The protobuf class of a proto-plus type (``aiplatform_v1.BatchPredictionJob``) or a protobuf class."""
    pb = getattr(message_type, "pb", None)
    return pb() if callable(pb) and not isinstance(message_type, Message) else message_type


def parse(message_type: Any, data: Any, root: str = "") -> Message:
    """``data`` parsed strictly as ``message_type``; ``root`` is the path the front end reports for the
    top level (``""`` for a whole request, ``"batch_prediction_job"`` for a create body).
    Raises ``ProtoJsonError``."""
    cls = message_class(message_type)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ProtoJsonError(_invalid_value(root, _message_type_name(cls.DESCRIPTOR), data))
    normalized = _message(data, cls.DESCRIPTOR, root, problems)
    if problems:
        raise ProtoJsonError("\n".join(problems))
    message = cls()
    try:
        json_format.ParseDict(normalized, message)
    except json_format.ParseError as err:
        raise ProtoJsonError(f"Invalid JSON payload received. {err}") from None
    return message


def to_json(message: Message, *, int_enums: bool = False) -> dict[str, Any]:
    """A message as proto3 JSON (lowerCamelCase names, int64 as strings, default values left out)."""
    return json_format.MessageToDict(message, use_integers_for_enums=int_enums)


def _unknown(name: str, path: str, why: str) -> str:
    where = f" at '{path}'" if path else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{where}: {why}'


def _invalid_value(path: str, type_name: str, value: Any) -> str:
    return f"Invalid value at '{path}' ({type_name}), {json.dumps(value, ensure_ascii=False)}"


def _message_type_name(descriptor: Descriptor) -> str:
    return f"type.googleapis.com/{descriptor.full_name}"


def proto_name(field: FieldDescriptor) -> str:
    """The field's name in the ``.proto`` file: proto-plus renames fields that shadow Python names
    (``type`` → ``type_``) but keeps their JSON name."""
    if field.name.endswith("_") and not field.json_name.endswith("_"):
        return field.name[:-1]
    return field.name


@functools.cache
def _names(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """Every spelling the front end accepts for the message's fields: JSON name and proto name."""
    names: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        names[field.json_name] = field
        names[proto_name(field)] = field
    return names


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _message(data: dict[str, Any], descriptor: Descriptor, path: str, problems: list[str]) -> dict[str, Any]:
    """``data`` with single values wrapped in lists where the field repeats; problems are appended."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = _names(descriptor).get(key)
        if field is None:
            problems.append(_unknown(key, path, "Cannot find field."))
            continue
        field_path = _join(path, proto_name(field))
        key = field.json_name
        if key in out:
            problems.append(_unknown(key, path, "Field is set twice (as lowerCamelCase and snake_case)."))
        elif value is None:
            out[key] = value
        elif _is_map(field):
            if not isinstance(value, dict):
                problems.append(_invalid_value(field_path, _message_type_name(field.message_type), value))
                continue
            value_field = field.message_type.fields_by_name["value"]
            out[key] = {
                k: _value(v, value_field, f"{field_path}[{index}].value", problems)
                for index, (k, v) in enumerate(value.items())
            }
        elif field.is_repeated:
            items = value if isinstance(value, list) else [value]
            out[key] = [_value(item, field, f"{field_path}[{index}]", problems) for index, item in enumerate(items)]
        elif isinstance(value, list):
            problems.append(_unknown(key, path, "Proto field is not repeating, cannot start list."))
        else:
            out[key] = _value(value, field, field_path, problems)
    return out


def _value(value: Any, field: FieldDescriptor, path: str, problems: list[str]) -> Any:
    """One (non-repeated) value of ``field``, checked; nested messages are walked."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name.startswith("google.protobuf."):
            return value  # Struct, Value, Timestamp, wrappers …: json_format knows their JSON forms
        if not isinstance(value, dict):
            problems.append(_invalid_value(path, _message_type_name(field.message_type), value))
            return value
        return _message(value, field.message_type, path, problems)
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        known = (isinstance(value, str) and value in enum.values_by_name) or (
            isinstance(value, int) and not isinstance(value, bool)
        )
        if not known:
            problems.append(_invalid_value(path, f"type.googleapis.com/{enum.full_name}", value))
        return value
    if not _scalar_ok(field.type, value):
        problems.append(_invalid_value(path, _TYPE_NAMES.get(field.type, "TYPE_UNKNOWN"), value))
    return value


def _scalar_ok(kind: int, value: Any) -> bool:
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return isinstance(value, str)
    if kind == FieldDescriptor.TYPE_BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind in _INTEGER_TYPES:
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, str) and _is_integer_text(value)
    if kind in _FLOAT_TYPES:
        if isinstance(value, int | float):
            return True
        if isinstance(value, str):
            if value in _FLOAT_WORDS:
                return True
            try:
                float(value)
            except ValueError:
                return False
            return True
        return False
    return True


def _is_integer_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        try:
            return float(text).is_integer()
        except ValueError:
            return False
    return True
