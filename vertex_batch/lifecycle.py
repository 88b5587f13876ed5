"""What the model catalog says about the models a run uses, before anything is paid: a retired model or one whose
new access is blocked is refused with its replacement, one retiring soon is a warning, one not served where the
jobs run is refused with where it is served."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from vertex_batch.catalog import ModelInfo, catalog, model_name, utc_today
from vertex_batch.request_models import RequestModel


@dataclass(frozen=True)
class ModelVerdict:
    """Problems (refuse the run) and warnings about the models of some request models."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _replacement(info: ModelInfo) -> str:
    return f"use {info.replacement} instead" if info.replacement else "pick a current model (`vertex-batch models`)"


def lifecycle_lines(info: ModelInfo, today: date) -> tuple[str | None, str | None]:
    """``(problem, warning)`` about one model on ``today``."""
    status = info.status(today)
    if status == "retired":
        return f"model {info.id} was retired on {info.retirement}: {_replacement(info)}", None
    if info.new_access_blocked(today):
        return (
            f"model {info.id} retires on {info.retirement} and has been closed to new projects since "
            f"{info.access_blocked}: {_replacement(info)}",
            None,
        )
    if status == "retiring":
        return None, f"model {info.id} retires on {info.retirement} ({(info.retirement - today).days} days): " + (
            _replacement(info)
        )
    return None, None


def served_in(model: RequestModel, location: str) -> bool:
    """Whether the catalog says ``model``'s jobs may run at ``location`` (a model it does not know: yes)."""
    info = catalog().find(model.settings.model)
    return info is None or info.served_in(location)


def check_models(
    models: Iterable[RequestModel], location: str | None = None, today: date | None = None
) -> ModelVerdict:
    """The verdict on the models of ``models`` for jobs at ``location`` (a region, ``global``, ``us`` or ``eu``)."""
    today = today or utc_today()
    verdict = ModelVerdict()
    seen: set[str] = set()
    for model in models:
        info = catalog().find(model.settings.model)
        if info is None or info.id in seen:
            continue
        seen.add(info.id)
        problem, warning = lifecycle_lines(info, today)
        if problem:
            verdict.problems.append(f"{model.name}: {problem}")
        if warning:
            verdict.warnings.append(f"{model.name}: warning: {warning}")
        if location and not info.served_in(location):
            where = info.where_served()
            verdict.problems.append(
                f"{model.name}: model {model_name(model.settings.model)} is not served for batch jobs in {location}; "
                f"it is served in {where} (set --location)"
            )
    return verdict
