"""Write the hashed requirement locks the release bundles are built from: one file per target.

    pip install uv==0.13.8
    python packaging/lock.py                       every target in TARGETS
    python packaging/lock.py --target macos-arm64  one target

Each lock (``packaging/requirements/<target>.txt``) pins every package the bundle holds, with the SHA-256
of every wheel (``uv pip compile --generate-hashes``, resolved for that target's platform, not this
machine's), so the release workflow's ``pip install --require-hashes -r`` installs the same bytes every
time. The app itself (``-e .``) is installed afterwards with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGING_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGING_DIR.parent
LOCK_DIR = PACKAGING_DIR / "requirements"
PINS = LOCK_DIR / "pins.in"
# What the bundle ships beyond the core dependencies: upscale (spandrel + torchvision), GGUF loading and
# the bundler. Not ray: see docs/packaging.md ("Ray").
EXTRAS = ("upscale", "gguf", "packaging")
PYTHON = "3.11"
PYPI = "https://pypi.org/simple"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Target:
    name: str
    platform: str  # uv's --python-platform
    torch_index: str | None  # where torch/torchvision come from, when not PyPI
    note: str
    macos_min: str | None = None  # MACOSX_DEPLOYMENT_TARGET for uv: which macOS wheels qualify


TARGETS = (
    # PyPI's Linux torch wheel is the CUDA build (several GB of nvidia-* wheels): the CPU bundle takes
    # torch and torchvision from PyTorch's CPU index.
    Target("linux-x86_64-cpu", "x86_64-manylinux_2_28", TORCH_CPU_INDEX, "Linux CPU bundle"),
    # PyPI's Windows torch wheel is the CPU build.
    Target("windows-x86_64-cpu", "x86_64-pc-windows-msvc", None, "Windows CPU bundle"),
    # PyPI's macOS arm64 wheel has MPS built in. No Intel Mac target: the last macOS x86_64 torch wheel
    # is 2.2.2 and the app needs torch >= 2.4 (docs/packaging.md).
    # torch 2.13's arm64 wheel is tagged macosx_14_0: the bundle needs macOS 14 (Info.plist says so).
    Target("macos-arm64", "aarch64-apple-darwin", None, "macOS Apple silicon bundle (MPS)", "14.0"),
)


def lock_path(target: Target) -> Path:
    return LOCK_DIR / f"{target.name}.txt"


def compile_command(uv: str, target: Target) -> list[str]:
    command = [uv, "pip", "compile", "pyproject.toml", str(PINS.relative_to(REPO_ROOT))]
    for extra in EXTRAS:
        command += ["--extra", extra]
    command += [
        "--generate-hashes",
        "--python-version", PYTHON,
        "--python-platform", target.platform,
        "--no-header",
        "--annotation-style", "line",
        "--output-file", str(lock_path(target).relative_to(REPO_ROOT)),
    ]  # fmt: skip
    if target.torch_index is not None:
        # torch/torchvision from the PyTorch index, everything else from PyPI; unsafe-best-match lets uv
        # pick the +cpu local versions there while the rest resolve on PyPI.
        command += [
            "--index-url", target.torch_index,
            "--extra-index-url", PYPI,
            "--index-strategy", "unsafe-best-match",
            "--emit-index-url",
        ]  # fmt: skip
    else:
        command += ["--index-url", PYPI]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write packaging/requirements/<target>.txt with hashes.")
    parser.add_argument("--target", choices=[t.name for t in TARGETS], action="append")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv executable")
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    failed = []
    for target in chosen:
        sys.stdout.write(f"== {target.name}: {target.note}\n")
        env = dict(os.environ)
        if target.macos_min:
            env["MACOSX_DEPLOYMENT_TARGET"] = target.macos_min
        completed = subprocess.run(compile_command(args.uv, target), cwd=REPO_ROOT, env=env, check=False)
        if completed.returncode != 0:
            failed.append(target.name)
    if failed:
        sys.stderr.write(f"lock.py: could not resolve {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
