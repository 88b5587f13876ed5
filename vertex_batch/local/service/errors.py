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


class JobFailure(Exception):
    """A job-level failure: the job ends FAILED with ``error`` ``{"code": code, "message": message}``.

    Row-level problems never raise this; they become the row's ``status``.
    """

    code = 13

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class InputError(JobFailure):
    """The job's input cannot be imported: code 3, ``Failed to import data. …``."""

    code = 3

    @property
    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": f"Failed to import data. {self.message}"}


class DestinationError(JobFailure):
    """A bucket or dataset the job needs does not exist (code 9, FAILED_PRECONDITION)."""

    code = 9


class AccessDenied(JobFailure):
    """The service may not read or write a bucket or dataset (code 7, PERMISSION_DENIED)."""

    code = 7


def bucket_missing(bucket: str) -> DestinationError:
    """Production's failure for a missing (or unreadable) Cloud Storage bucket."""
    return DestinationError(
        f"Failed to get GCS bucket location for {bucket}. "
        "Please check that the bucket exists and permissions are set correctly."
    )


def dataset_missing(project: str, dataset: str) -> DestinationError:
    """The failure for a missing (or unreadable) BigQuery dataset, worded like the bucket one."""
    return DestinationError(
        f"Failed to get BigQuery dataset location for {project}.{dataset}. "
        "Please check that the dataset exists and permissions are set correctly."
    )
