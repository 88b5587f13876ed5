"""Target folders of dbt invocations: unique per invocation, seeded with the newest partial-parse file so that
a new command re-reads only the files that changed (dbt itself decides whether the file is still valid)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vertex_batch.dbt_graph import PARTIAL_PARSE_FILE, DbtProject

pytestmark = pytest.mark.unit


def _write_partial_parse(folder: Path, content: bytes, age_s: float = 0.0) -> None:
    folder.mkdir(parents=True)
    path = folder / PARTIAL_PARSE_FILE
    path.write_bytes(content)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def test_a_new_command_starts_from_the_newest_partial_parse(tmp_path: Path) -> None:
    _write_partial_parse(tmp_path / "1-01-parse", b"old", age_s=60)
    _write_partial_parse(tmp_path / "2-01-parse", b"new")
    project = DbtProject(project_dir=tmp_path, target_root=tmp_path)
    target = project._target_path("parse")
    assert (target / PARTIAL_PARSE_FILE).read_bytes() == b"new"


def test_invocations_of_one_process_never_share_a_folder(tmp_path: Path) -> None:
    """Two commands run in one process (as the CLI's tests do) each get their own folders; the second starts
    from the first one's file instead of copying a file onto itself."""
    first = DbtProject(project_dir=tmp_path, target_root=tmp_path)
    one = first._target_path("parse")
    one.mkdir(parents=True, exist_ok=True)
    (one / PARTIAL_PARSE_FILE).write_bytes(b"parsed")
    two = first._target_path("build")
    three = DbtProject(project_dir=tmp_path, target_root=tmp_path)._target_path("parse")
    assert len({one, two, three}) == 3
    assert (two / PARTIAL_PARSE_FILE).read_bytes() == b"parsed"
    assert (three / PARTIAL_PARSE_FILE).read_bytes() == b"parsed"


def test_no_partial_parse_yet_means_a_plain_folder(tmp_path: Path) -> None:
    target = DbtProject(project_dir=tmp_path, target_root=tmp_path / "absent")._target_path("parse")
    assert not (target / PARTIAL_PARSE_FILE).exists()


def test_behavior_flags_still_name_the_module_that_declared_them() -> None:
    """The cheap replacement of dbt-common's stack inspection gives the same answer: the calling module."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    from vertex_batch.dbt_patches import cheap_behavior_flag_source

    cheap_behavior_flag_source()
    flag = BehaviorFlagRendered({"name": "some_flag", "default": False, "description": "d"}, {})
    assert flag._behavior_change_event.flag_source == __name__
    named = BehaviorFlagRendered({"name": "other", "default": True, "description": "d", "source": "dbt-x"}, {})
    assert named._behavior_change_event.flag_source == "dbt-x"
