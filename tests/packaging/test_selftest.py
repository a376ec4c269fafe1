"""``--selftest`` passes on a working install and fails loudly, naming the check, when a part is missing."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import bundle_config as cfg
import pytest

from dit360_desktop import selftest
from dit360_desktop.selftest import resource_scan

SELFTEST_ENV = ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # selftest.main sets these for its own run; recording them here restores them after each test.
    for name in SELFTEST_ENV:
        monkeypatch.setenv(name, "1" if name != "TRANSFORMERS_VERBOSITY" else "error")


# The feature checks (upscale, EXR, depth) have their own tests (test_feature_checks.py); skipped here.
FEATURE_SKIPS = ("--skip", "upscale", "--skip", "exr", "--skip", "depth")


def _run(tmp_path: Path, *args: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    code = selftest.main(["--selftest", "--selftest-report", str(report), *FEATURE_SKIPS, *args])
    return code, json.loads(report.read_text())


def _check(report: dict, name: str) -> dict:
    return next(check for check in report["checks"] if check["name"] == name)


def test_selftest_fails_naming_a_missing_shader(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "resources"
    shutil.copytree(cfg.RESOURCES_DIR, broken)
    shader = next(
        ref.path for ref in resource_scan.scan_package(cfg.PACKAGE_DIR) if ref.path.startswith("shaders/")
    )
    (broken / shader).unlink()

    code, report = _run(
        tmp_path, "--resources-dir", str(broken), "--skip", "imports", "--skip", "qt", "--skip", "generation"
    )

    assert code == selftest.EXIT_FAILED
    assert report["ok"] is False
    assert report["failed"] == ["resources"]
    assert f"missing resource {shader}" in _check(report, "resources")["detail"]
    assert "selftest FAILED: resources" in capsys.readouterr().err


def test_selftest_resources_pass_on_the_intact_tree(tmp_path: Path) -> None:
    code, report = _run(tmp_path, "--skip", "imports", "--skip", "qt", "--skip", "generation")
    assert code == selftest.EXIT_OK
    assert [check["name"] for check in report["checks"]] == ["resources", "user_dirs"]
    assert _check(report, "resources")["facts"]["problems"] == []


def test_selftest_fails_naming_a_missing_tokenizer_file(tmp_path: Path, tiny_flux_dir: Path) -> None:
    broken = tmp_path / "model"
    shutil.copytree(tiny_flux_dir, broken)
    (broken / "tokenizer_2" / "tokenizer.json").unlink()

    code, report = _run(
        tmp_path, "--model-dir", str(broken), "--skip", "imports", "--skip", "qt", "--skip", "resources"
    )

    assert code == selftest.EXIT_FAILED
    assert report["failed"] == ["generation"]
    detail = _check(report, "generation")["detail"]
    assert "tokenizer" in detail.lower(), detail


def test_selftest_generates_with_a_tiny_model(tmp_path: Path) -> None:
    code, report = _run(tmp_path, "--skip", "imports", "--skip", "qt", "--skip", "resources")
    generation = _check(report, "generation")
    assert code == selftest.EXIT_OK, generation
    assert generation["facts"]["device"] == "cpu"
    assert generation["facts"]["pixel_std"] > 1.0
    assert generation["facts"]["seed"] == 0
    assert "StepEvent" in generation["facts"]["events"]
    assert generation["facts"]["lora"] is True
    assert "with a LoRA" in generation["detail"]


def test_frozen_bundle_without_manifest_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    shutil.copytree(cfg.RESOURCES_DIR, tmp_path / "resources")
    code, report = _run(tmp_path, "--skip", "imports", "--skip", "qt", "--skip", "generation")
    assert code == selftest.EXIT_FAILED
    assert "has no resource manifest" in _check(report, "resources")["detail"]

    manifest = resource_scan.build_manifest(cfg.PACKAGE_DIR, cfg.RESOURCES_DIR)
    resource_scan.write_manifest(manifest, tmp_path / resource_scan.MANIFEST_NAME)
    code, report = _run(tmp_path, "--skip", "imports", "--skip", "qt", "--skip", "generation")
    assert code == selftest.EXIT_OK, report
    assert _check(report, "resources")["facts"]["resources_dir"] == str(tmp_path / "resources")


def test_user_folders_inside_the_install_folder_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "dit360"))
    monkeypatch.setenv("DIT360_HOME", str(tmp_path / "app" / "data"))
    skips = ("--skip", "imports", "--skip", "qt", "--skip", "generation", "--skip", "resources")
    code, report = _run(tmp_path, *skips)
    assert code == selftest.EXIT_FAILED
    assert "user folders inside the install folder" in _check(report, "user_dirs")["detail"]


def test_report_goes_to_a_temp_file_by_default(capsys: pytest.CaptureFixture) -> None:
    code = selftest.main(["--selftest", "--skip", "imports", "--skip", "qt", "--skip", "generation"])
    assert code == selftest.EXIT_OK
    out = capsys.readouterr().out
    path = Path(out.strip().splitlines()[-1].split("report: ")[1].rstrip(")"))
    try:
        assert json.loads(path.read_text())["ok"] is True
    finally:
        path.unlink()


def test_imports_check_names_a_broken_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dit360_desktop.selftest import checks

    monkeypatch.setattr(checks, "REQUIRED_MODULES", ("numpy", "dit360_no_such_module"))
    monkeypatch.setattr(checks, "_import_own_modules", lambda failures: [])
    code, report = _run(tmp_path, "--skip", "qt", "--skip", "generation", "--skip", "resources")
    assert code == selftest.EXIT_FAILED
    assert "dit360_no_such_module (ModuleNotFoundError" in _check(report, "imports")["detail"]
