"""The ``filter`` of ``batchPredictionJobs.list``: a parser that turns it into a predicate on jobs.

Supported, as Vertex AI documents it: ``display_name`` and ``model_display_name`` (``=``, ``!=``, ``:`` with
``*`` wildcards), ``state`` (``=``, ``!=``), ``create_time`` / ``update_time`` / ``start_time`` /
``end_time`` (``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=`` against an RFC 3339 time), ``labels.KEY`` (``=``,
``!=``, ``:``; ``labels.KEY:*`` means the label is set), combined as AIP-160 combines them: ``AND``,
``OR``, ``NOT`` or ``-``, parentheses; ``OR`` binds tighter than ``AND`` (``a AND b OR c`` is
``a AND (b OR c)``). Examples: ``state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"`` and what the
vertexai SDK's ``BatchPredictionJob.num_pending_jobs()`` sends, ``state="JOB_STATE_QUEUED" OR
state="JOB_STATE_PENDING" OR …`` (``job_service.proto``, ``ListBatchPredictionJobsRequest.filter``).
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
      | (?P<paren>[()])
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | '(?P<sq>(?:[^'\\]|\\.)*)'
      | (?P<minus>-)(?=[\w(])
      | (?P<word>[^\s=!<>:"'()]+)
    )""",
    re.VERBOSE,
)
#: After a comparator an unquoted value may hold ``:`` and ``-`` (``create_time>2024-01-01T00:00:00Z``).
_VALUE = re.compile(r"\s*(?P<word>[^\s()\"']+)")
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
    """``(kind, value)`` pairs: kind is ``op``, ``paren``, ``str`` (quoted) or ``word`` (``-`` as a prefix
    is the word ``-``)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        after_op = bool(tokens) and tokens[-1][0] == "op"
        match = (after_op and _VALUE.match(text, position)) or _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"unexpected character {text[position:].strip()[:1]!r} at position {position}")
        position = match.end()
        groups = match.groupdict()
        if groups.get("op"):
            tokens.append(("op", match.group("op")))
        elif groups.get("paren"):
            tokens.append(("paren", match.group("paren")))
        elif groups.get("minus"):
            tokens.append(("word", "-"))
        elif groups.get("dq") is not None or groups.get("sq") is not None:
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
    return _Parser(_tokens(text)).parse()


class _Parser:
    """Recursive descent over AIP-160's grammar (https://google.aip.dev/160)::

    expression = sequence {"AND" sequence}
    sequence   = factor {factor}                (juxtaposition: also AND)
    factor     = term {"OR" term}               (OR binds tighter than AND)
    term       = ["NOT" | "-"] simple
    simple     = restriction | "(" expression ")"
    """

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError('unexpected end of filter; expected a term like field="value"')
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        if self.peek() == ("word", word):
            self.index += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def expression(self) -> Predicate:
        parts = [self.sequence()]
        while self.keyword("AND"):
            parts.append(self.sequence())
        return _all(parts)

    def sequence(self) -> Predicate:
        parts = [self.factor()]
        while (token := self.peek()) is not None and token not in (("paren", ")"), ("word", "AND")):
            parts.append(self.factor())
        return _all(parts)

    def factor(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("OR"):
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda job: any(part(job) for part in parts)

    def term(self) -> Predicate:
        if self.keyword("NOT") or self.keyword("-"):
            inner = self.simple()
            return lambda job: not inner(job)
        return self.simple()

    def simple(self) -> Predicate:
        kind, value = self.take()
        if (kind, value) == ("paren", "("):
            inner = self.expression()
            if self.take() != ("paren", ")"):
                raise FilterError("expected )")
            return inner
        if kind != "word" or value in ("AND", "OR", "NOT", "-"):
            raise FilterError(f'expected a term like field="value", got {value!r}')
        op_kind, op = self.take() if self.peek() is not None else ("", "")
        if op_kind != "op":
            raise FilterError(f'expected a comparison after {value!r}, like {value}="value"')
        value_kind, argument = self.take()
        if value_kind not in ("str", "word"):
            raise FilterError(f"expected a value after {value}{op}")
        return _term(value, op, argument)


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda job: all(part(job) for part in parts)
