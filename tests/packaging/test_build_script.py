"""build.py's checks, the Linux archive layout, and the Windows/macOS scripts that cannot run here."""

from __future__ import annotations

import argparse
import re
import subprocess
import tarfile
from pathlib import Path

import build
import bundle_config as cfg
import entry
import pytest
import torch

from dit360_desktop import __version__

PACKAGING = cfg.REPO_ROOT / "packaging"


def test_cpu_torch_passes_the_cpu_flavour_check() -> None:
    assert torch.version.cuda is None, "these tests expect the CPU wheel of the shared venv"
    assert build.check_torch_flavour("linux", "cpu") == torch.__version__


@pytest.mark.parametrize(
    ("target", "flavour", "message"),
    [
        ("linux", "cuda", "has no CUDA support"),
        ("windows", "cuda", "has no CUDA support"),
        ("linux", "mps", "MPS is Apple's GPU backend"),
        ("macos", "cuda", "CUDA builds exist for Linux and Windows only"),
    ],
)
def test_wrong_torch_flavour_is_refused_with_install_advice(target: str, flavour: str, message: str) -> None:
    with pytest.raises(build.BuildError, match=message) as caught:
        build.check_torch_flavour(target, flavour)
    assert build.TORCH_INSTALL_HINT[flavour] in str(caught.value)


def test_cross_compiling_is_refused(tmp_path: Path) -> None:
    other = "windows" if build.host_target() != "windows" else "linux"
    args = argparse.Namespace(
        target=other,
        torch="cpu",
        dist=tmp_path / "dist",
        work=tmp_path / "work",
        skip_installer=True,
        selftest=False,
        clean=False,
    )
    with pytest.raises(build.BuildError, match="cannot cross-compile"):
        build.build(args)
    assert not (tmp_path / "dist").exists()


def test_artifact_names_say_version_platform_and_flavour() -> None:
    stem = build.artifact_stem("linux", "cpu")
    assert re.fullmatch(rf"DiT360-Desktop-{re.escape(__version__)}-linux-(x86_64|aarch64)-cpu", stem)


def test_linux_tarball_layout_and_modes(tmp_path: Path) -> None:
    bundle = tmp_path / "dist" / "dit360-desktop"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / "_internal" / "resources" / "catalog.json").write_text("{}")
    for name in ("dit360-desktop", "dit360"):
        (bundle / name).write_text("#!/bin/sh\n")
        (bundle / name).chmod(0o755)
    icons = {f"png{size}": tmp_path / f"i{size}.png" for size in (16, 256)}
    for path in icons.values():
        path.write_bytes(b"png")

    archive = build.make_linux_tarball(bundle, icons, tmp_path / "dist", "Stem")

    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert members["Stem/install.sh"].mode == 0o755
    assert members["Stem/uninstall.sh"].mode == 0o755
    assert members["Stem/dit360-desktop.desktop.in"].mode == 0o644
    assert {"Stem/icons/dit360-16.png", "Stem/icons/dit360-256.png"} <= members.keys()
    assert members["Stem/dit360-desktop/dit360-desktop"].mode & 0o111
    assert "Stem/dit360-desktop/_internal/resources/catalog.json" in members


def test_entry_picks_gui_or_cli_by_executable_name() -> None:
    assert entry.is_gui_executable("/opt/app/dit360-desktop")
    assert entry.is_gui_executable(r"C:\Programs\DiT360 Desktop\dit360-desktop.exe")
    assert entry.is_gui_executable("/Applications/DiT360 Desktop.app/Contents/MacOS/dit360-desktop")
    assert not entry.is_gui_executable("/opt/app/dit360")
    assert not entry.is_gui_executable("dit360.exe")


def test_bundle_keeps_the_model_families_the_runtime_imports() -> None:
    keep = cfg.families_to_keep()
    assert {"transformers.models.clip", "transformers.models.t5", "diffusers.pipelines.flux"} <= keep
    assert "transformers.models.llama" not in keep
    excluded = cfg.unused_model_packages(keep)
    assert "transformers.models.llama" in excluded and "diffusers.pipelines.stable_diffusion" in excluded
    assert not keep & set(excluded)

    assert cfg.submodule_filter("transformers.models.t5.modeling_t5", keep)
    assert cfg.submodule_filter("transformers.models.clip.tokenization_clip", keep)
    assert not cfg.submodule_filter("transformers.models.llama.modeling_llama", keep)
    assert cfg.submodule_filter("diffusers.pipelines.flux.pipeline_flux", keep)
    assert cfg.submodule_filter("diffusers.pipelines.pipeline_utils", keep)
    assert not cfg.submodule_filter("diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion", keep)
    assert not cfg.submodule_filter("diffusers.utils.testing_utils", keep)


def test_bundle_drops_torch_test_files() -> None:
    assert cfg.should_drop("torch/test/Dict_test")
    assert cfg.should_drop("torch/lib/libtorchbind_test.so")
    assert not cfg.should_drop("torch/lib/libtorch_cpu.so")
    assert not cfg.should_drop("torch/bin/torch_shm_manager")


def _iss_setup(text: str) -> dict[str, str]:
    section = text.split("[Setup]", 1)[1].split("\n[", 1)[0]
    pairs = (line.split("=", 1) for line in section.splitlines() if "=" in line and not line.startswith(";"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_inno_setup_script_is_per_user_with_start_menu_and_spanning() -> None:
    text = (PACKAGING / "windows" / "dit360.iss").read_text()
    setup = _iss_setup(text)
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"].startswith("{autopf}\\")
    assert setup["ArchitecturesInstallIn64BitMode"] == "x64compatible"
    assert setup["UninstallDisplayIcon"] == "{app}\\{#GuiExe}"
    spanning = text.split("#ifdef SpanDisks", 1)[1].split("#endif", 1)[0]
    assert "DiskSpanning=yes" in spanning and "DiskSliceSize=2100000000" in spanning
    assert re.search(r'^Name: "\{autoprograms\}\\\{#AppName\}"; Filename: "\{app\}\\\{#GuiExe\}"', text, re.M)
    # Preprocessor blocks balance.
    assert len(re.findall(r"^\s*#if", text, re.M)) == len(re.findall(r"^\s*#endif", text, re.M))


def test_dmg_script_parses_and_refuses_to_run_off_macos(tmp_path: Path) -> None:
    script = PACKAGING / "macos" / "make_dmg.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    result = subprocess.run(
        ["bash", str(script), str(tmp_path / "A.app"), str(tmp_path / "a.dmg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "needs macOS" in result.stderr


def test_macos_bundle_settings_in_the_spec() -> None:
    spec = (PACKAGING / "dit360.spec").read_text()
    for needle in (
        '"LSMinimumSystemVersion": "14.0"',
        '"NSHighResolutionCapable": True',
        "dit360.icns",
        "BUNDLE(",
    ):
        assert needle in spec
