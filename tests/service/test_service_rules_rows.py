"""Strict rows: each request is proto3 JSON of GenerateContentRequest, refused per row with Vertex AI's
wording; JSONL inputs that Vertex AI's import refuses as a whole fail the job with code 3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud import storage
from svc_helpers import ServiceProcess, gcs_body, gcs_output_lines, request_for, unique, upload_jsonl

from vertex_batch.local.gemini import RowError, to_prompt
from vertex_batch.local.service.errors import InputError
from vertex_batch.local.service.jsonl_import import InferredSchema

CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]
TYPO_SCHEMA = {
    "contents": CONTENTS,
    "generationConfig": {"responseMimeType": "application/json", "responseSchema": {"type_": "OBJECT"}},
}
TYPO_MESSAGE = (
    "Invalid JSON payload received. Unknown name \"type_\" at 'generation_config.response_schema': Cannot find field."
)


def message_of(request: Any) -> str:
    with pytest.raises(RowError) as info:
        to_prompt(request)
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    return info.value.message


@pytest.mark.unit
def test_misspelled_field_fails_with_production_wording() -> None:
    assert message_of(TYPO_SCHEMA) == TYPO_MESSAGE
    assert message_of({"contents": CONTENTS, "generation_config": {"max_output_token": 5}}) == (
        "Invalid JSON payload received. Unknown name \"max_output_token\" at 'generation_config': Cannot find field."
    )
    assert message_of({"contents": CONTENTS, "prompt": "x"}) == (
        'Invalid JSON payload received. Unknown name "prompt": Cannot find field.'
    )
    nested = {"contents": [{"role": "user", "parts": [{"text": "a"}, {"txt": "b"}]}]}
    assert message_of(nested) == (
        "Invalid JSON payload received. Unknown name \"txt\" at 'contents[0].parts[1]': Cannot find field."
    )
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "STRING", "$ref": "x"}}}
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    assert message_of({"contents": CONTENTS, "generationConfig": config}) == (
        'Invalid JSON payload received. Unknown name "$ref" at '
        "'generation_config.response_schema.properties[1].value': Cannot find field."
    )


@pytest.mark.unit
def test_proto3_json_forms_that_production_accepts() -> None:
    single = to_prompt({"contents": {"role": "user", "parts": {"text": "hi"}}})
    assert single.messages == ({"role": "user", "content": "hi"},)
    prompt = to_prompt(
        {
            "contents": CONTENTS,
            "system_instruction": {"parts": [{"text": "sys"}]},
            "generationConfig": {"topK": 40.5, "max_output_tokens": "7", "presencePenalty": 0.5},
            "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        }
    )
    assert prompt.top_k == 40 and prompt.max_tokens == 7
    assert prompt.messages[0] == {"role": "system", "content": "sys"}
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}}
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    assert to_prompt({"contents": CONTENTS, "generationConfig": config}).response_schema == schema


@pytest.mark.unit
@pytest.mark.parametrize(
    ("request_value", "message"),
    [
        (
            {"contents": CONTENTS, "safetySettings": [{"category": "HATE", "threshold": "BLOCK_NONE"}]},
            "Invalid value at 'safety_settings[0].category' "
            '(type.googleapis.com/google.cloud.aiplatform.v1.HarmCategory), "HATE"',
        ),
        (
            {"contents": CONTENTS, "generationConfig": {"temperature": "warm"}},
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"warm\"",
        ),
        (
            {"contents": CONTENTS, "systemInstruction": "be brief"},
            "Invalid value at 'system_instruction' "
            '(type.googleapis.com/google.cloud.aiplatform.v1.Content), "be brief"',
        ),
        (
            {"contents": CONTENTS, "generationConfig": [{"temperature": 1}]},
            'Invalid JSON payload received. Unknown name "generationConfig": '
            "Proto field is not repeating, cannot start list.",
        ),
    ],
)
def test_invalid_values_fail_the_row(request_value: dict[str, Any], message: str) -> None:
    assert message_of(request_value) == message


@pytest.mark.unit
@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ([{"request": {"generationConfig": {"responseJsonSchema": {"$defs": {"a": {"type": "string"}}}}}}], '"$defs"'),
        ([{"request": {"x": {}}}], "Cannot store struct request.x with no fields"),
        ([{"request": {"tools": [{"googleSearch": {}}]}}], "request.tools.googleSearch"),
        ([{"bad key": 1, "request": {}}], '"bad key"'),
    ],
)
def test_import_refuses_the_whole_file(lines: list[dict[str, Any]], needle: str) -> None:
    schema = InferredSchema()
    with pytest.raises(InputError) as info:
        for number, line in enumerate(lines, start=1):
            schema.add(line, f"Line {number}")
        schema.finish()
    assert needle in info.value.error["message"]
    assert info.value.error["message"].startswith("Failed to import data. ")


@pytest.mark.unit
def test_import_nesting_limit_and_fields_seen_elsewhere() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {"leaf": 1}
        for _ in range(depth - 1):
            value = {"n": value}
        return value

    schema = InferredSchema()
    schema.add({"request": nested(15)}, "Line 1")
    schema.add({"request": {"x": {}}}, "Line 2")
    schema.add({"request": {"x": {"y": 1}}}, "Line 3")  # the record has a field somewhere: fine
    schema.finish()
    with pytest.raises(InputError, match="nested more than 15 levels"):
        InferredSchema().add({"request": nested(16)}, "Line 1")


def test_typo_row_fails_alone_and_the_job_succeeds(service: ServiceProcess, gcs: storage.Client, bucket: str) -> None:
    folder = unique("strict")
    uri = upload_jsonl(
        gcs, bucket, f"{folder}/in.jsonl", [{"id": 1, "request": TYPO_SCHEMA}, {"id": 2, "request": request_for("ok")}]
    )
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "1", "failedCount": "1"}
    rows = {line["id"]: line for line in gcs_output_lines(gcs, job)}
    body = {"error": {"code": 400, "message": TYPO_MESSAGE, "status": "INVALID_ARGUMENT"}}
    assert rows[1]["status"] == f"Bad Request: {json.dumps(body)}" and rows[1]["response"] == {}
    assert rows[2]["status"] == ""


def test_unimportable_jsonl_fails_the_job_with_code_3(
    service: ServiceProcess, gcs: storage.Client, bucket: str
) -> None:
    folder = unique("import")
    schema = {"$defs": {"a": {"type": "string"}}, "type": "object"}
    line = {"request": {"contents": CONTENTS, "generationConfig": {"responseJsonSchema": schema}}}
    uri = upload_jsonl(gcs, bucket, f"{folder}/in.jsonl", [{"request": request_for("ok")}, line])
    job = service.run(gcs_body(uri, f"gs://{bucket}/{folder}/out"))
    assert job["state"] == "JOB_STATE_FAILED" and job["error"]["code"] == 3
    assert job["error"]["message"].startswith("Failed to import data. Line 2 of ")
    assert '"$defs"' in job["error"]["message"] and "completionStats" not in job
