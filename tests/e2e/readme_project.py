"""A fresh dbt project made of the README's "Using it in your dbt project" example, copied verbatim.

Each fenced block of that section whose first line names a file (``# packages.yml``, ``-- models/x.sql``)
becomes that file; only the package path placeholder is replaced by this repository. The test supplies
what the README leaves to the user: ``dbt_project.yml``, a ``reviews`` seed and a profile (``location: US``).
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Using it in your dbt project"
PACKAGE_PLACEHOLDER = "path/to/vertex-batch"
_BLOCK = re.compile(r"```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)
_FILE = re.compile(r"^(?:#|--)\s*(?P<path>[\w./-]+\.(?:yml|sql))\b")

DBT_PROJECT = """name: readme_example
version: "1.0.0"
config-version: 2
profile: vertex_batch
model-paths: ["models"]
seed-paths: ["seeds"]
"""


def readme_section(readme: Path = REPO / "README.md") -> str:
    text = readme.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def readme_files() -> dict[str, str]:
    """``{relative path: content}`` of every file the section shows."""
    files = {}
    for match in _BLOCK.finditer(readme_section()):
        body = match["body"]
        named = _FILE.match(body.splitlines()[0]) if body.strip() else None
        if named:
            files[named["path"]] = body
    return files


def readme_commands() -> list[str]:
    """The ``vertex-batch ...`` commands of the section's shell block, without their comments."""
    commands = []
    for match in _BLOCK.finditer(readme_section()):
        if match["lang"] == "bash":
            commands += [line.split("#", 1)[0].strip() for line in match["body"].splitlines() if line.strip()]
    return commands


def write_project(destination: Path, reviews: list[tuple[int, str]]) -> Path:
    """The README example as a dbt project in ``destination``, with ``reviews`` as its seed and a US profile."""
    destination.mkdir(parents=True, exist_ok=True)
    for relative, content in readme_files().items():
        path = destination / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.replace(PACKAGE_PLACEHOLDER, str(REPO)))
    (destination / "dbt_project.yml").write_text(DBT_PROJECT)
    write_reviews(destination, reviews)
    shutil.copy2(REPO / "profiles" / "profiles.yml", destination / "profiles.yml")
    return destination


def write_reviews(destination: Path, reviews: list[tuple[int, str]]) -> None:
    seeds = destination / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    with (seeds / "reviews.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "review_text"])
        writer.writerows(reviews)
