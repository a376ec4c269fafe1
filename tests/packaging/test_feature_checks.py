"""The self-test's feature checks: Upscale (spandrel + torchvision) and EXR (OpenEXR) run for real.

The upscale test needs spandrel; .ci/run runs this file again in its second venv, which has it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dit360_desktop.panorama import hdr
from dit360_desktop.selftest import features
from dit360_desktop.selftest.checks import CheckContext, run_check


def test_exr_check_writes_and_reads_back() -> None:
    result = run_check("exr", features.check_exr, CheckContext())
    assert result.ok, result.detail
    assert "read back by OpenEXR" in result.detail
    assert result.facts["shape"] == [8, 16, 3] and result.facts["max_error"] < 2e-3


def test_exr_check_fails_when_the_file_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    original = hdr.save_exr
    monkeypatch.setattr(hdr, "save_exr", lambda linear, path: original(np.asarray(linear) * 0.5, path))
    result = run_check("exr", features.check_exr, CheckContext())
    assert not result.ok and "differs" in result.detail


def test_upscale_check_runs_spandrel_on_a_tiny_model() -> None:
    pytest.importorskip("spandrel", reason="the upscale extra (spandrel) is not installed in this venv")
    result = run_check("upscale", features.check_upscale, CheckContext())
    assert result.ok, result.detail
    assert result.facts["shape"] == [128, 256, 3] and result.facts["scale"] == 4
    assert "via spandrel" in result.detail


def test_upscale_check_says_when_spandrel_is_not_installed() -> None:
    if importlib.util.find_spec("spandrel") is not None:
        pytest.skip("spandrel is installed here")
    result = run_check("upscale", features.check_upscale, CheckContext())
    assert result.ok and result.detail == "not installed here (spandrel, torchvision missing)"


def test_the_bundle_keeps_the_depth_model_families() -> None:
    import bundle_config as cfg

    families = cfg.families_to_keep()
    assert {"transformers.models.depth_anything", "transformers.models.dinov2"} <= families
    assert "transformers.models.dpt" in families
    assert "transformers.models.depth_anything" not in cfg.unused_model_packages(families)


def test_a_bundle_built_with_a_feature_fails_without_its_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / features.BUILD_INFO).write_text(json.dumps({"features": ["upscale", "exr"]}))
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torchvision" else real_find_spec(name, *a),
    )
    result = run_check("upscale", features.check_upscale, CheckContext())
    assert not result.ok
    # spandrel may be missing too (this venv); torchvision is always named.
    assert re.fullmatch(
        r"the bundle was built with upscale but (spandrel, )?torchvision cannot be found", result.detail
    )
    (tmp_path / features.BUILD_INFO).write_text(json.dumps({"features": ["exr"]}))
    result = run_check("upscale", features.check_upscale, CheckContext())
    assert result.ok and result.detail.startswith("not in this bundle")


def test_the_selftest_report_lists_the_feature_checks(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    skip = [
        arg for name in ("imports", "resources", "user_dirs", "qt", "generation") for arg in ("--skip", name)
    ]
    completed = subprocess.run(
        [sys.executable, "-m", "dit360_desktop.selftest", *skip, "--selftest-report", str(report)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert set(checks) == {"upscale", "exr", "depth"}
    assert checks["depth"]["ok"] and checks["depth"]["facts"]["glb_header"] == "glTF"
    assert checks["exr"]["ok"] and "read back" in checks["exr"]["detail"]


def test_the_bundle_says_in_words_how_to_get_ray() -> None:
    from dit360_desktop.cluster.errors import extra_hint

    frozen = extra_hint(frozen=True)
    assert "does not include Ray" in frozen and 'pip install "dit360-desktop[cluster]"' in frozen
    assert extra_hint(frozen=False).startswith("Install the cluster extra")
