"""The dbt graph as the runner needs it: models, their edges and their ``meta``, read from ``manifest.json`` into
small frozen dataclasses. Plain data: dbt itself is driven by ``dbt_graph.py``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vertex_batch.errors import RequestTableError
from vertex_batch.request_models import META_KEY, BatchSettings
from vertex_batch.settings import RequestModelDefaults


@dataclass(frozen=True)
class ModelNode:
    """A dbt model as the runner needs it."""

    unique_id: str
    name: str
    database: str
    schema: str
    alias: str
    depends_on: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def table_id(self) -> str:
        """``project.dataset.table`` of the built relation."""
        return f"{self.database}.{self.schema}.{self.alias}"

    def batch_settings(self, defaults: RequestModelDefaults | None = None) -> BatchSettings:
        """The request model's settings (``meta.vertex_batch`` over ``defaults``)."""
        meta = self.meta.get(META_KEY)
        if not isinstance(meta, dict):
            raise RequestTableError(f"model {self.name}: meta.vertex_batch must be a dict")
        return BatchSettings.from_meta(self.name, meta, defaults)


@dataclass(frozen=True)
class Manifest:
    """Models and their edges from ``manifest.json``."""

    models: dict[str, ModelNode]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        models = {}
        for uid, node in data["nodes"].items():
            if node.get("resource_type") != "model":
                continue
            config = node.get("config", {})
            meta = {**node.get("meta", {}), **config.get("meta", {})}
            models[uid] = ModelNode(
                unique_id=uid,
                name=node["name"],
                database=node["database"],
                schema=node["schema"],
                alias=node.get("alias") or node["name"],
                depends_on=tuple(node.get("depends_on", {}).get("nodes", [])),
                meta=meta,
            )
        return cls(models=models)

    def request_models(self, selected: Iterable[str] | None = None) -> list[ModelNode]:
        """Models with ``meta.vertex_batch``, limited to ``selected`` unique ids when given."""
        wanted = set(selected) if selected is not None else None
        return [
            node
            for uid, node in sorted(self.models.items())
            if META_KEY in node.meta and (wanted is None or uid in wanted)
        ]

    def upstream(self, unique_id: str) -> set[str]:
        """Every node that ``unique_id`` depends on, transitively."""
        seen: set[str] = set()
        stack = list(self.models[unique_id].depends_on) if unique_id in self.models else []
        while stack:
            uid = stack.pop()
            if uid in seen:
                continue
            seen.add(uid)
            node = self.models.get(uid)
            if node:
                stack.extend(node.depends_on)
        return seen

    def waves(self, request_models: Sequence[ModelNode]) -> list[list[ModelNode]]:
        """Request models grouped so that each wave only needs the answers of earlier waves."""
        ids = {node.unique_id for node in request_models}
        depth: dict[str, int] = {}

        def level(uid: str) -> int:
            if uid not in depth:
                above = [level(up) for up in self.upstream(uid) if up in ids]
                depth[uid] = 1 + max(above, default=-1)
            return depth[uid]

        grouped: dict[int, list[ModelNode]] = {}
        for node in request_models:
            grouped.setdefault(level(node.unique_id), []).append(node)
        return [grouped[k] for k in sorted(grouped)]
