"""Gemini rows: ``{"request": GenerateContentRequest}`` in, ``response`` (``GenerateContentResponse``) and
``status`` out, as ``vertex_batch.local.gemini`` maps them (with the model's own limits and thinking)."""

from __future__ import annotations

from typing import Any

from vertex_batch.local import gemini
from vertex_batch.local.backends import ChatPrompt, Generation
from vertex_batch.local.service.family import GenerativeFamily


class GeminiFamily(GenerativeFamily):
    """Gemini batch rows (the ``Family`` defaults are Gemini's shapes)."""

    name = "gemini"

    def to_prompt(self, source: dict[str, Any]) -> ChatPrompt:
        return gemini.to_prompt(
            source.get("request"),
            default_max_tokens=self.config.default_max_output_tokens,
            read_text_file=self.read_text,
            model=self.info,
        )

    def response(self, generation: Generation, prompt: ChatPrompt) -> Any:
        return gemini.to_response(generation, gemini.batch_model_version(self.job.model_id))
