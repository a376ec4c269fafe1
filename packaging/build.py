"""Build the DiT360 Desktop bundle and its installer for this platform.

    python packaging/build.py [--target linux|windows|macos] [--torch cpu|cuda|mps]
                              [--skip-installer] [--selftest] [--clean] [--dist DIR] [--work DIR]
                              [--require-features] [--appdir]

1. checks that the installed torch is the requested flavour (it never installs one: install the wheel
   for your GPU first, see docs/packaging.md);
2. draws the icons (packaging/icons/make_icons.py);
3. runs PyInstaller on packaging/dit360.spec (a one-folder app: dit360-desktop + dit360);
4. makes the installer: Linux .tar.gz with install.sh and a .desktop entry, Windows Inno Setup
   Setup.exe (needs iscc), macOS .dmg (needs hdiutil);
5. with --selftest, runs the frozen ``dit360 --selftest``.

Writes ``<dist>/build-info.json`` with the sizes and timings. PyInstaller cannot cross-compile, so
``--target`` must be this machine's platform.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

PACKAGING_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGING_DIR.parent
sys.path.insert(0, str(PACKAGING_DIR))

import bundle_config as cfg  # noqa: E402
from icons.make_icons import make_icons  # noqa: E402

TARGETS = {"linux": "linux", "win32": "windows", "darwin": "macos"}
TORCH_INSTALL_HINT = {
    "cpu": "pip install torch --index-url https://download.pytorch.org/whl/cpu",
    "cuda": "pip install torch --index-url https://download.pytorch.org/whl/cu128",
    "mps": "pip install torch   (the macOS arm64 wheel from PyPI includes MPS)",
}


class BuildError(Exception):
    """The build cannot go on; the message says what to change."""


def host_target() -> str:
    key = "linux" if sys.platform.startswith("linux") else sys.platform
    if key not in TARGETS:
        raise BuildError(f"Unsupported build platform {sys.platform}.")
    return TARGETS[key]


def default_flavour(target: str) -> str:
    import torch

    if target == "macos":
        return "mps" if torch.backends.mps.is_built() else "cpu"
    return "cuda" if torch.version.cuda else "cpu"


def check_torch_flavour(target: str, flavour: str) -> str:
    """The installed torch's version string, or BuildError when it is not the requested flavour."""
    import torch

    problem = None
    if flavour == "cuda":
        if target == "macos":
            problem = "CUDA builds exist for Linux and Windows only; use --torch mps on a Mac"
        elif not torch.version.cuda:
            problem = f"the installed torch {torch.__version__} has no CUDA support"
    elif flavour == "mps":
        if target != "macos":
            problem = "MPS is Apple's GPU backend; use --torch cuda or --torch cpu here"
        elif not torch.backends.mps.is_built():
            problem = f"the installed torch {torch.__version__} was built without MPS"
    elif torch.version.cuda:
        # A CUDA wheel in a CPU bundle would add gigabytes of CUDA libraries nobody can use.
        problem = f"the installed torch {torch.__version__} is a CUDA build, not the CPU wheel"
    if problem:
        raise BuildError(
            f"--torch {flavour}: {problem}. Install the right wheel into a separate environment: "
            f"{TORCH_INSTALL_HINT[flavour]}"
        )
    return torch.__version__


def run_pyinstaller(flavour: str, icons_dir: Path, dist: Path, work: Path, *, clean: bool) -> float:
    env = dict(os.environ, DIT360_TORCH_FLAVOUR=flavour, DIT360_ICONS_DIR=str(icons_dir))
    if sys.platform == "darwin" and env.get("DIT360_CODESIGN_IDENTITY"):
        env.setdefault("DIT360_ENTITLEMENTS", str(PACKAGING_DIR / "macos" / "entitlements.plist"))
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        *(["--clean"] if clean else []),
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(PACKAGING_DIR / "dit360.spec"),
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO_ROOT, check=True)
    return time.perf_counter() - started


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def artifact_stem(target: str, flavour: str) -> str:
    from dit360_desktop import __version__

    machine = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    return f"DiT360-Desktop-{__version__}-{target}-{machine}-{flavour}"


def make_linux_tarball(bundle: Path, icons: dict[str, Path], dist: Path, stem: str) -> Path:
    """``<stem>.tar.gz``: the bundle, install.sh/uninstall.sh, the .desktop template and hicolor icons."""
    linux = PACKAGING_DIR / "linux"
    archive = dist / f"{stem}.tar.gz"

    def add(tar: tarfile.TarFile, source: Path, name: str, mode: int | None = None) -> None:
        info = tar.gettarinfo(str(source), arcname=f"{stem}/{name}")
        if mode is not None:
            info.mode = mode
        if info.isfile():
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info)

    # compresslevel 6 is gzip's default: level 9 is ~2x slower on torch's libraries for ~1% smaller files.
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        add(tar, linux / "install.sh", "install.sh", 0o755)
        add(tar, linux / "uninstall.sh", "uninstall.sh", 0o755)
        add(tar, linux / "dit360-desktop.desktop.in", "dit360-desktop.desktop.in", 0o644)
        for size in _png_sizes(icons):
            add(tar, icons[f"png{size}"], f"icons/dit360-{size}.png", 0o644)
        tar.add(str(bundle), arcname=f"{stem}/dit360-desktop")
    return archive


def _png_sizes(icons: dict[str, Path]) -> list[int]:
    return sorted(int(key[3:]) for key in icons if key.startswith("png") and key[3:].isdigit())


def make_appdir(bundle: Path, icons: dict[str, Path], dist: Path) -> Path:
    """``<dist>/DiT360-Desktop.AppDir``: the bundle, AppRun, the menu entry and icons (AppImage input).

    ``packaging/linux/appimage/make_appimage.sh`` packs it into the single-file AppImage. Files are
    hard-linked from the bundle where the file system allows it, so this costs no second gigabyte.
    """
    appdir = dist / "DiT360-Desktop.AppDir"
    if appdir.exists():
        shutil.rmtree(appdir)
    lib = appdir / "usr" / "lib" / cfg.GUI_EXE

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(bundle, lib, symlinks=True, copy_function=link_or_copy)
    shutil.copy2(PACKAGING_DIR / "linux" / "appimage" / "AppRun", appdir / "AppRun")
    (appdir / "AppRun").chmod(0o755)
    template = (PACKAGING_DIR / "linux" / "dit360-desktop.desktop.in").read_text(encoding="utf-8")
    # Inside an AppImage the runtime starts AppRun; Exec names the command the AppImage stands for and
    # TryExec is left out (the AppImage is not on PATH).
    lines = [line for line in template.splitlines() if not line.startswith("TryExec=")]
    desktop = "\n".join(line.replace('"@EXEC@"', cfg.GUI_EXE) for line in lines) + "\n"
    (appdir / f"{cfg.GUI_EXE}.desktop").write_text(desktop, encoding="utf-8")
    share = appdir / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy2(appdir / f"{cfg.GUI_EXE}.desktop", share / "applications" / f"{cfg.GUI_EXE}.desktop")
    for size in _png_sizes(icons):
        target = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{cfg.GUI_EXE}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(icons[f"png{size}"], target)
    largest = icons[f"png{max(s for s in _png_sizes(icons) if s <= 256)}"]
    shutil.copy2(largest, appdir / f"{cfg.GUI_EXE}.png")
    (appdir / ".DirIcon").symlink_to(f"{cfg.GUI_EXE}.png")
    return appdir


def make_windows_installer(bundle: Path, icons: dict[str, Path], dist: Path, flavour: str) -> Path:
    from dit360_desktop import __version__

    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        programs = Path(os.environ.get("PROGRAMFILES(X86)", r"C:\Program Files (x86)"))
        default = programs / "Inno Setup 6" / "ISCC.exe"
        iscc = str(default) if default.is_file() else None
    if iscc is None:
        raise BuildError(
            "Inno Setup's compiler iscc was not found: install Inno Setup 6.3+ or --skip-installer."
        )
    output = dist / "installer"
    command = [
        iscc,
        f"/DAppVersion={__version__}",
        f"/DSourceDir={bundle}",
        f"/DIconFile={icons['ico']}",
        f"/DOutputDir={output}",
        f"/DTorchFlavour={flavour}",
    ]
    if folder_size(bundle) > 2 * 1024**3:
        command.append("/DSpanDisks")
    command.append(str(PACKAGING_DIR / "windows" / "dit360.iss"))
    subprocess.run(command, check=True)
    return output


def make_macos_dmg(dist: Path, stem: str) -> Path:
    app = dist / f"{cfg.APP_NAME}.app"
    dmg = dist / f"{stem}.dmg"
    subprocess.run(["bash", str(PACKAGING_DIR / "macos" / "make_dmg.sh"), str(app), str(dmg)], check=True)
    return dmg


def run_frozen_selftest(bundle: Path, report: Path) -> int:
    cli = bundle / (f"{cfg.CLI_EXE}.exe" if sys.platform == "win32" else cfg.CLI_EXE)
    completed = subprocess.run([str(cli), "--selftest", "--selftest-report", str(report)], check=False)
    return completed.returncode


def build(args: argparse.Namespace) -> dict:
    target = args.target or host_target()
    if target != host_target():
        raise BuildError(
            f"--target {target} must be built on {target}: PyInstaller cannot cross-compile "
            f"(this machine builds {host_target()})."
        )
    flavour = args.torch or default_flavour(target)
    torch_version = check_torch_flavour(target, flavour)
    missing = cfg.missing_feature_modules()
    if args.require_features and missing:
        lacking = "; ".join(f"{feature}: {', '.join(modules)}" for feature, modules in missing.items())
        raise BuildError(
            f"--require-features: this environment lacks {lacking}. Install the locked requirements "
            "(pip install --require-hashes -r packaging/requirements/<target>.txt, see docs/packaging.md)."
        )
    dist, work = args.dist.resolve(), args.work.resolve()
    dist.mkdir(parents=True, exist_ok=True)

    icons = make_icons(work / "icons")
    pyinstaller_s = run_pyinstaller(flavour, work / "icons", dist, work / "pyinstaller", clean=args.clean)
    bundle = dist / cfg.GUI_EXE
    info: dict = {
        "target": target,
        "torch_flavour": flavour,
        "torch": torch_version,
        "bundle": str(bundle),
        "bundle_bytes": folder_size(bundle),
        "features": cfg.available_features(),
        "pyinstaller_seconds": round(pyinstaller_s, 1),
    }
    if not args.skip_installer:
        started = time.perf_counter()
        stem = artifact_stem(target, flavour)
        if target == "linux":
            installer = make_linux_tarball(bundle, icons, dist, stem)
            if args.appdir:
                info["appdir"] = str(make_appdir(bundle, icons, dist))
        elif target == "windows":
            installer = make_windows_installer(bundle, icons, dist, flavour)
        else:
            installer = make_macos_dmg(dist, stem)
        info["installer"] = str(installer)
        info["installer_bytes"] = installer.stat().st_size if installer.is_file() else folder_size(installer)
        info["installer_seconds"] = round(time.perf_counter() - started, 1)
    if args.selftest:
        report = dist / "selftest-report.json"
        info["selftest_exit"] = run_frozen_selftest(bundle, report)
        info["selftest_report"] = str(report)
    (dist / "build-info.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the DiT360 Desktop bundle and installer.")
    parser.add_argument("--target", choices=sorted(set(TARGETS.values())), default=None)
    parser.add_argument("--torch", choices=cfg.TORCH_FLAVOURS, default=None)
    parser.add_argument("--skip-installer", action="store_true", help="stop after the one-folder bundle")
    parser.add_argument(
        "--clean", action="store_true", help="rebuild from scratch, without the analysis cache in --work"
    )
    parser.add_argument("--selftest", action="store_true", help="run the frozen dit360 --selftest afterwards")
    parser.add_argument(
        "--appdir",
        action="store_true",
        help="Linux: also make DiT360-Desktop.AppDir for packaging/linux/appimage/make_appimage.sh",
    )
    parser.add_argument(
        "--require-features",
        action="store_true",
        help="refuse to build without every app feature's libraries (Upscale, EXR); releases pass it",
    )
    parser.add_argument("--dist", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "build")
    args = parser.parse_args(argv)
    try:
        info = build(args)
    except BuildError as error:
        sys.stderr.write(f"build.py: {error}\n")
        return 2
    except subprocess.CalledProcessError as error:
        command = " ".join(map(str, error.cmd))
        sys.stderr.write(f"build.py: {command} failed with exit code {error.returncode}\n")
        return 1
    sys.stdout.write(json.dumps(info, indent=2) + "\n")
    return 1 if info.get("selftest_exit") else 0


if __name__ == "__main__":
    sys.exit(main())
