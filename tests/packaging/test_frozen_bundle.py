"""The frozen Linux bundle passes its own --selftest (slow: builds the bundle unless one is in dist/).

Run with ``pytest -m slow tests/packaging/test_frozen_bundle.py``; CI runs the same steps, plus sizes and
start-up time, in .ci/build_bundle.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bundle_config as cfg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="the Linux bundle")]

BUNDLE = cfg.REPO_ROOT / "dist" / cfg.GUI_EXE


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not (BUNDLE / cfg.CLI_EXE).is_file():
        subprocess.run(
            [
                sys.executable,
                str(cfg.REPO_ROOT / "packaging" / "build.py"),
                "--torch",
                "cpu",
                "--skip-installer",
            ],
            check=True,
            timeout=3600,
        )
    return BUNDLE


def _selftest(executable: Path, tmp_path: Path, *args: str, env: dict | None = None) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [str(executable), "--selftest", "--selftest-report", str(report), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return completed.returncode, json.loads(report.read_text())


def test_frozen_cli_selftest_passes_headless(bundle: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"DISPLAY", "QT_QPA_PLATFORM"}}
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [str(bundle / cfg.CLI_EXE), "--selftest", "--selftest-report", str(report_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = json.loads(report_path.read_text())
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert report["frozen"] is True and report["mode"] == "cli"
    assert [check["name"] for check in report["checks"]] == [
        "imports",
        "resources",
        "user_dirs",
        "qt",
        "generation",
    ]


@pytest.mark.gl
def test_frozen_gui_selftest_finds_gl_on_xvfb(bundle: Path, tmp_path: Path) -> None:
    # pytest-xvfb has set DISPLAY: the GUI self-test must get a real OpenGL context there.
    code, report = _selftest(bundle / cfg.GUI_EXE, tmp_path, "--require-gl", env={"QT_QPA_PLATFORM": "xcb"})
    qt = next(check for check in report["checks"] if check["name"] == "qt")
    assert code == 0, report
    assert qt["facts"]["gl"]["ok"] is True


def test_frozen_selftest_fails_on_a_missing_shader(bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "resources"
    shutil.copytree(bundle / "_internal" / "resources", broken)
    (broken / "shaders" / "view.frag").unlink()
    code, report = _selftest(
        bundle / cfg.CLI_EXE, tmp_path, "--resources-dir", str(broken), "--skip", "generation", "--skip", "qt"
    )
    assert code == 4
    assert report["failed"] == ["resources"]
