"""One token rule for every hub call: --token, then $HF_TOKEN, then the token `hf auth login` stored.

Each source must reach the file downloads too (before, only --token did: the auth check passed with the
others and then every gated file got HTTP 401), and -v names the source, never the value.
"""

from __future__ import annotations

import logging
from pathlib import Path

import huggingface_hub.constants
import pytest
from hub_emulator import BASE_REPO, TOKEN, HubEmulator

from dit360_desktop.cli import main
from dit360_desktop.models import hub as hub_module
from dit360_desktop.models.registry import installed_model_paths

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture
def token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where huggingface_hub keeps the `hf auth login` token; empty (absent) unless a test writes it."""
    path = tmp_path / "hf-token"
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    return path


@pytest.mark.parametrize("source", ["flag", "env", "stored"])
def test_each_token_source_downloads_the_gated_files(
    source: str,
    hub: HubEmulator,
    token_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    extra: list[str] = []
    if source == "flag":
        extra = ["--token", TOKEN]
    elif source == "env":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    else:
        token_file.write_text(TOKEN + "\n")
    models = tmp_path / "m"
    caplog.set_level(logging.INFO, logger="dit360_desktop.models")
    args = ["--models-dir", str(models), "--endpoint", hub.url, "--stall-timeout", "1", "--retries", "1"]
    code = main(["-v", "models", "download", "flux1-dev", *args, *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    assert installed_model_paths(models).base == models / "flux1-dev"
    # The gated weights themselves went out with the token (a resolve GET, before the CDN redirect).
    resolves = [h for h in hub.gets(WEIGHTS) if "Authorization" in h]
    assert resolves and all(h["Authorization"] == f"Bearer {TOKEN}" for h in resolves)
    expected = {
        "flag": hub_module.TOKEN_GIVEN,
        "env": hub_module.TOKEN_ENV,
        "stored": hub_module.TOKEN_STORED,
    }[source]
    assert f"Hub token: {expected}" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in err


def test_the_given_token_wins_over_the_environment_and_the_stored_one(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file.write_text("hf_stored")
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert hub_module.token_and_source("hf_given") == ("hf_given", hub_module.TOKEN_GIVEN)
    assert hub_module.token_and_source(None) == ("hf_env", hub_module.TOKEN_ENV)
    monkeypatch.delenv("HF_TOKEN")
    assert hub_module.token_and_source("") == ("hf_stored", hub_module.TOKEN_STORED)
    token_file.unlink()
    assert hub_module.token_and_source(None) == (None, hub_module.TOKEN_NONE)


def test_without_any_token_the_gated_repo_moves_no_bytes(
    hub: HubEmulator, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--models-dir", str(tmp_path / "m"), "--endpoint", hub.url, "--retries", "0"]
    code = main(["models", "download", "flux1-dev", *args])
    assert code == 3
    assert BASE_REPO in capsys.readouterr().err
    assert sum(hub.bytes_sent.values()) == 0
