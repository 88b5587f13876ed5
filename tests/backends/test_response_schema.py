"""The response schema every local backend answers to: Gemini's Schema (or a JSON Schema) as JSON Schema."""

from __future__ import annotations

from vertex_batch.local.backends.response_schema import to_json_schema


def test_gemini_schema_becomes_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "3"},
            "score": {"type": "INTEGER", "nullable": True},
            "mood": {"type": "STRING", "enum": ["up", "down"], "description": "dropped"},
        },
    }
    assert to_json_schema(schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "score": {"type": ["integer", "null"]},
            "mood": {"type": "string", "enum": ["up", "down"]},
        },
        "required": ["tags", "score", "mood"],
        "additionalProperties": False,
    }


def test_properties_follow_each_objects_property_ordering() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "z": {"type": "STRING"},
            "inner": {"type": "OBJECT", "properties": {"x": {}, "y": {}}, "propertyOrdering": ["y"]},
            "a": {"type": "STRING"},
        },
        "propertyOrdering": ["a", "z", "unknown"],
    }
    converted = to_json_schema(schema)
    assert list(converted["properties"]) == ["a", "z", "inner"] == converted["required"]
    assert list(converted["properties"]["inner"]["properties"]) == ["y", "x"]


def test_json_schema_spelling_bounds_and_required_names_without_a_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": ["integer", "null"], "minimum": 3, "maximum": "5"}},
        "required": ["n", "missing"],
        "additionalProperties": True,
    }
    assert to_json_schema(schema) == {
        "type": "object",
        "properties": {"n": {"type": ["integer", "null"], "minimum": 3, "maximum": 5.0}, "missing": {"type": "string"}},
        "required": ["n", "missing"],
        "additionalProperties": False,
    }
    assert "properties" not in to_json_schema({"type": "OBJECT"})
    assert to_json_schema({"type": "STRING", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
