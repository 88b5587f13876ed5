"""The list filter parser."""

from __future__ import annotations

import pytest

from vertex_batch.local.service.filters import FilterError, parse_filter
from vertex_batch.local.service.resources import parse_rfc3339
from vertex_batch.local.service.store import JobRecord

T0 = parse_rfc3339("2025-01-01T00:00:00Z")


def job(name: str, state: str = "JOB_STATE_SUCCEEDED", created: int = T0, **labels: str) -> JobRecord:
    return JobRecord(
        id="1000000000000000001", project="1", location="us-central1", display_name=name,
        model="publishers/google/models/gemini-2.5-flash", model_id="gemini-2.5-flash", state=state,
        create_us=created, update_us=created, labels=labels,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ('display_name="my_job_1"', True),
        ('display_name!="my_job_1"', False),
        ('display_name:"my_job_*"', True),
        ('display_name:"other_*"', False),
        ('displayName:"*job*"', True),
        ('model_display_name="gemini-2.5-flash"', True),
        ('state="JOB_STATE_SUCCEEDED"', True),
        ("state=JOB_STATE_FAILED", False),
        ('state!="JOB_STATE_FAILED"', True),
        ('create_time>"2024-12-31T23:59:59Z"', True),
        ('create_time<"2024-12-31T23:59:59Z"', False),
        ('create_time>="2025-01-01T00:00:00Z"', True),
        ('create_time<="2025-01-01T00:00:00.000001Z"', True),
        ('labels.team="data"', True),
        ("labels.team:*", True),
        ("labels.other:*", False),
        ('labels.team!="data"', False),
        ('state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*" AND labels.team="data"', True),
        ('state="JOB_STATE_SUCCEEDED" AND display_name:"x*"', False),
    ],
)
def test_filter_matches(text: str, expected: bool) -> None:
    assert parse_filter(text)(job("my_job_1", team="data")) is expected


@pytest.mark.parametrize(
    "text",
    ['foo="x"', 'display_name>"x"', 'state="NOPE"', 'create_time>"yesterday"', 'display_name="a" OR x="b"',
     'display_name="a" AND', "display_name"],
)  # fmt: skip
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)
