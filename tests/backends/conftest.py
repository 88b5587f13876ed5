"""Fixtures for the model backend tests: a fake OpenAI-compatible server and the shared SmolLM2 backend."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class FakeOpenAIServer:
    """Behaviour and request log of the fake server; tests change the switches before calling it."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    reject_fields: set[str] = field(default_factory=set)  # answer 400 naming these fields when sent
    fail_first: int = 0  # answer 503 to this many requests first
    retry_after: str | None = None  # the Retry-After header of those 503 answers
    send_usage: bool = True
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one chat completion request."""
        for name in sorted(self.reject_fields):
            if name in body:
                return 400, {"error": {"message": f"Unrecognized request argument supplied: {name}"}}
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503, {"error": {"message": "overloaded, try again"}}
        user = body["messages"][-1]["content"]
        if "TOO_LONG" in user:
            return 400, {"error": {"message": "This model's maximum context length is 8192 tokens"}}
        if body.get("model") != "tiny-model":
            return 404, {"error": {"message": f"model {body.get('model')!r} not found"}}
        words = f"echo: {user} and some more words".split()
        max_tokens = int(body.get("max_tokens", 16))
        finish = "length" if len(words) > max_tokens else "stop"
        text = " ".join(words[:max_tokens])
        for stop in body.get("stop") or []:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        answer: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        }
        if self.send_usage:
            prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
            answer["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            }
        if body.get("logprobs"):
            answer["choices"][0]["logprobs"] = {
                "content": [{"token": w, "logprob": -0.5, "top_logprobs": []} for w in text.split()]
            }
        return 200, answer


@pytest.fixture
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible chat server on 127.0.0.1, stopped after the test."""
    state = FakeOpenAIServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            answered = False
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with state.lock:
                    state.requests.append(body)
                    state.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    status, answer = 404, {"error": {"message": "no such route"}}
                else:
                    threading.Event().wait(0.02)  # long enough for requests to overlap
                    status, answer = state.answer(body)
                data = json.dumps(answer).encode()
                # Out of flight before the client can read the answer and send its next request.
                with state.lock:
                    state.in_flight -= 1
                answered = True
                self.send_response(status)
                if status == 503 and state.retry_after is not None:
                    self.send_header("Retry-After", state.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                if not answered:
                    with state.lock:
                        state.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def smollm2() -> Iterator[Any]:
    """One SmolLM2 backend for all model tests (loading takes a fraction of a second, the context more)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from vertex_batch.local.backends.smollm2 import SmolLM2Backend

    backend = SmolLM2Backend(n_ctx=1024, max_batch=8)
    try:
        yield backend
    finally:
        backend.close()
