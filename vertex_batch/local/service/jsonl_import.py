"""The checks Vertex AI's import applies to a JSONL input as a whole.

Vertex AI loads a JSONL input like a BigQuery load with one inferred schema for the whole file, so some
inputs fail the whole job (code 3, ``Failed to import data. …``) rather than single rows: keys that are not
valid BigQuery field names (``$defs``, ``$schema``, names with spaces), objects nested more than 15 levels
deep, and objects that never have a field anywhere in the file (``"args": {}``, ``{"googleSearch": {}}``).
"""

from __future__ import annotations

import re
from typing import Any

from vertex_batch.local.service.errors import InputError

#: BigQuery's rule for field names of an inferred schema.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
#: BigQuery nests RECORD fields at most this deep.
MAX_NESTING = 15


class InferredSchema:
    """The schema of a JSONL input, grown line by line; raises ``InputError`` where the import fails."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[set[str], str]] = {}

    def add(self, row: dict[str, Any], where: str) -> None:
        """Add one line (``where`` names it in errors)."""
        self._record(row, "", 0, where)

    def finish(self) -> None:
        """Fail on records that never had a field."""
        for path, (keys, where) in self._records.items():
            if not keys:
                raise InputError(f"Cannot store struct {path} with no fields ({where}).")

    def _record(self, value: dict[str, Any], path: str, depth: int, where: str) -> None:
        if depth > MAX_NESTING:
            raise InputError(f"{where}: field {path} is nested more than {MAX_NESTING} levels deep.")
        keys = self._records.setdefault(path, (set(), where))[0] if path else set()
        for key, item in value.items():
            if not FIELD_NAME.fullmatch(key):
                raise InputError(
                    f'{where}: Invalid field name "{key}". Fields must contain only letters, numbers, and '
                    "underscores, start with a letter or underscore, and be at most 300 characters long."
                )
            keys.add(key)
            self._value(item, f"{path}.{key}" if path else key, depth + 1, where)

    def _value(self, value: Any, path: str, depth: int, where: str) -> None:
        if isinstance(value, dict):
            self._record(value, path, depth, where)
        elif isinstance(value, list):
            for item in value:
                self._value(item, path, depth, where)
