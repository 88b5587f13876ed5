"""The model families the local batch service serves, by ``ModelInfo.family`` (see ``family.Family``)."""

from __future__ import annotations

from collections.abc import Callable

from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.embeddings import TextEmbeddingFamily
from vertex_batch.local.service.family import Family
from vertex_batch.local.service.family_chat import ChatCompletionsFamily
from vertex_batch.local.service.family_claude import ClaudeFamily
from vertex_batch.local.service.family_gemini import GeminiFamily
from vertex_batch.local.service.family_gemini_embedding import GeminiEmbeddingFamily
from vertex_batch.local.service.served_models import model_info
from vertex_batch.local.service.store import JobRecord

FAMILIES: dict[str, type[Family]] = {
    family.name: family
    for family in (GeminiFamily, ClaudeFamily, ChatCompletionsFamily, GeminiEmbeddingFamily, TextEmbeddingFamily)
}


def family_for(job: JobRecord, config: ServiceConfig, read_text: Callable[[str], str] | None = None) -> Family:
    """The family that reads, answers and writes the rows of ``job``."""
    info = model_info(job.model_id)
    return FAMILIES[info.family](info, job, config, read_text)
