"""The ``filter`` of ``batchPredictionJobs.list``: a parser that turns it into a predicate on jobs.

Supported, as Vertex AI documents it: ``display_name`` and ``model_display_name`` (``=``, ``!=``, ``:`` with
``*`` wildcards), ``state`` (``=``, ``!=``), ``create_time`` / ``update_time`` / ``start_time`` /
``end_time`` (``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=`` against an RFC 3339 time), ``labels.KEY`` (``=``,
``!=``, ``:``; ``labels.KEY:*`` means the label is set), terms joined by ``AND``. Example:
``state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*" AND create_time>"2024-01-01T00:00:00Z"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vertex_batch.local.service.resources import JOB_STATE_NUMBERS, parse_rfc3339
from vertex_batch.local.service.store import JobRecord

Predicate = Callable[[JobRecord], bool]


class FilterError(ValueError):
    """The filter cannot be parsed or names an unsupported field or operator."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>!=|>=|<=|=|:|>|<)
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | '(?P<sq>(?:[^'\\]|\\.)*)'
      | (?P<word>[^\s=!<>:"'()]+)
    )""",
    re.VERBOSE,
)
_STRING_FIELDS: dict[str, Callable[[JobRecord], str]] = {
    "display_name": lambda job: job.display_name,
    "displayName": lambda job: job.display_name,
    "model_display_name": lambda job: job.model_id,
    "modelDisplayName": lambda job: job.model_id,
}
_TIME_FIELDS: dict[str, Callable[[JobRecord], int | None]] = {
    "create_time": lambda job: job.create_us,
    "createTime": lambda job: job.create_us,
    "update_time": lambda job: job.update_us,
    "updateTime": lambda job: job.update_us,
    "start_time": lambda job: job.start_us,
    "startTime": lambda job: job.start_us,
    "end_time": lambda job: job.end_us,
    "endTime": lambda job: job.end_us,
}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(kind, value)`` pairs: kind is ``op``, ``str`` (quoted) or ``word``."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"unexpected character {text[position:].strip()[:1]!r} at position {position}")
        position = match.end()
        if match.group("op"):
            tokens.append(("op", match.group("op")))
        elif match.group("dq") is not None or match.group("sq") is not None:
            raw = match.group("dq") if match.group("dq") is not None else match.group("sq")
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern``, where ``*`` stands for any run of characters."""
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _string_term(getter: Callable[[JobRecord], str | None], op: str, value: str, field: str) -> Predicate:
    if op == "=":
        return lambda job: getter(job) == value
    if op == "!=":
        return lambda job: getter(job) != value
    if op == ":":
        if value == "*":
            return lambda job: getter(job) is not None
        return lambda job: getter(job) is not None and wildcard_match(value, getter(job) or "")
    raise FilterError(f"operator {op} is not supported for {field}; use =, != or :")


def _term(field: str, op: str, value: str) -> Predicate:
    if field in _STRING_FIELDS:
        return _string_term(_STRING_FIELDS[field], op, value, field)
    if field.startswith("labels."):
        key = field.removeprefix("labels.")
        return _string_term(lambda job: job.labels.get(key), op, value, field)
    if field == "state":
        state = value if value.startswith("JOB_STATE_") else f"JOB_STATE_{value}"
        if state not in JOB_STATE_NUMBERS:
            raise FilterError(f"unknown job state {value!r}")
        if op not in ("=", "!="):
            raise FilterError("operator for state must be = or !=")
        return (lambda job: job.state == state) if op == "=" else (lambda job: job.state != state)
    if field in _TIME_FIELDS:
        getter = _TIME_FIELDS[field]
        compare = _COMPARE.get(op)
        if compare is None:
            raise FilterError(f"operator {op} is not supported for {field}")
        try:
            limit = parse_rfc3339(value)
        except ValueError:
            raise FilterError(f'{value!r} is not an RFC 3339 time such as "2024-01-01T00:00:00Z"') from None
        return lambda job: (stamp := getter(job)) is not None and compare(stamp, limit)
    raise FilterError(
        f"unsupported field {field!r}; use display_name, model_display_name, state, create_time or labels.KEY"
    )


def parse_filter(text: str | None) -> Predicate:
    """A predicate for ``text``; an empty filter matches every job. Raises ``FilterError``."""
    if not text or not text.strip():
        return lambda job: True
    tokens = _tokens(text)
    terms: list[Predicate] = []
    index = 0
    while True:
        if index + 3 > len(tokens):
            raise FilterError('expected a term like field="value"')
        (field_kind, field), (op_kind, op), (value_kind, value) = tokens[index : index + 3]
        if field_kind != "word" or op_kind != "op" or value_kind == "op":
            raise FilterError(f'expected a term like field="value" near {field!r}')
        terms.append(_term(field, op, value))
        index += 3
        if index == len(tokens):
            break
        kind, word = tokens[index]
        if kind != "word" or word.upper() != "AND":
            raise FilterError(f"expected AND between terms, got {word!r}")
        index += 1
    return lambda job: all(term(job) for term in terms)
