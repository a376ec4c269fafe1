"""models.selection: which model and LoRA a run uses when none is given (the app's and the CLI's rule)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.models.selection import resolve_base_model, resolve_lora
from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.paths import default_models_dir


def test_nothing_installed_is_a_typed_error():
    with pytest.raises(ModelMissingError, match=r"FLUX\.1-dev is not installed"):
        resolve_base_model(None)


def test_a_missing_explicit_folder_is_named(tmp_path):
    with pytest.raises(ModelMissingError, match=re.escape(str(tmp_path / "nowhere"))):
        resolve_base_model(tmp_path / "nowhere")


def test_lora_rule(tmp_path):
    assert resolve_lora("none") is None
    assert resolve_lora("NONE") is None
    assert resolve_lora(tmp_path / "x.safetensors") == str(tmp_path / "x.safetensors")
    assert resolve_lora(None) is None  # nothing installed: the base model runs alone


def test_default_model_is_found_in_the_hugging_face_cache_and_used_in_place(tiny_flux_dir):
    hub = Path(os.environ["HF_HUB_CACHE"])
    snapshot = hub / "models--black-forest-labs--FLUX.1-dev" / "snapshots" / "0123456789abcdef"
    shutil.copytree(tiny_flux_dir, snapshot)
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("0123456789abcdef")
    folder = resolve_base_model(None)
    assert folder.resolve() == snapshot.resolve()
    request = GenerationRequest("This is a panorama image. A lake.", width=256, height=128, steps=2, seed=1)
    result = PanoramaEngine(folder).run(request.replace(device="cpu", dtype="fp32"))
    assert result.metadata["models"]["base"]["path"] == str(snapshot.resolve())
    assert result.metadata["models"]["base"]["name"] == "black-forest-labs/FLUX.1-dev@0123456789ab"
    # Used in place: nothing was copied into our own models folder.
    models = default_models_dir()
    assert not models.exists() or not any(models.rglob("*.safetensors"))
