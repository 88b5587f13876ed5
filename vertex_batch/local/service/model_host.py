"""Loads the model backend in the background and hands it to job workers once it is ready.

The service answers ``/healthz`` at once; jobs wait for the backend. A backend that fails to load makes
every job that needs it fail with the load error.
"""

from __future__ import annotations

import logging
import threading

from vertex_batch.local.backends import ModelBackend, load_backend

log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The model backend failed to load."""


class ModelHost:
    """One backend instance shared by all job workers (backends guard their own state)."""

    def __init__(self, name: str, options: dict[str, object] | None = None) -> None:
        self.name = name
        self.options = options or {}
        self._ready = threading.Event()
        self._backend: ModelBackend | None = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin loading the backend in a background thread."""
        self._thread = threading.Thread(target=self._load, name="model-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._backend = load_backend(self.name, **self.options)
            log.info("model backend %s ready (%s)", self.name, self._backend.model_version)
        except Exception as err:
            log.exception("model backend %s failed to load", self.name)
            self._error = f"the model backend {self.name!r} failed to load: {err}"
        finally:
            self._ready.set()

    @property
    def status(self) -> str:
        if not self._ready.is_set():
            return "loading"
        return "ready" if self._backend is not None else "failed"

    def get(self, stop: threading.Event | None = None) -> ModelBackend | None:
        """The backend once loaded; ``None`` if ``stop`` is set first. Raises ``BackendUnavailable``."""
        while not self._ready.wait(0.2):
            if stop is not None and stop.is_set():
                return None
        if self._backend is None:
            raise BackendUnavailable(self._error or f"the model backend {self.name!r} is unavailable")
        return self._backend

    def close(self) -> None:
        close = getattr(self._backend, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.exception("closing the model backend failed")
