"""Helpers for end-to-end runs: a local stack on free ports and a private copy of a dbt project."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from vertex_batch.local.stack import LocalDataset, LocalStack, StackConfig

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("dbt_project.yml", "macros", "models", "seeds", "profiles")


# A running stack plus the dataset a test writes to.
Env = LocalDataset


@contextmanager
def running_stack(
    state_dir: Path, backend: str = "fake-fast-test", *service_args: str, env: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """A stack on free ports; ``env``: ``VERTEX_LOCAL_*`` settings of its servers."""
    config = StackConfig.with_free_ports(state_dir, backend=backend, service_args=tuple(service_args), env=env or {})
    stack = LocalStack(config)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def copy_project(destination: Path) -> Path:
    """A private copy of the repo's dbt project (demo models included), so tests never share target/."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("target", "logs"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def use_env(monkeypatch: pytest.MonkeyPatch, stack: LocalStack, dataset: str) -> Env:
    env = Env(stack=stack, dataset=dataset)
    for key, value in env.variables.items():
        monkeypatch.setenv(key, value)
    return env


def subprocess_env(env: Env) -> dict[str, str]:
    return {**os.environ, **env.variables}


def chaos_module() -> ModuleType:
    """``benchmarks/chaos.py`` as a module (its project generator and chaos run are reused by the tests)."""
    if "chaos" not in sys.modules:
        spec = importlib.util.spec_from_file_location("chaos", REPO / "benchmarks" / "chaos.py")
        assert spec and spec.loader
        sys.modules["chaos"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["chaos"]
