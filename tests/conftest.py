"""Shared fixtures: tiny random-weight FLUX models built once per session, isolated user folders."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A shell without job control starts background commands with SIGINT ignored, and an ignored signal
# stays ignored in every child: the Ctrl-C tests would then test nothing. Python's own handler here
# (the one an interactive run gets) also resets to the default in the children the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every Ray runtime a test starts binds 127.0.0.1, as `--cluster local` does (cluster/connect.py): set
# before any test module imports Ray.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings, data, library and model folders, and an empty HF cache."""
    home = tmp_path / "dit360-home"
    monkeypatch.setenv("DIT360_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    return home


@pytest.fixture(scope="session")
def tiny_flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dit360_desktop.testing.tiny_flux import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux") / "FLUX.1-dev")


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_flux_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dit360_desktop.testing.tiny_flux import build_tiny_lora

    return build_tiny_lora(tmp_path_factory.mktemp("tiny-lora") / "DiT360", tiny_flux_dir / "transformer")
