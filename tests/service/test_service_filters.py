"""The list filter parser: the documented terms combined as AIP-160 combines them."""

from __future__ import annotations

import pytest
from google.cloud.aiplatform import jobs

from vertex_batch.local.service.filters import FilterError, parse_filter
from vertex_batch.local.service.resources import parse_rfc3339
from vertex_batch.local.service.store import JobRecord

pytestmark = pytest.mark.unit
T0 = parse_rfc3339("2025-01-01T00:00:00Z")


def job(name: str, state: str = "JOB_STATE_SUCCEEDED", created: int = T0, **labels: str) -> JobRecord:
    return JobRecord(
        id="1000000000000000001", project="1", location="us-central1", display_name=name,
        model="publishers/google/models/gemini-3.5-flash", model_id="gemini-3.5-flash", state=state,
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
        ('model_display_name="gemini-3.5-flash"', True),
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
        # AIP-160: OR, NOT, "-", parentheses, juxtaposition as AND; OR binds tighter than AND.
        ('state="JOB_STATE_FAILED" OR display_name="my_job_1"', True),
        ('state="JOB_STATE_FAILED" OR display_name="other"', False),
        ('NOT display_name="my_job_1"', False),
        ('-display_name="other"', True),
        ('-(state="JOB_STATE_FAILED" OR labels.team="data")', False),
        ('NOT (display_name="other")', True),
        ('display_name="other" AND state="JOB_STATE_FAILED" OR labels.team="data"', False),
        ('(display_name="other" AND state="JOB_STATE_FAILED") OR labels.team="data"', True),
        ('labels.team="data" state="JOB_STATE_SUCCEEDED"', True),
        ('labels.team="data" display_name="other"', False),
        ("create_time>2024-12-31T23:59:59Z AND state=JOB_STATE_SUCCEEDED", True),
        ('((display_name:"my_*"))', True),
    ],
)
def test_filter_matches(text: str, expected: bool) -> None:
    assert parse_filter(text)(job("my_job_1", team="data")) is expected


@pytest.mark.parametrize(
    "text",
    ['foo="x"', 'display_name>"x"', 'state="NOPE"', 'create_time>"yesterday"', 'display_name="a" OR x="b"',
     'display_name="a" AND', "display_name", '(display_name="a"', 'display_name="a")', 'NOT', "OR",
     'display_name="a" OR', "()"],
)  # fmt: skip
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_num_pending_jobs_filter_of_the_vertexai_sdk() -> None:
    """The filter ``vertexai.batch_prediction.BatchPredictionJob.num_pending_jobs()`` sends."""
    text = " OR ".join(f'state="{state.name}"' for state in jobs._JOB_PENDING_STATES)
    matches = parse_filter(text)
    assert matches(job("a", state="JOB_STATE_RUNNING")) and matches(job("a", state="JOB_STATE_PENDING"))
    assert not matches(job("a", state="JOB_STATE_SUCCEEDED"))
