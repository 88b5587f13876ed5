"""The API surface's pure parts, without a server: create bodies, labels, readMask, timestamps."""

from __future__ import annotations

import pytest

from vertex_batch.local.service.app import masked, read_mask
from vertex_batch.local.service.create import LABELS_MESSAGE, parse_body
from vertex_batch.local.service.errors import ApiError
from vertex_batch.local.service.resources import parse_rfc3339, rfc3339

pytestmark = pytest.mark.unit
BODY = {
    "displayName": "job",
    "model": "publishers/google/models/gemini-3.5-flash",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": "gs://b/in.jsonl"}},
    "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/out"}},
}


def refusal(body: dict, version: str = "v1") -> str:
    with pytest.raises(ApiError) as info:
        parse_body(body, version)
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    return info.value.message


def test_body_is_read_as_the_proto() -> None:
    parsed = parse_body({**BODY, "model_version_id": "9", "state": 4, "createTime": "2024-01-01T00:00:00Z"})
    assert parsed["inputConfig"]["gcsSource"]["uris"] == ["gs://b/in.jsonl"]  # one value for a list
    assert not {"modelVersionId", "state", "createTime"} & set(parsed)  # output only: ignored
    assert parse_body({"display_name": "x", "output_config": {"predictions_format": "jsonl"}}) == {
        "displayName": "x",
        "outputConfig": {"predictionsFormat": "jsonl"},
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"foo": 1},
         "Invalid JSON payload received. Unknown name \"foo\" at 'batch_prediction_job': Cannot find field."),
        ({"inputConfig": {"gcsSource": {"uri": "gs://b/x"}}},
         "Invalid JSON payload received. Unknown name \"uri\" at 'batch_prediction_job.input_config.gcs_source': "
         "Cannot find field."),
        ({"displayName": ["a"]}, "Invalid JSON payload received. Unknown name \"displayName\" at "
                                 "'batch_prediction_job': Proto field is not repeating, cannot start list."),
        ({"generateExplanation": "yes"}, "Invalid value at 'batch_prediction_job.generate_explanation' (TYPE_BOOL)"),
    ],
)  # fmt: skip
def test_body_errors_are_worded_as_the_front_end_words_them(extra: dict, message: str) -> None:
    assert refusal({**BODY, **extra}).startswith(message)


def test_v1beta1_only_fields_are_unknown_on_v1() -> None:
    extra = {"modelMonitoringConfig": {}}
    assert 'Unknown name "modelMonitoringConfig"' in refusal({**BODY, **extra}, "v1")
    assert parse_body({**BODY, **extra}, "v1beta1")["displayName"] == "job"


def test_label_message_is_vertex_ais() -> None:
    assert "Label keys must start with a letter or number" in LABELS_MESSAGE


def test_read_mask_keeps_named_fields_only() -> None:
    job = {"name": "n", "displayName": "d", "outputInfo": {"gcsOutputDirectory": "gs://x", "other": 1}, "state": "S"}
    assert masked(job, read_mask("display_name,outputInfo.gcsOutputDirectory")) == {
        "displayName": "d",
        "outputInfo": {"gcsOutputDirectory": "gs://x"},
    }
    assert masked(job, read_mask(None)) == job
    with pytest.raises(ApiError):
        read_mask("displayName,nope")


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (1_730_484_796_000_000, "2024-11-01T18:13:16Z"),
        (1_730_484_796_826_000, "2024-11-01T18:13:16.826Z"),
        (1_730_484_796_826_123, "2024-11-01T18:13:16.826123Z"),
    ],
)
def test_timestamps_are_proto3_json(us: int, text: str) -> None:
    assert rfc3339(us) == text and parse_rfc3339(text) == us
