"""The dbt side of a run: invoke dbt programmatically (``dbtRunner``), one target folder per invocation."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertex_batch.dbt_patches import cheap_behavior_flag_source
from vertex_batch.errors import DbtError
from vertex_batch.manifest import Manifest
from vertex_batch.request_models import META_KEY

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
#: Target folders kept for debugging (the newest ones); the folder of the newest partial-parse file is kept too.
KEEP_TARGETS = 4
_INVOCATIONS = itertools.count(1)  # numbers the target folders of this process, across DbtProject instances


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
        prune_targets(root)
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
            _interrupted(result)
            raise DbtError(f"dbt {command} failed: {_failures(result)}")
        if command == "parse":
            self._parsed = (result.result, Manifest.load(target_path / "manifest.json"))
        return target_path

    def _runner(self, command: str) -> Any:
        """A ``dbtRunner``, given the parsed manifest unless ``command`` is the parse itself."""
        from dbt.cli.main import dbtRunner

        cheap_behavior_flag_source()
        if command == "parse" or self._parsed is None:
            return dbtRunner()
        return dbtRunner(manifest=self._parsed[0])

    def ensure_packages(self) -> None:
        """Install the project's dbt packages when it declares some and none are installed yet."""
        declared = any((self.project_dir / name).exists() for name in ("packages.yml", "dependencies.yml"))
        if declared and not (self.project_dir / "dbt_packages").exists():
            from dbt.cli.main import dbtRunner

            cheap_behavior_flag_source()
            argv = ["deps", "--project-dir", str(self.project_dir)]
            if self.profiles_dir:
                argv += ["--profiles-dir", str(self.profiles_dir)]
            result = dbtRunner().invoke(argv)
            if not result.success:
                _interrupted(result)
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
            _interrupted(result)
            raise DbtError(f"dbt ls failed: {_failures(result)}")
        return {json.loads(line)["unique_id"] for line in result.result or []}

    def build(self, selectors: Sequence[str], excludes: Sequence[str] = ()) -> None:
        """``dbt build`` of the selected nodes (models, their tests, seeds, snapshots)."""
        args = ["--select", *selectors]
        if excludes:
            args += ["--exclude", *excludes]
        self.invoke("build", *args)


def prune_targets(root: Path, keep: int = KEEP_TARGETS) -> list[Path]:
    """Remove the target folders of finished invocations beyond the newest ``keep``, so the footprint stays
    bounded however many commands run; a folder of another live process (named ``<pid>-…``) and the folder of
    the newest partial-parse file (the next command starts from it) are never removed. Returns those removed."""
    if not root.is_dir():
        return []
    folders = sorted((path for path in root.iterdir() if path.is_dir()), key=_mtime, reverse=True)
    newest = _newest_partial_parse(root)
    removed = []
    for folder in folders[keep:]:
        if (newest is not None and folder == newest.parent) or _other_process_alive(folder.name):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed by another process meanwhile
        return 0.0


def _other_process_alive(folder_name: str) -> bool:
    """Whether the folder belongs to another process that still runs (its invocation may be in progress)."""
    head = folder_name.split("-", 1)[0]
    if not head.isdigit() or int(head) == os.getpid():
        return False
    try:
        os.kill(int(head), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _newest_partial_parse(root: Path) -> Path | None:
    """The most recently written partial-parse file of an earlier invocation under ``root``, if any."""
    candidates = list(root.glob(f"*/{PARTIAL_PARSE_FILE}")) if root.is_dir() else []
    return max(candidates, key=_mtime, default=None)


def _interrupted(result: Any) -> None:
    """Ctrl-C inside dbt: ``dbtRunner`` returns it as the result's exception; raise it again (exit 130)."""
    if isinstance(result.exception, KeyboardInterrupt):
        raise KeyboardInterrupt


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
