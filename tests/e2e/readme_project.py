"""A fresh dbt project made of a README example ("Using it in your dbt project", "Every model family"), copied
verbatim.

Each line of a section's fenced blocks that names a file (``# packages.yml``, ``-- models/x.sql``) starts that
file, up to the next such line or the block's end; only the package path placeholder is replaced by this
repository. The test supplies what the README leaves to the user: ``dbt_project.yml``, a ``reviews`` seed and a
profile (``location: US``).
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


def readme_section(readme: Path = REPO / "README.md", section: str = SECTION) -> str:
    text = readme.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return text[start : end if end != -1 else len(text)]


def readme_files(section: str = SECTION) -> dict[str, str]:
    """``{relative path: content}`` of every file the section shows."""
    files: dict[str, str] = {}
    for match in _BLOCK.finditer(readme_section(section=section)):
        current = None
        for line in match["body"].splitlines(keepends=True):
            named = _FILE.match(line)
            if named:
                current = named["path"]
                files[current] = ""
            if current is not None:
                files[current] += line
    return files


def readme_commands(section: str = SECTION) -> list[str]:
    """The ``vertex-batch ...`` commands of the section's shell block, without their comments."""
    commands = []
    for match in _BLOCK.finditer(readme_section(section=section)):
        if match["lang"] == "bash":
            commands += [line.split("#", 1)[0].strip() for line in match["body"].splitlines() if line.strip()]
    return commands


def write_project(destination: Path, reviews: list[tuple[int, str]], section: str = SECTION) -> Path:
    """The README example of ``section`` (with the packages.yml of "Using it in your dbt project") as a dbt project
    in ``destination``, with ``reviews`` as its seed and a US profile."""
    destination.mkdir(parents=True, exist_ok=True)
    files = {**{"packages.yml": readme_files()["packages.yml"]}, **readme_files(section)}
    for relative, content in files.items():
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
