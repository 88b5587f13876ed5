"""The OpenAI-compatible backend against llama-cpp-python's own server running SmolLM2 on 127.0.0.1.

Skipped unless the server's extra dependencies (``sse-starlette``, ``starlette-context``) are installed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from vertex_batch.local.backends import ChatPrompt
from vertex_batch.local.backends.openai_compat import OpenAICompatibleBackend

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def llama_server_url() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2, stopped after the module."""
    pytest.importorskip("llama_cpp")
    for extra in ("sse_starlette", "starlette_context", "pydantic_settings", "uvicorn"):
        pytest.importorskip(extra, reason="llama_cpp.server needs its extra dependencies")
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from vertex_batch.local.backends.smollm2_weights import smollm2_path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(
        server_settings=ServerSettings(host="127.0.0.1", port=port),
        model_settings=[
            ModelSettings(model=smollm2_path(), model_alias="smollm2", n_ctx=1024, n_threads=2, verbose=False)
        ],
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("llama_cpp.server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_answers_from_llama_cpp_server(llama_server_url: str) -> None:
    prompts = [
        ChatPrompt(
            messages=(
                {"role": "system", "content": "Be concise."},
                {"role": "user", "content": "What is the capital of France?"},
            ),
            temperature=0.0,
            max_tokens=24,
            seed=1,
        ),
        ChatPrompt(
            messages=({"role": "user", "content": "Tell me a long story about a dragon."},),
            temperature=0.0,
            max_tokens=6,
        ),
        ChatPrompt(
            messages=({"role": "user", "content": "List the numbers from 1 to 10, separated by commas."},),
            temperature=0.0,
            max_tokens=40,
            stop=(",",),
        ),
    ]
    with OpenAICompatibleBackend(llama_server_url, "smollm2", concurrency=2) as backend:
        paris, cut, stopped = backend.generate(prompts)
    assert "paris" in paris.text.lower() and paris.finish_reason == "STOP"
    assert paris.prompt_tokens > 5 and paris.output_tokens > 0
    assert cut.finish_reason == "MAX_TOKENS" and cut.output_tokens == 6
    assert "," not in stopped.text and stopped.text.strip()
    assert backend.model_version == "smollm2@openai-compatible"
