from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dit360_desktop.history import files
from dit360_desktop.history.library import DB_NAME, Library

HERE = Path(__file__).parent
KILLS = 120


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the kill loop forks writers (POSIX)")
def test_sigkill_at_random_points_never_corrupts_the_library(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    done = subprocess.run(
        [sys.executable, str(HERE / "kill_loop_writer.py"), str(folder), str(KILLS), "20240601"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert stats["kills"] == KILLS
    # The kills really landed mid-save: some left an image without its row, or a half-written temp file.
    assert stats["orphan_kills"] + stats["partial_kills"] > 0, stats

    conn = sqlite3.connect(folder / DB_NAME)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()

    with Library.open(folder) as lib:
        assert lib.integrity_check() == "ok"
        entries = lib.search()
        # Every tenth writer completed a save before its kill; every completed save kept its row.
        assert stats["saves"] >= KILLS // 10, stats
        assert len(entries) >= stats["saves"], stats
        # Every row's file exists and every image has its row (orphans adopted), with no temp files left.
        assert all(e.path.is_file() and not e.missing for e in entries)
        assert {e.path.relative_to(folder).as_posix() for e in entries} == set(files.list_images(folder))
        assert list(folder.rglob(f"{files.PARTIAL_PREFIX}*")) == []
        assert lib.open_report.unrecognised == []
        # Still writable after all that.
        assert lib.save(__import__("history_factory").make_result("after the storm")).path.is_file()
