"""Gemini rows: ``{"request": GenerateContentRequest}`` in, ``response`` (``GenerateContentResponse``) and
``status`` out, as ``vertex_batch.local.gemini`` maps them (with the model's own limits and thinking)."""

from __future__ import annotations

from typing import Any

from vertex_batch.catalog import ModelInfo
from vertex_batch.local import gemini
from vertex_batch.local.backends import ChatPrompt, Generation
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.family import GenerativeFamily


def gemini_prompt(
    request: Any, model: ModelInfo, config: ServiceConfig, read_text: gemini.TextFileReader | None = None
) -> ChatPrompt:
    """One ``GenerateContentRequest`` to ``model`` as the backend's prompt, for a batch row and an online call
    alike: the model's output limit and thinking (levels, default level or budget) from its catalog entry, the
    service's default output limit when the request sets none. Raises ``RowError``."""
    return gemini.to_prompt(
        request, default_max_tokens=config.default_max_output_tokens, read_text_file=read_text, model=model
    )


class GeminiFamily(GenerativeFamily):
    """Gemini batch rows (the ``Family`` defaults are Gemini's shapes)."""

    name = "gemini"

    def to_prompt(self, source: dict[str, Any]) -> ChatPrompt:
        return gemini_prompt(source.get("request"), self.info, self.config, self.read_text)

    def response(self, generation: Generation, prompt: ChatPrompt) -> Any:
        return gemini.to_response(generation, gemini.batch_model_version(self.job.model_id))
