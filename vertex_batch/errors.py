"""Errors a user can act on, each with a one-line message that says what to fix; adapters translate the clients'
exceptions into these, so the core never sees a Google or dbt exception."""

from __future__ import annotations


class VertexBatchError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits non-zero."""

    exit_code = 1


class ConfigurationError(VertexBatchError):
    """Bad settings, missing credentials, wrong project or region."""

    exit_code = 2


class DbtError(VertexBatchError):
    """A dbt invocation failed (compile error, failing validation test, failing model)."""


class RequestTableError(VertexBatchError):
    """A request model lacks what a batch job needs (key, ``request``, ``request_fingerprint``)."""

    exit_code = 2


class JobError(VertexBatchError):
    """A batch job could not be created or ended badly."""


class BudgetExceeded(VertexBatchError):
    """The estimated cost of a run is above ``--max-cost``."""

    exit_code = 2


class JobNotFound(JobError):
    """The job service does not know the job (deleted, or never created)."""


class ServiceUnavailable(JobError):
    """The job service kept failing with transient errors (429, 5xx, timeouts) after retries."""


class LeaseHeld(VertexBatchError):
    """Another process works on the run's request models (``resume`` without ``--wait``): try again later."""

    exit_code = 75  # EX_TEMPFAIL, as ``report.EXIT_RUNNING``: a scheduler calls again later


class LeaseLost(VertexBatchError):
    """This process lost its lease (it could not renew it in time) and stopped before submitting more."""

    exit_code = 75
