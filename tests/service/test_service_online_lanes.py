"""An online (or Flex) answer and a batch row's answer to the same request agree: the online endpoint maps the
request with the model's catalog limits and thinking defaults, as the batch family does, so both lanes use the
same tokens and cost the same at the same price share."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_batch.catalog import catalog
from vertex_batch.local import gemini
from vertex_batch.local.backends import generate_each
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.faults import Faults
from vertex_batch.local.service.model_host import ModelHost
from vertex_batch.local.service.online import FLEX, generate_content

pytestmark = pytest.mark.unit
THINKING_MODEL = next(
    m.id for m in catalog().of_family("gemini") if m.flex and m.thinking and m.status() == "available"
)
REQUEST = {"contents": [{"role": "user", "parts": [{"text": "Is item 7 in stock?"}]}]}


def test_an_online_answer_uses_what_a_batch_row_uses(tmp_path: Path) -> None:
    config = ServiceConfig(state_dir=tmp_path, backend="fake-fast-test")
    host = ModelHost("fake-fast-test")
    host.start()
    info = catalog().get(THINKING_MODEL)
    online = generate_content(REQUEST, info, config, host, Faults(config), FLEX)
    prompt = gemini.to_prompt(REQUEST, default_max_tokens=config.default_max_output_tokens, model=info)
    (generation,) = generate_each(host.get(), [prompt])
    batch = gemini.to_response(generation, gemini.batch_model_version(info.id))
    usage = {key: value for key, value in online["usageMetadata"].items() if key != "trafficType"}
    assert usage == batch["usageMetadata"]
    assert online["usageMetadata"]["trafficType"] == FLEX
