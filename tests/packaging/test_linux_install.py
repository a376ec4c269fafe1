"""install.sh / uninstall.sh from the Linux .tar.gz: menu entry, icons and commands; user data untouched."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

LINUX = Path(__file__).resolve().parents[2] / "packaging" / "linux"
ICON_SIZES = (16, 48, 256)


def _unpacked_archive(root: Path) -> Path:
    """The layout build.py writes into the .tar.gz, with shell scripts standing in for the frozen binaries."""
    shutil.copy(LINUX / "install.sh", root / "install.sh")
    shutil.copy(LINUX / "uninstall.sh", root / "uninstall.sh")
    shutil.copy(LINUX / "dit360-desktop.desktop.in", root / "dit360-desktop.desktop.in")
    bundle = root / "dit360-desktop"
    (bundle / "_internal").mkdir(parents=True)
    for name in ("dit360-desktop", "dit360"):
        executable = bundle / name
        executable.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        executable.chmod(0o755)
    (root / "icons").mkdir()
    for size in ICON_SIZES:
        (root / "icons" / f"dit360-{size}.png").write_bytes(f"png {size}".encode())
    return root


def _sh(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "DiT360-Desktop-0.1.0-linux-x86_64-cpu"
    root.mkdir()
    return _unpacked_archive(root)


def test_install_adds_menu_entry_icons_and_commands(archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _sh(archive / "install.sh", home)
    assert result.returncode == 0, result.stderr
    app_dir = home / ".local" / "opt" / "dit360-desktop"

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(home / ".local/share/applications/dit360-desktop.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"] == f'"{app_dir}/dit360-desktop"'
    assert desktop["TryExec"] == f"{app_dir}/dit360-desktop"
    assert desktop["Icon"] == "dit360-desktop"
    assert desktop["Categories"].endswith(";")

    for size in ICON_SIZES:
        icon = home / f".local/share/icons/hicolor/{size}x{size}/apps/dit360-desktop.png"
        assert icon.read_bytes() == f"png {size}".encode()
    run = subprocess.run(
        [str(home / ".local/bin/dit360"), "--selftest"], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "dit360 --selftest"
    assert (app_dir / "uninstall.sh").is_file()


def test_reinstall_replaces_the_app_and_keeps_user_data(archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _sh(archive / "install.sh", home).returncode == 0
    user_model = home / ".local/share/dit360-desktop/models/FLUX.1-dev/model_index.json"
    user_model.parent.mkdir(parents=True)
    user_model.write_text("{}")
    stale = home / ".local/opt/dit360-desktop/_internal/old.so"
    stale.write_text("from the previous version")

    assert _sh(archive / "install.sh", home).returncode == 0
    assert not stale.exists()
    assert user_model.read_text() == "{}"


def test_install_refuses_to_overwrite_a_folder_it_did_not_make(archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    foreign = home / ".local/opt/dit360-desktop"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    result = _sh(archive / "install.sh", home)
    assert result.returncode == 1
    assert "was not made by this installer" in result.stderr
    assert (foreign / "notes.txt").read_text() == "mine"


def test_install_with_prefix_and_refused_characters(archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    prefix = tmp_path / "apps"
    assert _sh(archive / "install.sh", home, "--prefix", str(prefix)).returncode == 0
    assert (prefix / "opt/dit360-desktop/dit360-desktop").is_file()
    assert (prefix / "share/applications/dit360-desktop.desktop").is_file()
    bad = _sh(archive / "install.sh", home, "--prefix", str(tmp_path / "100%"))
    assert bad.returncode == 2
    assert "must not contain" in bad.stderr


def test_uninstall_removes_everything_it_installed_and_nothing_else(archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _sh(archive / "install.sh", home).returncode == 0
    settings = home / ".config/dit360-desktop/settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("{}")
    other_icon = home / ".local/share/icons/hicolor/48x48/apps/other-app.png"
    other_icon.write_text("other")

    result = _sh(home / ".local/opt/dit360-desktop/uninstall.sh", home)
    assert result.returncode == 0, result.stderr
    assert not (home / ".local/opt/dit360-desktop").exists()
    assert not (home / ".local/bin/dit360").exists() and not (home / ".local/bin/dit360-desktop").exists()
    assert not (home / ".local/share/applications/dit360-desktop.desktop").exists()
    assert not list((home / ".local/share/icons").rglob("dit360-desktop.png"))
    assert settings.read_text() == "{}"
    assert other_icon.read_text() == "other"
    assert "were kept" in result.stdout

    again = _sh(archive / "uninstall.sh", home)
    assert again.returncode == 1
    assert "no DiT360 Desktop installation" in again.stderr


@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh"])
def test_scripts_are_posix_sh(script: str) -> None:
    subprocess.run(["sh", "-n", str(LINUX / script)], check=True)


def test_desktop_file_validates_when_the_validator_is_installed(archive: Path, tmp_path: Path) -> None:
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate (apt: desktop-file-utils) is not installed")
    home = tmp_path / "home"
    assert _sh(archive / "install.sh", home).returncode == 0
    result = subprocess.run(
        [validator, str(home / ".local/share/applications/dit360-desktop.desktop")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
