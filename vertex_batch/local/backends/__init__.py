"""Model backends of the local batch service, chosen by name."""

from __future__ import annotations

from vertex_batch.local.backends.base import (
    BackendRowError,
    ChatPrompt,
    Generation,
    ModelBackend,
    generate_batches,
    generate_each,
)

BACKENDS = ("smollm2", "fake-fast-test", "openai")


def load_backend(name: str, **options: object) -> ModelBackend:
    """The backend called ``name``; options go to its constructor (e.g. ``base_url`` for ``openai``)."""
    if name == "smollm2":
        from vertex_batch.local.backends.smollm2 import SmolLM2Backend

        return SmolLM2Backend(**options)  # type: ignore[arg-type]
    if name == "fake-fast-test":
        from vertex_batch.local.backends.fake import FakeFastTestBackend

        return FakeFastTestBackend(**options)  # type: ignore[arg-type]
    if name == "openai":
        from vertex_batch.local.backends.openai_compat import OpenAICompatibleBackend

        return OpenAICompatibleBackend(**options)  # type: ignore[arg-type]
    raise ValueError(f"unknown model backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "BackendRowError",
    "ChatPrompt",
    "Generation",
    "ModelBackend",
    "generate_batches",
    "generate_each",
    "load_backend",
]
