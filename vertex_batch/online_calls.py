"""``lane_ports.OnlineCaller`` on Vertex AI: one ``generateContent`` call through aiplatform's
``PredictionServiceClient`` (REST transport), the client that takes the request table's JSON as it is.

- The request: the row's ``request`` is ``GenerateContentRequest`` JSON (the batch input's own format); it is
  parsed into the v1 proto by the proto's JSON rules (``from_json``: camelCase or snake_case, an unknown field is
  refused), so a call sends what a batch job would read; a request that does not parse fails its row with a 400.
- The answer goes back to JSON as batch output holds it: camelCase names, enum names, no default values.
- Flex (flex-paygo page, read 2026-12-03): location ``global`` ("Flex PayGo doesn't support regional or
  multi-regional endpoints") and the headers ``X-Vertex-AI-LLM-Request-Type: shared`` plus
  ``X-Vertex-AI-LLM-Shared-Request-Type: flex`` ("Use only Flex PayGo": skip Provisioned Throughput); the request
  timeout "to a maximum of 30 minutes", sent as ``X-Server-Timeout`` (what google-genai sends for its timeout).
  The ``online`` lane calls the run's location without headers, with a 10-minute deadline.
- Retries: a transient error (429, 5xx, a dropped connection: ``transient_errors.is_transient_api_error``) is
  retried with ``google.api_core.retry.Retry``, 1 s doubling to at most 30 s apart, for up to ``RETRY_TIMEOUT_S``;
  then the row lands failed, retryable, for the lane's next round (``flex_lane``).
- A failed call is a failed row's ``status`` as Vertex AI writes failed batch rows:
  ``Bad Request: {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``, from the error body;
  401, 403 and 404 refuse the call, not the row (no access, no model there): ``fatal``, they never land.
"""

from __future__ import annotations

import http
import json
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as core
from google.api_core.retry import Retry
from google.protobuf import json_format

from vertex_batch.catalog import Lane, model_name
from vertex_batch.connections import Connections, api_host
from vertex_batch.lane_ports import AnswerStore, CallResult
from vertex_batch.regions import GLOBAL
from vertex_batch.request_models import RequestModel
from vertex_batch.transient_errors import is_transient_api_error

FLEX_HEADERS = (("x-vertex-ai-llm-request-type", "shared"), ("x-vertex-ai-llm-shared-request-type", "flex"))
FLEX_TIMEOUT_S = 30 * 60.0
ONLINE_TIMEOUT_S = 10 * 60.0
RETRY_TIMEOUT_S = 5 * 60.0
#: HTTP codes that refuse the call itself (credentials, permission, model not served there), never one row.
CALL_REFUSALS = (401, 403, 404)


def http_reason(code: int) -> str:
    """The HTTP reason a failed row's ``status`` starts with (``Bad Request``; ``Error`` for a code without one)."""
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def row_status(code: int, message: str, status: str) -> str:
    """A failed row's ``status`` as Vertex AI writes it: ``<HTTP reason>: {"error": {...}}``."""
    return f"{http_reason(code)}: {json.dumps({'error': {'code': code, 'message': message, 'status': status}})}"


def error_status(error: BaseException) -> str:
    """The failed row's status of a call that raised ``error`` (its Google error body when it has one)."""
    if isinstance(error, core.RetryError) and error.cause is not None:
        error = error.cause
    if isinstance(error, core.GoogleAPICallError):
        body: dict[str, Any] = {}
        response = getattr(error, "response", None)
        try:
            body = (response.json() or {}).get("error", {}) if response is not None else {}
        except ValueError:
            body = {}
        code = int(body.get("code") or error.code or 500)
        grpc = error.grpc_status_code.name if error.grpc_status_code is not None else "UNKNOWN"
        return row_status(code, str(body.get("message") or error.message), str(body.get("status") or grpc))
    if isinstance(error, TimeoutError) or type(error).__name__ in {"ReadTimeout", "ConnectTimeout"}:
        return row_status(504, f"The call timed out: {error}", "DEADLINE_EXCEEDED")
    return row_status(503, f"The call failed: {type(error).__name__}: {error}", "UNAVAILABLE")


@dataclass
class VertexCaller:
    """Calls ``model`` at ``location`` (Flex when ``flex``); one client per thread (a REST session each)."""

    connections: Connections
    model: RequestModel
    flex: bool
    _local: threading.local = field(default_factory=threading.local)

    @property
    def resource(self) -> str:
        info = self.model.settings.info
        publisher = info.publisher if info is not None else "google"
        location = self.connections.location
        return f"projects/{self.connections.project}/locations/{location}/publishers/{publisher}/models/" + model_name(
            self.model.settings.model
        )

    def _client(self) -> Any:
        if not hasattr(self._local, "client"):
            from google.api_core.client_options import ClientOptions
            from google.cloud import aiplatform_v1

            endpoint = self.connections.vertex_endpoint or api_host(self.connections.location)
            self._local.client = aiplatform_v1.PredictionServiceClient(
                credentials=self.connections.credentials,
                transport="rest",
                client_options=ClientOptions(api_endpoint=endpoint),
            )
        return self._local.client

    def __call__(self, request_json: str) -> CallResult:
        from google.cloud import aiplatform_v1

        try:
            request = aiplatform_v1.GenerateContentRequest.from_json(request_json)
        except (json_format.ParseError, ValueError) as error:
            return CallResult(None, row_status(400, str(error), "INVALID_ARGUMENT"), datetime.now(UTC))
        request.model = self.resource
        timeout = FLEX_TIMEOUT_S if self.flex else ONLINE_TIMEOUT_S
        metadata = [*(FLEX_HEADERS if self.flex else ()), ("x-server-timeout", str(int(timeout)))]
        retry = Retry(predicate=is_transient_api_error, initial=1.0, maximum=30.0, multiplier=2.0)
        try:
            answer = self._client().generate_content(
                request=request, metadata=metadata, timeout=timeout, retry=retry.with_timeout(RETRY_TIMEOUT_S)
            )
        except Exception as error:  # every failure is the row's status, as a batch job writes it
            status = error_status(error)
            fatal = any(status.startswith(http.HTTPStatus(code).phrase + ":") for code in CALL_REFUSALS)
            return CallResult(None, status, datetime.now(UTC), fatal=fatal)
        response = json_format.MessageToDict(aiplatform_v1.GenerateContentResponse.pb(answer))
        traffic = response.get("usageMetadata", {}).get("trafficType")
        return CallResult(response, "", datetime.now(UTC), traffic)


@dataclass
class CloudLanes:
    """``lane_ports.LaneAdapters`` on Vertex AI: Flex calls on ``global``, online calls in the run's location."""

    connections: Connections
    store: AnswerStore

    def caller(self, lane: Lane, model: RequestModel) -> VertexCaller:
        flex = lane == "flex"
        connections = replace(self.connections, location=GLOBAL) if flex else self.connections
        return VertexCaller(connections, model, flex)
