"""Fixtures for the model manager: a local hub emulator serving the tiny FLUX model and LoRA."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from dit360_desktop.models.transfer import TransferSettings

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path; the test modules
# import the emulator by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_emulator import BASE_REPO, LORA_REPO, TOKEN, HubEmulator, Repo, repo_from_folder


@pytest.fixture
def hub(tiny_flux_dir: Path, tiny_lora_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    """The emulator on 127.0.0.1 with FLUX.1-dev (gated) and the DiT360 LoRA; hub calls allowed to it."""
    # tests/conftest.py sets HF_HUB_OFFLINE=1 so nothing reaches the real hub; the emulator is local.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    emulator = HubEmulator(tokens=(TOKEN,))
    emulator.add_repo(repo_from_folder(BASE_REPO, tiny_flux_dir, gated=True))
    emulator.add_repo(repo_from_folder(LORA_REPO, tiny_lora_dir))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def base_repo(hub: HubEmulator) -> Repo:
    return hub.repos[BASE_REPO]


@pytest.fixture
def fast_settings() -> TransferSettings:
    return TransferSettings(
        stall_timeout_s=0.5, retries=3, backoff_s=0.01, backoff_max_s=0.05, disk_margin_bytes=0
    )
