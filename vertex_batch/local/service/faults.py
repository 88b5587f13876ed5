"""Fault injection for resilience tests, and Flex PayGo's throttling: failed API calls, lost create replies,
throttled Flex calls, failed rows and slow rows. Off by default.

Set with ``--fault-api-error-rate``, ``--fault-create-lost-reply-rate``, ``--fault-row-error-rate``,
``--fault-row-delay-s``, ``--flex-throttle-rate``, ``--fault-seed`` or their ``VERTEX_LOCAL_*`` variables
(``config.ServiceConfig``). With a seed, which rows fail is fixed per (job, row), so a rerun of the same job
fails the same rows while a retry in a new job can succeed; which calls fail follows the seed in call order.
"""

from __future__ import annotations

import random
import threading

from vertex_batch.local.gemini import row_status
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.errors import ApiError

#: Production's 429 for exhausted shared capacity (the ``error-code-429`` page), as online calls answer it
#: and as batch rows carry it in ``status``. These errors are answered, never raised: one instance serves all.
RESOURCE_EXHAUSTED = ApiError(
    429,
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    "RESOURCE_EXHAUSTED",
)
UNAVAILABLE = ApiError(503, "The service is currently unavailable.", "UNAVAILABLE")
#: Retryable per-row failures, as Vertex AI writes them into the ``status`` of an output row.
ROW_FAULTS: tuple[ApiError, ...] = (
    RESOURCE_EXHAUSTED,
    UNAVAILABLE,
    ApiError(500, "Internal error encountered.", "INTERNAL"),
)
#: Failures of whole API calls, with the Google error body the SDKs expect.
API_FAULTS: tuple[ApiError, ...] = (
    ApiError(
        429,
        "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.",
        "RESOURCE_EXHAUSTED",
    ),
    UNAVAILABLE,
)


class Faults:
    """Decides which API calls, Flex calls, create replies and rows fail."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        # One generator per kind of decision, so turning one rate on does not move the others' draws.
        self._api_random = random.Random(config.fault_seed)
        self._reply_random = random.Random(config.fault_seed)
        self._flex_random = random.Random(config.fault_seed)

    def _draw(self, rng: random.Random, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return rng.random() < rate

    def api_error(self) -> ApiError | None:
        """The error an API call should fail with now (429 or 503), else ``None``."""
        if not self._draw(self._api_random, self.config.fault_api_error_rate):
            return None
        with self._lock:
            return self._api_random.choice(API_FAULTS)

    def create_reply_lost(self) -> bool:
        """Whether this batch create, its job made, should answer 503 as if the reply were lost."""
        return self._draw(self._reply_random, self.config.fault_create_lost_reply_rate)

    def flex_throttled(self) -> bool:
        """Whether this Flex PayGo call is throttled (answered 429 ``RESOURCE_EXHAUSTED``)."""
        return self._draw(self._flex_random, self.config.flex_throttle_rate)

    def row_error(self, job_id: str, row: int) -> str | None:
        """The retryable ``status`` string for a row that should fail, else ``None``."""
        if self.config.fault_row_error_rate <= 0:
            return None
        seed = self.config.fault_seed
        rng = random.Random(f"{seed}:{job_id}:{row}") if seed is not None else random
        if rng.random() >= self.config.fault_row_error_rate:
            return None
        fault = rng.choice(ROW_FAULTS)
        return row_status(fault.code, fault.message, fault.status)

    @property
    def row_delay_s(self) -> float:
        return self.config.fault_row_delay_s
