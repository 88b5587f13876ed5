"""GenerateContentRequest → ChatPrompt, Generation → GenerateContentResponse, row status strings."""

from __future__ import annotations

import base64
import json

import pytest

from vertex_batch.local import gemini
from vertex_batch.local.backends import Generation
from vertex_batch.local.gemini import RowError, row_status, to_prompt, to_response

request_for_a = {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}


def error_of(request: object, **kwargs: object) -> RowError:
    with pytest.raises(RowError) as info:
        to_prompt(request, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_full_request_maps_to_chat_prompt() -> None:
    prompt = to_prompt(
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "model", "parts": [{"text": "Hello."}]},
                {"role": "user", "parts": [{"text": "Sentiment of 'great'?"}]},
            ],
            "generationConfig": {
                "temperature": 0.2, "topP": 0.5, "topK": 20, "maxOutputTokens": 12,
                "stopSequences": ["\n\n"], "seed": 7, "candidateCount": 1,
            },
        }
    )  # fmt: skip
    assert prompt.messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi\nthere"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Sentiment of 'great'?"},
    )
    assert (prompt.temperature, prompt.top_p, prompt.top_k, prompt.max_tokens) == (0.2, 0.5, 20, 12)
    assert (prompt.stop, prompt.seed) == (("\n\n",), 7)


def test_snake_case_json_string_and_defaults() -> None:
    request = {
        "contents": [{"parts": [{"text": "x"}]}],
        "system_instruction": {"parts": [{"text": "sys"}]},
        "generation_config": {"max_output_tokens": "5"},
    }
    prompt = to_prompt(json.dumps(request), default_max_tokens=99)
    assert prompt.messages[0] == {"role": "system", "content": "sys"}
    assert prompt.messages[1] == {"role": "user", "content": "x"}
    assert prompt.max_tokens == 5
    assert to_prompt({"contents": [{"parts": [{"text": "x"}]}]}, default_max_tokens=99).max_tokens == 99


def test_invalid_role_gives_the_exact_vertex_status() -> None:
    err = error_of({"contents": [{"role": "tester", "parts": [{"text": "x"}]}]})
    assert err.row_status == (
        'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
        '"status": "INVALID_ARGUMENT"}}'
    )


@pytest.mark.parametrize(
    ("request_value", "needle"),
    [
        ({}, "no contents"),
        ({"contents": []}, "no contents"),
        ({"contents": [{"role": "user", "parts": []}]}, "at least one parts field"),
        ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text"),
        ("{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        (None, "empty"),
        ({"contents": [{"parts": [{"text": "a"}]}, {"parts": [{"text": "b"}]}]}, "valid role"),
        ({**request_for_a, "generationConfig": {"candidateCount": 2}}, "one candidate"),
        ({**request_for_a, "generationConfig": {"temperature": 3}}, "temperature"),
        ({**request_for_a, "generationConfig": {"topK": "many"}}, "top_k"),
        ({**request_for_a, "generationConfig": {"stopSequences": list("abcdef")}}, "at most 5"),
        ({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]}, "text parts only"),
    ],
)  # fmt: skip
def test_invalid_requests_are_400_rows(request_value: object, needle: str) -> None:
    err = error_of(request_value)
    assert (err.code, err.status) == (400, "INVALID_ARGUMENT")
    assert needle in err.message
    assert err.row_status.startswith('Bad Request: {"error": {"code": 400, "message": ')


@pytest.mark.parametrize("mime", ["image/jpeg", "video/mp4", "audio/wav", "application/pdf"])
def test_media_parts_are_refused_per_row(mime: str) -> None:
    file_part = {"fileData": {"fileUri": "gs://b/x", "mimeType": mime}}
    inline_part = {"inlineData": {"data": "AAAA", "mimeType": mime}}
    for part in (file_part, inline_part):
        err = error_of({"contents": [{"role": "user", "parts": [{"text": "look"}, part]}]})
        assert "text-only" in err.message and mime in err.message


def test_text_files_and_inline_text_are_read() -> None:
    reads: list[str] = []

    def reader(uri: str) -> str:
        reads.append(uri)
        return "file body"

    inline = base64.b64encode(b"inline body").decode()
    prompt = to_prompt(
        {"contents": [{"role": "user", "parts": [
            {"text": "Summarise:"},
            {"fileData": {"fileUri": "gs://b/doc.txt", "mimeType": "text/plain"}},
            {"inlineData": {"data": inline, "mimeType": "text/plain"}},
        ]}]},
        read_text_file=reader,
    )  # fmt: skip
    assert prompt.messages[0]["content"] == "Summarise:\nfile body\ninline body"
    assert reads == ["gs://b/doc.txt"]
    err = error_of(
        {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/x", "mimeType": "text/plain"}}]}]},
        read_text_file=lambda uri: (_ for _ in ()).throw(FileNotFoundError(uri)),
    )
    assert "Cannot read the file gs://b/x" in err.message


def test_response_json_shape() -> None:
    generation = Generation("ok", "MAX_TOKENS", prompt_tokens=3, output_tokens=2, avg_logprob=-0.5)
    assert to_response(generation, "m@local") == {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "ok"}]},
                "finishReason": "MAX_TOKENS",
                "avgLogprobs": -0.5,
            }
        ],
        "modelVersion": "m@local",
        "usageMetadata": {
            "promptTokenCount": 3,
            "candidatesTokenCount": 2,
            "totalTokenCount": 5,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 2}],
        },
    }
    assert "avgLogprobs" not in to_response(Generation("x", "STOP", 1, 1), "m")["candidates"][0]


def test_row_status_formats() -> None:
    assert row_status(429, "Resource exhausted.") == (
        'Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}'
    )
    assert row_status(503, "down").startswith("Service Unavailable: ")
    assert row_status(500, "boom").startswith("Internal Server Error: ")
    assert gemini.VALID_ROLE_MESSAGE == "Please use a valid role: user, model."
