"""Release pieces checkable here: the AppDir and AppImage packing, the hashed locks, the workflows' shape.

The AppImage runtime (AppImage/type2-runtime) is in no package registry, so the real single-file app is
made and self-tested only in the release workflow; here the AppDir it is made from is built from a
stand-in bundle, its AppRun dispatch and menu entry are checked, and make_appimage.sh is run with a
stand-in runtime to check the layout it writes (runtime bytes, then a SquashFS of the AppDir).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

import build
import bundle_config as cfg
import lock
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"


@pytest.fixture
def appdir(tmp_path: Path) -> Path:
    bundle = tmp_path / "dist" / "dit360-desktop"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "data.bin").write_bytes(b"x" * 1000)
    for name in ("dit360-desktop", "dit360"):
        (bundle / name).write_text(f'#!/bin/sh\necho "{name} $*"\n')
        (bundle / name).chmod(0o755)
    icons = {}
    for size in (16, 256, 512):
        icons[f"png{size}"] = tmp_path / f"dit360-{size}.png"
        icons[f"png{size}"].write_bytes(f"png {size}".encode())
    return build.make_appdir(bundle, icons, tmp_path / "dist")


def test_appdir_has_apprun_menu_entry_and_icons(appdir: Path) -> None:
    assert os.access(appdir / "AppRun", os.X_OK)
    desktop = (appdir / "dit360-desktop.desktop").read_text()
    assert "Exec=dit360-desktop\n" in desktop and "Icon=dit360-desktop\n" in desktop
    assert "TryExec" not in desktop and "@EXEC@" not in desktop
    assert (appdir / "dit360-desktop.png").read_bytes() == b"png 256"
    assert (appdir / ".DirIcon").readlink().as_posix() == "dit360-desktop.png"
    icon = appdir / "usr/share/icons/hicolor/512x512/apps/dit360-desktop.png"
    assert icon.read_bytes() == b"png 512"
    # Hard links, not a second copy of the bundle.
    lib = appdir / "usr/lib/dit360-desktop/_internal/data.bin"
    assert lib.stat().st_nlink == 2
    if shutil.which("desktop-file-validate"):
        completed = subprocess.run(
            ["desktop-file-validate", str(appdir / "dit360-desktop.desktop")], capture_output=True, text=True
        )
        assert completed.returncode == 0 and not completed.stdout.strip(), completed.stdout


def test_apprun_starts_the_gui_or_the_command_line(appdir: Path, tmp_path: Path) -> None:
    def run(*args: str, argv0: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "ARGV0"}
        if argv0:
            env["ARGV0"] = argv0
        return subprocess.run([str(appdir / "AppRun"), *args], capture_output=True, text=True, env=env,
                              check=True).stdout.strip()  # fmt: skip

    assert run("--selftest", "--require-gl") == "dit360-desktop --selftest --require-gl"
    assert run("--cli", "models", "list") == "dit360 models list"
    assert run("--selftest", argv0="/home/me/bin/dit360") == "dit360 --selftest"
    # Started through a symlink (as a desktop integration tool may do), AppRun still finds its folder.
    link = tmp_path / "AppRun-link"
    link.symlink_to(appdir / "AppRun")
    assert subprocess.run([str(link), "x"], capture_output=True, text=True, check=True).stdout.strip() == (
        "dit360-desktop x"
    )


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="squashfs-tools is not installed")
def test_make_appimage_appends_a_squashfs_of_the_appdir_to_the_runtime(appdir: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime-stand-in"
    runtime.write_bytes(b"\x7fELF stand-in runtime " * 10)
    output = tmp_path / "DiT360.AppImage"
    script = REPO_ROOT / "packaging/linux/appimage/make_appimage.sh"
    subprocess.run(
        ["bash", str(script), str(appdir), str(output), str(runtime)], check=True, capture_output=True
    )
    data = output.read_bytes()
    offset = runtime.stat().st_size
    assert data[:offset] == runtime.read_bytes() and data[offset : offset + 4] == b"hsqs"
    assert os.access(output, os.X_OK)
    image = tmp_path / "image.squashfs"
    image.write_bytes(data[offset:])
    extracted = tmp_path / "extracted"
    subprocess.run(["unsquashfs", "-q", "-d", str(extracted), str(image)], check=True, capture_output=True)
    out = subprocess.run([str(extracted / "AppRun"), "--cli", "--selftest"], capture_output=True, text=True)
    assert out.stdout.strip() == "dit360 --selftest"
    assert (extracted / "usr/lib/dit360-desktop/_internal/data.bin").read_bytes() == b"x" * 1000


def test_make_appimage_refuses_a_folder_that_is_not_an_appdir(tmp_path: Path) -> None:
    script = REPO_ROOT / "packaging/linux/appimage/make_appimage.sh"
    completed = subprocess.run(
        ["bash", str(script), str(tmp_path), str(tmp_path / "o.AppImage"), "/bin/true"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "AppRun is missing" in completed.stderr


# --- locks ----------------------------------------------------------------------------------------------
def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^\s\\]+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize(
    "target", [t for t in lock.TARGETS if lock.lock_path(t).is_file()], ids=lambda t: t.name
)
def test_each_committed_lock_pins_every_package_with_hashes(target: lock.Target) -> None:
    text = lock.lock_path(target).read_text()
    pins = _pins(text)
    requirements = re.split(r"\n(?=[a-z0-9])", text.split("\n", 1)[1] if text.startswith("--") else text)
    for block in requirements:
        if re.match(r"[a-z0-9]", block):
            assert "==" in block and "--hash=sha256:" in block, block[:80]
    wanted = _pins(lock.PINS.read_text())
    assert {name: pins.get(name) for name in wanted} == wanted
    # Every feature the app shows is in the bundle; the cluster driver is not (docs/packaging.md, "Ray").
    assert {"spandrel", "torchvision", "openexr", "pyinstaller", "gguf"} <= pins.keys()
    assert "ray" not in pins and "pyside6-essentials" in pins and pins["pyside6-essentials"] != "6.12.0"


def test_locks_exist_for_every_target_the_lock_tool_can_resolve_from_pypi() -> None:
    from_pypi = [t for t in lock.TARGETS if t.torch_index is None]
    assert {t.name for t in from_pypi} == {"windows-x86_64-cpu", "macos-arm64"}
    assert all(lock.lock_path(t).is_file() for t in from_pypi)
    command = lock.compile_command("uv", lock.TARGETS[0])
    assert "--generate-hashes" in command and lock.TORCH_CPU_INDEX in command


# --- features in the bundle -------------------------------------------------------------------------------
def test_feature_libraries_are_bundled_not_excluded() -> None:
    assert not {"spandrel", "torchvision", "OpenEXR"} & set(cfg.PYTHON_EXCLUDES)
    assert cfg.feature_excludes([]) == ["OpenEXR", "spandrel", "torchvision"]
    assert cfg.feature_excludes(["upscale", "exr"]) == []
    assert "exr" in cfg.available_features()


def test_release_builds_refuse_to_leave_a_feature_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cfg, "missing_feature_modules", lambda: {"upscale": ["spandrel", "torchvision"]})
    args = argparse.Namespace(
        target=None, torch="cpu", dist=tmp_path / "dist", work=tmp_path / "work", clean=False,
        skip_installer=True, selftest=False, require_features=True, appdir=False,
    )  # fmt: skip
    with pytest.raises(build.BuildError, match=r"lacks upscale: spandrel, torchvision"):
        build.build(args)
    assert not (tmp_path / "dist").exists()


# --- workflows --------------------------------------------------------------------------------------------
def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_release_workflow_builds_each_system_from_its_lock() -> None:
    release = _workflow("release.yml")
    assert release["on"]["push"]["tags"] == ["v*"] and "workflow_dispatch" in release["on"]
    matrix = release["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert {m["lock"] for m in matrix} == {t.name for t in lock.TARGETS}
    assert {m["os"].split("-")[0] for m in matrix} == {"ubuntu", "windows", "macos"}
    steps = "\n".join(step.get("run", "") for step in release["jobs"]["build"]["steps"])
    assert "--require-hashes -r" in steps and "--require-features" in steps
    assert "--selftest" in steps and "make_appimage.sh" in steps and "sha256sum" in steps
    # Signing needs secrets; without them each signing step says so and goes on.
    for step in release["jobs"]["build"]["steps"]:
        if "secrets." in str(step.get("env", {})):
            assert "::notice::" in step["run"] and "exit 0" in step["run"]
    assert "--draft" in release["jobs"]["draft-release"]["steps"][-1]["run"]


def test_pull_request_tests_run_on_three_systems() -> None:
    tests = _workflow("tests.yml")
    assert "pull_request" in tests["on"]
    assert {os_.split("-")[0] for os_ in tests["jobs"]["tests"]["strategy"]["matrix"]["os"]} == {
        "ubuntu",
        "windows",
        "macos",
    }
    run = tests["jobs"]["tests"]["steps"][-1]["run"]
    assert 'pip install -q -e ".[test]"' in run and "-m pytest" in run


def test_libraries_that_read_their_own_data_files_are_collected_with_them() -> None:
    """The frozen self-test failed with transformers 5's `kernels` import until its JSON was bundled."""
    import importlib.util

    from PyInstaller.utils.hooks import collect_data_files

    spec = (REPO_ROOT / "packaging" / "dit360.spec").read_text()
    assert "for package in cfg.data_packages():\n    datas += collect_data_files(package)" in spec
    if importlib.util.find_spec("kernels") is None:
        pytest.skip("kernels is not installed here")
    assert "kernels" in cfg.data_packages()
    assert ("kernels/_internals") in {dest for _src, dest in collect_data_files("kernels")}
