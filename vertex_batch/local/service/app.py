"""The REST API: ``projects.locations.batchPredictionJobs`` (create, get, list, cancel, delete) under
``/v1`` and ``/v1beta1``, operation polls, online ``publishers/google/models/{model}:generateContent`` and
``:countTokens`` (see ``online``), and ``/healthz``.

Every error is a Google error body ``{"error": {"code", "message", "status"}}``. Enums are strings unless
the query asks for ``enum-encoding=int`` (google-cloud-aiplatform sends ``$alt=json;enum-encoding=int``).
A project may be named by its id or its number. As on the API front end, a query parameter that is not a
field of the method's request message (``job_service.proto``) nor a system parameter is a 400, so
``readMask`` works on list (``ListBatchPredictionJobsRequest.read_mask``) and is refused on get, whose
request has no such field; a method or path the API does not have is a 404. ``--fault-create-lost-reply-rate``
makes a share of creates answer 503 after the job is made, as when production's reply is lost on the way.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.cloud import aiplatform_v1
from google.protobuf import field_mask_pb2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vertex_batch.local import proto_json
from vertex_batch.local.service import snapshot
from vertex_batch.local.service.config import ServiceConfig
from vertex_batch.local.service.create import build_job
from vertex_batch.local.service.errors import ApiError, bad_request, failed_precondition, not_found
from vertex_batch.local.service.executor import CANCELED_ERROR, Executor
from vertex_batch.local.service.faults import RESOURCE_EXHAUSTED, UNAVAILABLE, Faults
from vertex_batch.local.service.filters import FilterError, parse_filter
from vertex_batch.local.service.model_host import ModelHost
from vertex_batch.local.service.online import (
    FLEX,
    OnlineSlots,
    check_payload,
    count_tokens,
    deadline_s,
    generate_content,
    parse_model_ref,
    traffic_type,
)
from vertex_batch.local.service.resources import delete_operation_json, job_json
from vertex_batch.local.service.store import (
    CANCELLED,
    CANCELLING,
    PENDING,
    RUNNING,
    JobRecord,
    JobStore,
    new_id,
    now_us,
)

log = logging.getLogger(__name__)

API_VERSIONS = ("v1", "v1beta1")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_JOBS = "/{version}/projects/{project}/locations/{location}/batchPredictionJobs"
_MODEL = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{model_ref}"
#: Query parameters every Google API takes (system parameters), besides the request message's fields.
SYSTEM_PARAMETERS = frozenset(
    {"alt", "fields", "key", "prettyPrint", "quotaUser", "access_token", "callback", "upload_protocol",
     "uploadType", "oauth_token", "userIp", "$.xgafv"}
)  # fmt: skip


def _int_enums(request: Request) -> bool:
    return "enum-encoding=int" in urllib.parse.unquote(request.url.query)


def _check_query(request: Request, message_type: Any, bound: tuple[str, ...]) -> None:
    """A 400 for a query parameter that is neither a system parameter nor a field of ``message_type``
    left unbound by the path (the front end's ``Cannot bind query parameter``)."""
    descriptor = message_type.pb().DESCRIPTOR
    fields = {name for field in descriptor.fields if field.name not in bound for name in (field.name, field.json_name)}
    for key in request.query_params:
        if key in SYSTEM_PARAMETERS or key.lstrip("$") in SYSTEM_PARAMETERS or key.split(".")[0] in fields:
            continue
        raise bad_request(
            f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query parameter. '
            f"Field '{key}' could not be found in request message."
        )


def read_mask(raw: str | None) -> list[list[str]] | None:
    """``readMask`` (``display_name,output_info.gcs_output_directory`` or lowerCamelCase) as lists of JSON
    field names, checked against ``BatchPredictionJob``; ``None`` for no mask."""
    if not raw:
        return None
    descriptor = aiplatform_v1.BatchPredictionJob.pb().DESCRIPTOR
    mask = field_mask_pb2.FieldMask()
    for path in (part.strip() for part in raw.split(",") if part.strip()):
        if "_" not in path:
            path = re.sub(r"[A-Z]", lambda upper: "_" + upper.group().lower(), path)
        mask.paths.append(path)
    if not mask.IsValidForDescriptor(descriptor):
        raise bad_request(f"Invalid readMask {raw!r}: each path must name a field of BatchPredictionJob.")
    json_paths = []
    for path in mask.paths:
        names, message = [], descriptor
        for part in path.split("."):
            field = message.fields_by_name[part]
            names.append(field.json_name)
            message = field.message_type
        json_paths.append(names)
    return json_paths


def masked(body: dict[str, Any], paths: list[list[str]] | None) -> dict[str, Any]:
    """Only the fields of ``body`` that ``paths`` name."""
    if paths is None:
        return body
    out: dict[str, Any] = {}
    for path in paths:
        source, target = body, out
        for name in path[:-1]:
            if not isinstance(source.get(name), dict):
                break
            source = source[name]
            target = target.setdefault(name, {})
        else:
            if path[-1] in source:
                target[path[-1]] = source[path[-1]]
    return out


def _error(err: ApiError) -> JSONResponse:
    """The error's Google body with its HTTP code (also for the shared instances ``faults`` keeps)."""
    return JSONResponse(err.body(), status_code=err.code)


async def _json_body(request: Request) -> Any:
    """The request body as JSON; a 400 when it is not."""
    try:
        return json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise bad_request(f"Invalid JSON payload received. {err}") from None


class Service:
    """The service's parts, shared by the routes."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = JobStore(config.state_dir)
        self.models = ModelHost(config.backend, config.backend_option)
        self.faults = Faults(config)
        self.executor = Executor(config, self.store, self.models, self.faults)
        self.online_slots = OnlineSlots(config.online_concurrency)

    def start(self) -> None:
        self.models.start()
        self.executor.start()

    def stop(self) -> None:
        self.executor.stop()
        self.models.close()
        self.store.close()

    def read_text(self, uri: str) -> str:
        """A ``gs://`` text file (for ``fileData`` parts of online requests)."""
        return self.executor.gcs().read_text(uri)

    def job(self, version: str, project: str, location: str, job_id: str) -> JobRecord:
        """The job a path names, or a 404."""
        if version not in API_VERSIONS:
            raise not_found(f"API version {version} is not served; use v1 or v1beta1.")
        job = self.store.get(job_id) if job_id.isdigit() else None
        if job is None or job.project != self.config.canonical_project(project) or job.location != location:
            name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"
            raise not_found(f"The BatchPredictionJob {name} does not exist.")
        return job


def create_app(config: ServiceConfig, *, start: bool = True) -> FastAPI:
    """The FastAPI application; with ``start`` its lifespan runs the workers and loads the backend."""
    service = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="Local Vertex AI batch prediction",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return _error(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        # The front end routes on method and path together: a method a path does not have (405 in
        # Starlette) is as unknown as a path nobody serves, a 404.
        return _error(
            not_found(f"The requested URL {request.url.path} was not found on this server ({request.method}).")
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(bad_request(f"Invalid request: {err.errors()}"))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(ApiError(500, f"Internal error encountered: {err}", "INTERNAL"))

    @app.middleware("http")
    async def inject_faults(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith(("/v1/", "/v1beta1/", "/ui/")):
            fault = service.faults.api_error()
            if fault:
                return _error(fault)
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "backend": service.models.name, "model": service.models.status}

    @app.post(_JOBS)
    async def create(version: str, project: str, location: str, request: Request) -> JSONResponse:
        if version not in API_VERSIONS:
            raise not_found(f"API version {version} is not served; use v1 or v1beta1.")
        _check_query(request, aiplatform_v1.CreateBatchPredictionJobRequest, ("parent", "batch_prediction_job"))
        body = await _json_body(request)
        return await run_in_threadpool(_create, body, version, project, location, _int_enums(request))

    def _create(body: Any, version: str, project: str, location: str, int_enums: bool) -> JSONResponse:
        job = build_job(
            config, project, location, body, service.executor.bigquery, service.executor.gcs, api_version=version
        )
        job = service.store.insert(job)
        service.executor.submit(job.id)
        log.info("created job %s (%s)", job.id, job.display_name)
        if service.faults.create_reply_lost():
            log.info("fault: the reply to the create of job %s is lost", job.id)
            return _error(UNAVAILABLE)
        return JSONResponse(job_json(job, int_enums=int_enums))

    @app.get(_JOBS)
    def list_jobs(version: str, project: str, location: str, request: Request) -> JSONResponse:
        if version not in API_VERSIONS:
            raise not_found(f"API version {version} is not served; use v1 or v1beta1.")
        _check_query(request, aiplatform_v1.ListBatchPredictionJobsRequest, ("parent",))
        params = request.query_params
        paths = read_mask(params.get("readMask") or params.get("read_mask"))
        try:
            matches = parse_filter(params.get("filter"))
        except FilterError as err:
            raise bad_request(f"Invalid filter: {err}") from None
        size = _page_size(params.get("pageSize") or params.get("page_size"))
        after = _page_token(params.get("pageToken") or params.get("page_token"))
        jobs = [
            job
            for job in service.store.list(config.canonical_project(project), location)
            if (after is None or job.seq < after) and matches(job)
        ]
        body: dict[str, Any] = {}
        if jobs:
            page = jobs[:size]
            body["batchPredictionJobs"] = [masked(job_json(job, int_enums=_int_enums(request)), paths) for job in page]
            if len(jobs) > size:
                body["nextPageToken"] = base64.urlsafe_b64encode(str(page[-1].seq).encode()).decode()
        return JSONResponse(body)

    @app.get(_JOBS + "/{job_id}")
    def get_job(version: str, project: str, location: str, job_id: str, request: Request) -> JSONResponse:
        _check_query(request, aiplatform_v1.GetBatchPredictionJobRequest, ("name",))
        job = service.job(version, project, location, job_id)
        return JSONResponse(job_json(job, int_enums=_int_enums(request)))

    @app.post(_JOBS + "/{job_ref}")
    async def cancel_job(version: str, project: str, location: str, job_ref: str, request: Request) -> JSONResponse:
        job_id, _, verb = job_ref.partition(":")
        if verb != "cancel":
            raise not_found(f"Unknown method {verb or job_ref!r} on a BatchPredictionJob; only :cancel exists.")
        _check_query(request, aiplatform_v1.CancelBatchPredictionJobRequest, ("name",))
        body = await _json_body(request)
        if body is not None:  # the body is the request message itself (body: "*"), less the bound name
            try:
                if not isinstance(body, dict):
                    raise proto_json.ProtoJsonError("Invalid JSON payload received. The body must be a JSON object.")
                proto_json.parse_message(aiplatform_v1.CancelBatchPredictionJobRequest, body)
            except proto_json.ProtoJsonError as err:
                raise bad_request(str(err)) from None
        return await run_in_threadpool(_cancel, version, project, location, job_id)

    def _cancel(version: str, project: str, location: str, job_id: str) -> JSONResponse:
        job = service.job(version, project, location, job_id)
        if job.terminal:
            raise failed_precondition(
                f"Cannot cancel BatchPredictionJob {job.name} because it is in state {job.state}."
            )
        stamp = now_us()
        if job.state == PENDING and service.store.update(
            job.id,
            only_from=[PENDING],
            state=CANCELLED,
            cancel_requested=True,
            end_us=stamp,
            error=CANCELED_ERROR,
        ):
            return JSONResponse({})
        service.store.update(job.id, only_from=[RUNNING, CANCELLING], state=CANCELLING, cancel_requested=True)
        return JSONResponse({})

    @app.delete(_JOBS + "/{job_id}")
    def delete_job(version: str, project: str, location: str, job_id: str, request: Request) -> JSONResponse:
        _check_query(request, aiplatform_v1.DeleteBatchPredictionJobRequest, ("name",))
        job = service.job(version, project, location, job_id)
        if not job.terminal:
            raise failed_precondition(
                f"The BatchPredictionJob {job.name} is in state {job.state} and cannot be deleted; "
                "cancel it and wait until it is CANCELLED first."
            )
        service.store.delete(job.id)
        snapshot.remove(config.state_dir, job.id)
        operation_id = new_id()
        operation = delete_operation_json(
            f"projects/{job.project}/locations/{job.location}/operations/{operation_id}", now_us(), version
        )
        service.store.put_operation(operation_id, operation)
        return JSONResponse(operation)

    @app.post(_MODEL)
    async def online_predict(
        version: str, project: str, location: str, publisher: str, model_ref: str, request: Request
    ) -> JSONResponse:
        if version not in API_VERSIONS:
            raise not_found(f"API version {version} is not served; use v1 or v1beta1.")
        resource = f"projects/{project}/locations/{location}"
        model = parse_model_ref(publisher, model_ref, resource)
        if model_ref.endswith(":countTokens"):
            body = await _json_body(request)
            counted = await run_in_threadpool(count_tokens, body, config, service.models, service.read_text, model)
            return JSONResponse(counted)
        traffic = traffic_type(request.headers, location, model)
        check_payload(traffic, len(await request.body()))
        body = await _json_body(request)
        if traffic == FLEX and service.faults.flex_throttled():
            return _error(RESOURCE_EXHAUSTED)
        async with service.online_slots.hold(deadline_s(request.headers, traffic)):
            answer = await run_in_threadpool(
                generate_content, body, config, service.models, service.faults, traffic, service.read_text, model
            )
        return JSONResponse(answer)

    @app.get("/{prefix}/{path:path}/operations/{operation_id}")
    def get_operation(prefix: str, path: str, operation_id: str) -> JSONResponse:
        if prefix not in (*API_VERSIONS, "ui"):
            raise not_found(f"The requested URL /{prefix}/{path} was not found on this server.")
        operation = service.store.get_operation(operation_id)
        if operation is None:
            raise not_found(f"Operation {operation_id} does not exist.")
        return JSONResponse(operation)

    return app


def _page_size(raw: str | None) -> int:
    if not raw:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise bad_request(f"pageSize must be an integer, not {raw!r}.") from None
    if size < 0:
        raise bad_request("pageSize must not be negative.")
    return min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _page_token(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request(f"Invalid pageToken {raw!r}.") from None
