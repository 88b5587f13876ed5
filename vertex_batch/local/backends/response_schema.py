"""A request's response schema as the one JSON Schema that every local backend answers to.

Gemini's ``Schema`` (upper-case types, ``nullable``, ``propertyOrdering``) and a ``responseJsonSchema``
both become a plain JSON Schema here: the SmolLM2 backend turns it into a grammar, the fake backend draws
its values from it. Every property of an object is required, in ``propertyOrdering`` order, and no other
property is allowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

# Schema formats kept: those llama.cpp's grammar converter knows.
KEPT_FORMATS = frozenset({"date", "time", "date-time", "uuid"})
_LENGTHS = ("minItems", "maxItems", "minLength", "maxLength")
_BOUNDS = ("minimum", "maximum")


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A Gemini ``Schema`` (or a JSON Schema) as a JSON Schema with lower-case types.

    Keeps ``type``, ``properties``, ``items``, ``enum``, ``anyOf``/``oneOf`` (as ``anyOf``), ``minItems``/
    ``maxItems``, ``minLength``/``maxLength``, ``minimum``/``maximum`` and the formats in ``KEPT_FORMATS``;
    ``nullable`` adds ``null`` to the type (and the enum). An object's properties come in
    ``propertyOrdering`` order, then the others; all are required, and a ``required`` name with no
    property schema is a string property.
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
    properties = _properties(schema)
    if properties is not None:
        result["properties"] = properties
        result["required"] = list(properties)
        result["additionalProperties"] = False
    items = schema.get("items")
    if isinstance(items, Mapping):
        result["items"] = to_json_schema(items)
    for key in _LENGTHS:
        if key in schema:
            with contextlib.suppress(TypeError, ValueError):
                result[key] = int(schema[key])
    for key in _BOUNDS:
        bound = schema.get(key)
        if isinstance(bound, str):
            with contextlib.suppress(ValueError):
                result[key] = float(bound)
        elif isinstance(bound, int | float) and not isinstance(bound, bool):
            result[key] = bound
    if schema.get("format") in KEPT_FORMATS:
        result["format"] = schema["format"]
    return result


def _properties(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """An object schema's properties, converted and in order; ``None`` when it names none."""
    given = schema.get("properties")
    listed = schema.get("required")
    required = [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    if not isinstance(given, Mapping):
        if not required:
            return None
        given = {}
    ordering = [name for name in schema.get("propertyOrdering") or [] if name in given]
    names = list(dict.fromkeys([*ordering, *map(str, given), *required]))
    return {name: _property(given.get(name, {"type": "string"})) for name in names}


def _property(value: object) -> dict[str, Any]:
    """One property's schema, converted (``{}``, any value, when it is not a schema)."""
    return to_json_schema(value) if isinstance(value, Mapping) else {}
