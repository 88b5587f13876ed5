"""Errors of the local batch service: API errors (answered as Google error bodies) and input errors."""

from __future__ import annotations

from typing import Any

from vertex_batch.local.gemini import RPC_STATUS


class ApiError(Exception):
    """An API call that fails with ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or RPC_STATUS.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


def not_found(message: str) -> ApiError:
    return ApiError(404, message, "NOT_FOUND")


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, message, "FAILED_PRECONDITION")


class InputError(Exception):
    """The job's input cannot be imported; the job fails with ``{"code": 3, "message": "Failed to import
    data. …"}``."""


class DestinationError(Exception):
    """The job's output destination cannot be used (the job fails with code 3 as well)."""
