"""Download the tiny model and LoRA through the emulator, then generate with the engine's default lookup."""

from __future__ import annotations

import numpy as np
from hub_emulator import TOKEN, HubEmulator

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.models.downloads import DownloadManager
from dit360_desktop.models.location import configured_models_dir
from dit360_desktop.models.registry import installed_model_paths
from dit360_desktop.models.selection import resolve_base_model
from dit360_desktop.models.transfer import TransferSettings
from dit360_desktop.panorama.request import GenerationRequest


def test_download_then_generate(hub: HubEmulator, fast_settings: TransferSettings) -> None:
    # The default models folder (under the test's DIT360_HOME), as a user's first run would use.
    report = DownloadManager(endpoint=hub.url, token=TOKEN, settings=fast_settings).download()
    assert report.ok and sorted(report.completed) == ["dit360-lora", "flux1-dev"]
    installed = installed_model_paths()
    assert installed is not None
    assert installed.base == configured_models_dir() / "flux1-dev"
    assert installed.lora == configured_models_dir() / "dit360-lora"

    # No folder given: resolved through the model manager's registry, as the app and the CLI do.
    engine = PanoramaEngine(resolve_base_model(None))
    request = GenerationRequest(
        prompt="This is a panorama image. A lake under mountains.",
        width=256,
        height=128,
        steps=2,
        seed=0,
        lora_path=str(installed.lora),
    )
    result = engine.run(request)
    pixels = np.asarray(result.image)
    assert pixels.shape == (128, 256, 3) and pixels.dtype == np.uint8
    assert pixels.std() > 1.0  # a real decode, not a blank frame
    assert result.metadata["seed"] == 0
    assert str(installed.base) in str(result.metadata["models"])
