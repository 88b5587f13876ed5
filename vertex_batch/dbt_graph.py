"""The dbt side of a run: invoke dbt programmatically and read its manifest into small dataclasses."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vertex_batch.errors import DbtError, RequestTableError
from vertex_batch.identity import embedding_parameters, request_kind
from vertex_batch.settings import MAX_EMBEDDING_ROWS_PER_JOB, RequestModelDefaults

META_KEY = "vertex_batch"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
_INVOCATIONS = itertools.count(1)  # numbers the target folders of this process, across DbtProject instances


@dataclass(frozen=True)
class BatchSettings:
    """A request model's ``config(meta={'vertex_batch': {...}})``, with defaults filled in (see ``settings.py``)."""

    key: tuple[str, ...]
    model: str
    max_rows_per_job: int
    max_attempts: int
    input: str
    gcs_prefix: str | None = None
    location: str | None = None
    # generate (Gemini `request` rows) or embed (`content` rows to a text-embedding model): identity.request_kind.
    kind: str = "generate"
    # The jobs' modelParameters (embed: outputDimensionality / autoTruncate from meta); part of the row identity.
    model_parameters: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_meta(
        cls, model_name: str, meta: dict[str, Any], defaults: RequestModelDefaults | None = None
    ) -> BatchSettings:
        defaults = defaults or RequestModelDefaults()
        key = meta.get("key")
        if isinstance(key, str):
            key = [key]
        if not key:
            raise RequestTableError(
                f"request model {model_name}: meta.vertex_batch.key is missing; "
                "name the column(s) that identify a request, e.g. {'key': ['review_id']}"
            )
        if "destination_dataset" in meta:
            raise RequestTableError(
                f"request model {model_name}: meta.vertex_batch.destination_dataset is not supported: the landing "
                "table lives beside the request model (set the request model's schema to move it)"
            )
        given = {name: meta[name] for name in RequestModelDefaults.model_fields if meta.get(name) is not None}
        try:
            merged = RequestModelDefaults(**{**defaults.model_dump(), **given})
        except ValidationError as error:
            problem = error.errors()[0]
            raise RequestTableError(
                f"request model {model_name}: meta.vertex_batch.{problem['loc'][0]}: {problem['msg']}"
            ) from error
        try:
            kind = request_kind(merged.model, meta.get("kind"))
        except ValueError as error:
            raise RequestTableError(f"request model {model_name}: {error}") from error
        embed = kind == "embed"
        params = embedding_parameters(meta) if embed else dict(meta.get("model_parameters") or {})
        return cls(
            key=tuple(key),
            model=merged.model,
            max_rows_per_job=min(merged.max_rows_per_job, MAX_EMBEDDING_ROWS_PER_JOB)
            if embed
            else merged.max_rows_per_job,
            max_attempts=merged.max_attempts,
            input=merged.input,
            gcs_prefix=merged.gcs_prefix,
            location=merged.location,
            kind=kind,
            model_parameters=params or None,
        )


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


@dataclass
class DbtProject:
    """One dbt project and profile, driven through ``dbtRunner``; each invocation has its own target path.

    The project is parsed once per instance: later invocations (``build``, ``ls``) are handed the parsed
    manifest, as dbt's programmatic API allows, instead of parsing again. A new process starts from the
    newest partial-parse file under the target root, so dbt re-reads only the files that changed.
    """

    project_dir: Path
    profiles_dir: Path | None = None
    target: str | None = None
    quiet: bool = False
    target_root: Path | None = None
    vars: str | None = None
    _parsed: tuple[Any, Manifest] | None = None  # dbt's manifest object and ours, from the first parse

    def _target_path(self, label: str) -> Path:
        """A fresh target folder; until the project is parsed, seeded with the newest partial-parse file under
        the target root (saves a full parse). Later invocations get the parsed manifest and parse nothing."""
        root = self.target_root or (self.project_dir / "target" / "vertex_batch")
        path = root / f"{os.getpid()}-{next(_INVOCATIONS):02d}-{label}"
        previous = _newest_partial_parse(root) if self._parsed is None else None
        if previous is not None:
            path.mkdir(parents=True, exist_ok=True)
            shutil.copy2(previous, path / PARTIAL_PARSE_FILE)
        return path

    def _common(self) -> list[str]:
        argv = []
        if self.profiles_dir:
            argv += ["--profiles-dir", str(self.profiles_dir)]
        if self.target:
            argv += ["--target", self.target]
        if self.vars:
            argv += ["--vars", self.vars]
        return argv

    def invoke(self, command: str, *args: str) -> Path:
        """Run ``dbt <command> <args>``; return its target path; raise ``DbtError`` with the failures."""
        target_path = self._target_path(command)
        argv = [
            command,
            *args,
            "--project-dir",
            str(self.project_dir),
            "--target-path",
            str(target_path),
            *self._common(),
        ]
        if self.quiet:
            argv += ["--quiet"]
        result = self._runner(command).invoke(argv)
        if not result.success:
            raise DbtError(f"dbt {command} failed: {_failures(result)}")
        if command == "parse":
            self._parsed = (result.result, Manifest.load(target_path / "manifest.json"))
        return target_path

    def _runner(self, command: str) -> Any:
        """A ``dbtRunner``, given the parsed manifest unless ``command`` is the parse itself."""
        from dbt.cli.main import dbtRunner

        _cheap_behavior_flag_source()
        if command == "parse" or self._parsed is None:
            return dbtRunner()
        return dbtRunner(manifest=self._parsed[0])

    def ensure_packages(self) -> None:
        """Install the project's dbt packages when it declares some and none are installed yet."""
        declared = any((self.project_dir / name).exists() for name in ("packages.yml", "dependencies.yml"))
        if declared and not (self.project_dir / "dbt_packages").exists():
            from dbt.cli.main import dbtRunner

            _cheap_behavior_flag_source()
            argv = ["deps", "--project-dir", str(self.project_dir)]
            if self.profiles_dir:
                argv += ["--profiles-dir", str(self.profiles_dir)]
            result = dbtRunner().invoke(argv)
            if not result.success:
                raise DbtError(f"dbt deps failed: {_failures(result)}")

    def project_vars(self) -> dict[str, Any]:
        """Vars as dbt resolves them for this package: the root project's ``vars:`` (global, then those scoped
        to ``vertex_batch``), then ``--vars``."""
        import yaml

        path = self.project_dir / "dbt_project.yml"
        declared = (yaml.safe_load(path.read_text()) or {}).get("vars") or {} if path.exists() else {}
        merged = {name: value for name, value in declared.items() if not isinstance(value, dict)}
        scoped = declared.get(META_KEY)
        if isinstance(scoped, dict):
            merged.update(scoped)
        if self.vars:
            merged.update(yaml.safe_load(self.vars) or {})
        return merged

    def parse(self) -> Manifest:
        """The project's manifest: parsed on the first call, the same one afterwards."""
        if self._parsed is None:
            self.ensure_packages()
            self.invoke("parse")
        assert self._parsed is not None
        return self._parsed[1]

    def select(self, selectors: Sequence[str], excludes: Sequence[str] = ()) -> set[str]:
        """Unique ids of the models that ``--select``/``--exclude`` pick."""
        argv = [
            "ls",
            "--resource-type",
            "model",
            "--output",
            "json",
            "--output-keys",
            "unique_id",
            "--project-dir",
            str(self.project_dir),
            "--target-path",
            str(self._target_path("ls")),
            "--quiet",
        ]
        if selectors:
            argv += ["--select", *selectors]
        if excludes:
            argv += ["--exclude", *excludes]
        argv += self._common()
        result = self._runner("ls").invoke(argv)
        if not result.success:
            raise DbtError(f"dbt ls failed: {_failures(result)}")
        return {json.loads(line)["unique_id"] for line in result.result or []}

    def build(self, selectors: Sequence[str], excludes: Sequence[str] = ()) -> None:
        """``dbt build`` of the selected nodes (models, their tests, seeds, snapshots)."""
        args = ["--select", *selectors]
        if excludes:
            args += ["--exclude", *excludes]
        self.invoke("build", *args)


def _cheap_behavior_flag_source() -> None:
    """Make dbt's adapter set-up cheap again. dbt-common (1.39.0, the newest) names the module that declared
    each behavior flag with ``inspect.stack()`` and ``inspect.getmodule`` for every frame, evaluated even when
    the flag names its source; ``getmodule`` scans ``sys.modules``, so the cost grows with every module
    loaded (aiplatform brings thousands): 0.07-0.28 s a flag, several flags each time dbt registers its
    adapter (every invocation). The replacement returns the same name, read from the frames' globals."""
    from dbt_common import behavior_flags

    rendered = behavior_flags.BehaviorFlagRendered
    if getattr(rendered, "_vertex_batch_cheap_source", False):
        return

    def default_source() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return name
            frame = frame.f_back
        return "Unknown"

    rendered._default_source = staticmethod(default_source)  # type: ignore[method-assign]
    rendered._vertex_batch_cheap_source = True  # type: ignore[attr-defined]


def _newest_partial_parse(root: Path) -> Path | None:
    """The most recently written partial-parse file of an earlier invocation under ``root``, if any."""
    candidates = list(root.glob(f"*/{PARTIAL_PARSE_FILE}")) if root.is_dir() else []
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def _failures(result: Any) -> str:
    """One line per failed node (name: message), or the exception dbt raised."""
    if result.exception is not None:
        return (
            str(result.exception).strip().splitlines()[0] if str(result.exception).strip() else repr(result.exception)
        )
    lines = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(getattr(node_result, "status", "")).lower()
        if status in {"error", "fail", "runtime error"}:
            node = getattr(node_result, "node", None)
            name = getattr(node, "name", "?")
            message = (getattr(node_result, "message", "") or "").strip().replace("\n", " ")
            lines.append(f"{name}: {message[:300]}")
    return "; ".join(lines) or "see the dbt output above"
