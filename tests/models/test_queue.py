"""The download queue: parallel files, per-file pause/resume/cancel, persistence, endpoint switch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hub_emulator import BASE_REPO, LORA_REPO, TOKEN, HubEmulator, repo_from_folder

from dit360_desktop.models.downloads import (
    CANCELLED,
    DOWNLOADING,
    PAUSED,
    DownloadManager,
    FileProgress,
    partial_path,
)
from dit360_desktop.models.fsutil import read_json
from dit360_desktop.models.registry import read_registry
from dit360_desktop.models.transfer import TransferSettings

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
VAE = "vae/diffusion_pytorch_model.safetensors"


def _first_downloading(path: str, action) -> tuple[threading.Event, callable]:
    fired = threading.Event()

    def on_progress(event: FileProgress) -> None:
        if event.path == path and event.state == DOWNLOADING and event.done_bytes > 0 and not fired.is_set():
            fired.set()
            action()

    return fired, on_progress


def test_files_run_in_parallel(hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings) -> None:
    hub.throttle_bps = 1_000_000
    active: set[str] = set()
    peak = [0]
    lock = threading.Lock()

    def on_progress(event: FileProgress) -> None:
        with lock:
            if event.state == DOWNLOADING:
                active.add(event.path)
            else:
                active.discard(event.path)
            peak[0] = max(peak[0], len(active))

    manager = DownloadManager(
        tmp_path / "m",
        endpoint=hub.url,
        token=TOKEN,
        settings=fast_settings,
        max_parallel=3,
        on_progress=on_progress,
    )
    assert manager.download(["flux1-dev"]).ok
    assert peak[0] == 3


def test_pause_one_file_persists_and_resumes_after_restart(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.throttle_bps = 300_000
    models = tmp_path / "m"
    holder: dict[str, DownloadManager] = {}
    fired, on_progress = _first_downloading(VAE, lambda: holder["m"].pause("flux1-dev", VAE))
    manager = DownloadManager(
        models, endpoint=hub.url, token=TOKEN, settings=fast_settings, on_progress=on_progress
    )
    holder["m"] = manager
    report = manager.download(["flux1-dev"])
    assert fired.is_set()
    assert report.paused == [f"flux1-dev: {VAE}"] and report.completed == []
    kept = partial_path(models, "flux1-dev", VAE).stat().st_size
    assert kept > 0
    saved = read_json(models / ".downloads" / "queue.json")
    assert saved["components"] == ["flux1-dev"] and saved["paused"] == {"flux1-dev": [VAE]}
    assert saved["endpoint"] == hub.url and TOKEN not in str(saved)

    # A new process: the queue and the pause survive; resume() outside a run asks for a new run.
    hub.throttle_bps = None
    restarted = DownloadManager(models, token=TOKEN, settings=fast_settings)
    assert restarted.endpoint == hub.url
    assert restarted.resume("flux1-dev", VAE) is False
    before = hub.bytes_sent[VAE]
    report = restarted.download()
    assert report.ok and report.completed == ["flux1-dev"]
    assert hub.bytes_sent[VAE] - before == (models / "flux1-dev" / VAE).stat().st_size - kept
    assert read_json(models / ".downloads" / "queue.json")["components"] == []


def test_pause_then_resume_within_a_run(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.throttle_bps = 600_000
    holder: dict[str, DownloadManager] = {}

    def pause_then_resume() -> None:
        holder["m"].pause("flux1-dev", WEIGHTS)
        threading.Timer(0.3, lambda: holder["m"].resume("flux1-dev", WEIGHTS)).start()

    states: list[str] = []
    fired, progress = _first_downloading(WEIGHTS, pause_then_resume)

    def on_progress(event: FileProgress) -> None:
        if event.path == WEIGHTS:
            states.append(event.state)
        progress(event)

    manager = DownloadManager(
        tmp_path / "m",
        endpoint=hub.url,
        token=TOKEN,
        settings=fast_settings,
        max_parallel=2,
        on_progress=on_progress,
    )
    holder["m"] = manager
    report = manager.download(["flux1-dev"])
    assert fired.is_set() and PAUSED in states
    assert report.completed == ["flux1-dev"] and not report.failures
    assert states[-1] == "done"


def test_cancel_one_file(hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings) -> None:
    hub.throttle_bps = 300_000
    models = tmp_path / "m"
    holder: dict[str, DownloadManager] = {}
    fired, on_progress = _first_downloading(VAE, lambda: holder["m"].cancel("flux1-dev", VAE))
    manager = DownloadManager(
        models, endpoint=hub.url, token=TOKEN, settings=fast_settings, on_progress=on_progress
    )
    holder["m"] = manager
    report = manager.download(["flux1-dev"])
    assert fired.is_set() and report.cancelled == [f"flux1-dev: {VAE}"]
    assert not partial_path(models, "flux1-dev", VAE).exists()
    assert not (models / "flux1-dev" / VAE).exists()
    assert read_registry(models)["flux1-dev"].complete is False


def test_cancel_whole_component_drops_it_from_the_queue(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.throttle_bps = 200_000
    models = tmp_path / "m"
    holder: dict[str, DownloadManager] = {}
    states: dict[str, str] = {}
    fired, progress = _first_downloading(WEIGHTS, lambda: holder["m"].cancel("flux1-dev"))

    def on_progress(event: FileProgress) -> None:
        states[event.path] = event.state
        progress(event)

    manager = DownloadManager(
        models, endpoint=hub.url, token=TOKEN, settings=fast_settings, max_parallel=1, on_progress=on_progress
    )
    holder["m"] = manager
    report = manager.download(["flux1-dev"])
    assert fired.is_set() and report.cancelled
    assert CANCELLED in states.values()
    assert not list((models / ".downloads").rglob("*.part"))
    assert read_json(models / ".downloads" / "queue.json")["components"] == []


def test_endpoint_change_mid_queue(
    hub: HubEmulator,
    tmp_path: Path,
    tiny_flux_dir: Path,
    tiny_lora_dir: Path,
    fast_settings: TransferSettings,
) -> None:
    mirror = HubEmulator(tokens=(TOKEN,))
    mirror.add_repo(repo_from_folder(BASE_REPO, tiny_flux_dir, gated=True))
    mirror.add_repo(repo_from_folder(LORA_REPO, tiny_lora_dir))
    mirror.start()
    try:
        hub.throttle_bps = 200_000
        holder: dict[str, DownloadManager] = {}
        trigger = "text_encoder/model.safetensors"
        fired, on_progress = _first_downloading(trigger, lambda: holder["m"].set_endpoint(mirror.url))
        models = tmp_path / "m"
        manager = DownloadManager(
            models,
            endpoint=hub.url,
            token=TOKEN,
            settings=fast_settings,
            max_parallel=1,
            on_progress=on_progress,
        )
        holder["m"] = manager
        report = manager.download(["flux1-dev"])
        assert fired.is_set() and report.ok
        from_mirror = set(mirror.bytes_sent)
        from_hub = set(hub.bytes_sent)
        # One file at a time, in path order: the files up to the one running at the switch came from the
        # first endpoint, every later one from the mirror.
        files = sorted(read_registry(models)["flux1-dev"].files)
        assert from_hub == {f for f in files if f <= trigger}
        assert from_mirror == {f for f in files if f > trigger}
        assert read_json(models / ".downloads" / "queue.json")["endpoint"] == mirror.url
    finally:
        mirror.stop()


def test_metadata_from_paths_info_when_model_info_has_no_blobs(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.drop_blob_metadata = True
    report = DownloadManager(tmp_path / "m", endpoint=hub.url, settings=fast_settings).download(
        ["dit360-lora"]
    )
    assert report.ok
    assert any(m == "POST" and "/paths-info/" in p for m, p, _ in hub.requests)
    record = read_registry(tmp_path / "m")["dit360-lora"].files["adapter_model.safetensors"]
    assert record.sha256 == hub.repos[LORA_REPO].sha256("adapter_model.safetensors")


def test_planned_component_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="future engine"):
        DownloadManager(tmp_path / "m").plan(["t5xxl-fp8"])
