"""Downloads through the hub emulator: plan, transfer, verify, register."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hub_emulator import BASE_REPO, LORA_REPO, TOKEN, HubEmulator

from dit360_desktop.models.downloads import DONE, DownloadManager, FileProgress
from dit360_desktop.models.errors import AuthRequiredError
from dit360_desktop.models.registry import InstalledPaths, installed_model_paths, read_registry
from dit360_desktop.models.transfer import TransferSettings


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_everything_and_resolve(
    hub: HubEmulator,
    tmp_path: Path,
    tiny_flux_dir: Path,
    tiny_lora_dir: Path,
    fast_settings: TransferSettings,
) -> None:
    models = tmp_path / "models"
    events: list[FileProgress] = []
    manager = DownloadManager(
        models, endpoint=hub.url, token=TOKEN, settings=fast_settings, on_progress=events.append
    )
    report = manager.download(["flux1-dev", "dit360-lora"])
    assert report.ok, report.failures
    assert sorted(report.completed) == ["dit360-lora", "flux1-dev"]
    for src in tiny_flux_dir.rglob("*"):
        if src.is_file():
            dest = models / "flux1-dev" / src.relative_to(tiny_flux_dir)
            assert _sha(dest) == _sha(src), dest
    assert installed_model_paths(models) == InstalledPaths(
        base=models / "flux1-dev", lora=models / "dit360-lora"
    )
    entry = read_registry(models)["flux1-dev"]
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert entry.files[weights].sha256 == _sha(tiny_flux_dir / weights)
    assert entry.commit == hub.repos[BASE_REPO].commit
    assert {e.state for e in events if e.path == weights} >= {"queued", "downloading", "verifying", DONE}
    # Nothing partial is left behind.
    assert not list((models / ".downloads").rglob("*.part"))
    assert (models / "dit360-lora" / "adapter_model.safetensors").read_bytes() == (
        tiny_lora_dir / "adapter_model.safetensors"
    ).read_bytes()
    # The gated resolve call carried the token and the pinned commit; the CDN redirect target did not
    # get the token.
    resolve = [
        (p, h)
        for m, p, h in hub.requests
        if m == "GET" and p.endswith("/resolve/" + hub.repos[BASE_REPO].commit + "/" + weights)
    ]
    cdn = [h for m, p, h in hub.requests if m == "GET" and p.startswith("/cdn/") and p.endswith(weights)]
    assert len(resolve) == 1 and resolve[0][1]["Authorization"] == f"Bearer {TOKEN}"
    assert len(cdn) == 1 and "Authorization" not in cdn[0]
    second = manager.download(["flux1-dev", "dit360-lora"])
    assert second.ok and second.bytes_received == 0


def test_gated_repo_without_token_moves_no_bytes(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    manager = DownloadManager(tmp_path / "models", endpoint=hub.url, token=None, settings=fast_settings)
    with pytest.raises(AuthRequiredError) as info:
        manager.download(["flux1-dev"])
    message = str(info.value)
    assert "gated" in message and "https://huggingface.co/black-forest-labs/FLUX.1-dev" in message
    assert "token" in message
    assert hub.bytes_sent == {}
    assert not any("/resolve/" in p or "/cdn/" in p for _m, p, _h in hub.requests)


def test_lora_alias_repo_used_when_first_missing(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    repo = hub.repos.pop(LORA_REPO)
    repo.repo_id = "fenghora/DiT360-Panorama-Image-Generation"
    hub.add_repo(repo)
    models = tmp_path / "models"
    report = DownloadManager(models, endpoint=hub.url, settings=fast_settings).download(["dit360-lora"])
    assert report.ok
    assert read_registry(models)["dit360-lora"].repo_id == "fenghora/DiT360-Panorama-Image-Generation"


def test_proxy_from_environment(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator doubles as an HTTP proxy (it serves absolute-form request targets). The endpoint's
    # host does not resolve, so the download can only succeed through the proxy.
    import huggingface_hub

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", hub.url)
    monkeypatch.setenv("http_proxy", hub.url)
    huggingface_hub.close_session()  # its shared client reads the proxy settings when created
    try:
        endpoint = "http://hub.example.invalid"
        report = DownloadManager(tmp_path / "m", endpoint=endpoint, settings=fast_settings).download(
            ["dit360-lora"]
        )
    finally:
        huggingface_hub.close_session()
    assert report.ok
    hosts = {h.get("Host") for _m, _p, h in hub.requests}
    assert "hub.example.invalid" in hosts
    assert any(p.startswith("/api/models/") for _m, p, _h in hub.requests)
    assert any("/resolve/" in p for _m, p, _h in hub.requests)


def test_token_without_access_names_the_licence(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    manager = DownloadManager(
        tmp_path / "m", endpoint=hub.url, token="hf_not_granted", settings=fast_settings
    )
    with pytest.raises(AuthRequiredError, match="not been granted access") as info:
        manager.download(["flux1-dev"])
    assert "FLUX.1 [dev] Non-Commercial License" in str(info.value)
    assert "hf_not_granted" not in str(info.value)
    assert hub.bytes_sent == {}
