"""Fault injection for resilience tests: failed API calls, failed rows and slow rows. Off by default.

Set with ``--fault-api-error-rate``, ``--fault-row-error-rate``, ``--fault-row-delay-s``, ``--fault-seed`` or
the environment variables ``VERTEX_LOCAL_FAULT_API_ERROR_RATE``, ``VERTEX_LOCAL_FAULT_ROW_ERROR_RATE``,
``VERTEX_LOCAL_FAULT_ROW_DELAY_S``, ``VERTEX_LOCAL_FAULT_SEED``. With a seed, which rows fail is fixed
per (job, row), so a rerun of the same job fails the same rows while a retry in a new job can succeed.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping
from typing import Any

from vertex_batch.local.gemini import row_status
from vertex_batch.local.service.config import FaultConfig

ENV_PREFIX = "VERTEX_LOCAL_FAULT_"

#: Retryable per-row failures, as Vertex AI writes them into the ``status`` of an output row.
ROW_FAULTS: tuple[tuple[int, str, str], ...] = (
    (
        429,
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        "RESOURCE_EXHAUSTED",
    ),
    (503, "The service is currently unavailable.", "UNAVAILABLE"),
    (500, "Internal error encountered.", "INTERNAL"),
)
#: Failures of whole API calls, with the Google error body the SDKs expect.
API_FAULTS: tuple[tuple[int, str, str], ...] = (
    (
        429,
        "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.",
        "RESOURCE_EXHAUSTED",
    ),
    (503, "The service is currently unavailable.", "UNAVAILABLE"),
)


def fault_config_from_env(env: Mapping[str, str] = os.environ) -> FaultConfig:
    """Fault settings from ``VERTEX_LOCAL_FAULT_*`` (defaults for the command-line flags)."""

    def number(name: str) -> float:
        raw = env.get(ENV_PREFIX + name, "").strip()
        return float(raw) if raw else 0.0

    seed = env.get(ENV_PREFIX + "SEED", "").strip()
    return FaultConfig(
        api_error_rate=number("API_ERROR_RATE"),
        row_error_rate=number("ROW_ERROR_RATE"),
        row_delay_s=number("ROW_DELAY_S"),
        seed=int(seed) if seed else None,
    )


class Faults:
    """Decides which API calls and rows fail."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._api_random = random.Random(config.seed)
        self._lock = threading.Lock()

    def api_error(self) -> tuple[int, dict[str, Any]] | None:
        """``(http_code, body)`` for an API call that should fail now, else ``None``."""
        if self.config.api_error_rate <= 0:
            return None
        with self._lock:
            if self._api_random.random() >= self.config.api_error_rate:
                return None
            code, message, status = self._api_random.choice(API_FAULTS)
        return code, {"error": {"code": code, "message": message, "status": status}}

    def row_error(self, job_id: str, row: int) -> str | None:
        """The retryable ``status`` string for a row that should fail, else ``None``."""
        if self.config.row_error_rate <= 0:
            return None
        rng = random.Random(f"{self.config.seed}:{job_id}:{row}") if self.config.seed is not None else random
        if rng.random() >= self.config.row_error_rate:
            return None
        code, message, status = rng.choice(ROW_FAULTS)
        return row_status(code, message, status)

    @property
    def row_delay_s(self) -> float:
        return self.config.row_delay_s
