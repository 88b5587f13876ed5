"""Render the package's dbt macros with plain Jinja (no dbt, no warehouse) to check the SQL side of a contract.

dbt's ``return(x)`` becomes an exception carrying ``x``; ``adapter.dispatch(name)`` picks the ``bigquery__``
implementation when there is one, else ``default__``, as dbt does on BigQuery.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2

REPO = Path(__file__).resolve().parents[2]
MACROS = REPO / "macros"


class Returned(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _return(value: Any) -> str:
    raise Returned(value)


class _Macros(SimpleNamespace):
    """``vertex_batch.<name>``: the macro, its ``return()`` value unwrapped; ``dispatch`` as on BigQuery."""

    def __init__(self, module_macros: dict[str, Any]) -> None:
        super().__init__()
        self._macros = module_macros

    def __getattr__(self, name: str) -> Any:
        macros = self.__dict__["_macros"]
        if name in macros:
            return _call(macros[name])
        raise AttributeError(name)

    def dispatch(self, name: str, package: str | None = None) -> Any:
        macros = self.__dict__["_macros"]
        for candidate in (f"bigquery__{name}", f"default__{name}"):
            if candidate in macros:
                return _call(macros[candidate])
        raise AttributeError(name)


def _call(macro: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return str(macro(*args, **kwargs))
        except Returned as returned:
            return returned.value

    return call


def package_macros(*files: str, globals: dict[str, Any] | None = None) -> _Macros:
    """The macros of ``files`` (paths under ``macros/``), callable as ``vertex_batch.<name>(...)``; ``globals``
    stand in for dbt's context functions the macros call (``var``, ``tojson``, ...)."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)
    env.globals["return"] = _return
    env.globals.update(globals or {})
    macros: dict[str, Any] = {}
    namespace = _Macros(macros)
    env.globals["vertex_batch"] = namespace
    env.globals["adapter"] = SimpleNamespace(dispatch=namespace.dispatch)
    env.globals["execute"] = False
    env.globals["modules"] = SimpleNamespace(re=re)
    for name in files:
        template = env.from_string((MACROS / name).read_text())
        context = template.new_context()
        for _ in template.root_render_func(context):  # defines the file's macros, private ones included
            pass
        macros.update({key: value for key, value in context.vars.items() if callable(value)})
    return namespace
