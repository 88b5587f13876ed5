"""The "Text embeddings" example of docs/families.md, copied verbatim into a fresh dbt project (profile
``location: US``) and run on the local stack with the fast test backend: every row gets a vector of the requested size,
identical texts identical vectors and different texts different ones, and a rerun submits nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import Env, subprocess_env, use_env
from tests.e2e.readme_project import _BLOCK, _FILE, PACKAGE_PLACEHOLDER, REPO, readme_files, write_project

SECTION = "## Text embeddings"
REVIEWS = [
    (1, "Great boots, very comfortable."),
    (2, "Terrible mat, it tore in a week."),
    (3, "Great boots, very comfortable."),
    (4, "Love it, works perfectly."),
]
CLI = Path(sys.executable).with_name("vertex-batch")


def section() -> str:
    text = (REPO / "docs" / "families.md").read_text()
    start = text.index(SECTION)
    return text[start : text.find("\n## ", start + len(SECTION))]


def section_files() -> dict[str, str]:
    files = {}
    for match in _BLOCK.finditer(section()):
        named = _FILE.match(match["body"].splitlines()[0]) if match["body"].strip() else None
        if named:
            files[named["path"]] = match["body"]
    return files


def section_commands() -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for match in _BLOCK.finditer(section())
        if match["lang"] == "bash"
        for line in match["body"].splitlines()
        if line.strip()
    ]


def run(project: Path, env: Env, command: str) -> subprocess.CompletedProcess[str]:
    argv = command.split()
    assert argv[0] == "vertex-batch"
    return subprocess.run(
        [str(CLI), *argv[1:]], cwd=project, env=subprocess_env(env), capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The README's package declaration and seed, with only the embeddings section's models."""
    destination = write_project(tmp_path_factory.mktemp("readme_embeddings"), REVIEWS)
    for path in readme_files():
        if path.startswith("models/"):
            (destination / path).unlink()
    for relative, content in section_files().items():
        (destination / relative).write_text(content.replace(PACKAGE_PLACEHOLDER, str(REPO)))
    return destination


def test_section_shows_three_models_and_a_command() -> None:
    assert set(section_files()) == {
        "models/review_embedding_requests.sql",
        "models/review_embedding_predictions.sql",
        "models/review_embeddings.sql",
    }
    assert section_commands() == ["vertex-batch build"]


def test_readme_embeddings_example_runs(project, fake_stack, monkeypatch) -> None:
    env = use_env(monkeypatch, fake_stack, "readme_embeddings")
    (command,) = section_commands()
    done = run(project, env, command)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    size = int(re.search(r"'output_dimensionality': (\d+)", section_files()["models/review_embedding_requests.sql"])[1])
    rows = {
        row["review_id"]: dict(row) for row in env.warehouse.run(f"SELECT * FROM `{env.table('review_embeddings')}`")
    }
    assert sorted(rows) == [review_id for review_id, _ in REVIEWS]
    assert all(row["is_success"] and len(row["embedding"]) == size for row in rows.values())
    assert rows[1]["embedding"] == rows[3]["embedding"]
    assert len({tuple(row["embedding"]) for row in rows.values()}) == 3

    again = run(project, env, f"{command} --json")
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout[again.stdout.index("{\n") :])
    assert report["jobs"] == [] and report["models"][0]["submitted_rows"] == 0
