"""The model-folder check behind Models → Choose model folder… and the import of a base model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dit360_desktop.models.folder_check import (
    ANY_FLUX_SHAPE,
    FLUX1_DEV,
    check_model_folder,
    ensure_model_folder,
)
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.testing.sparse_flux import build_sparse_flux_dev


@pytest.fixture
def full_size(tiny_flux_dir: Path, tmp_path: Path) -> Path:
    # Built afresh for each test and never copied: a copy would write out the 33 GB of sparse holes.
    return build_sparse_flux_dev(tiny_flux_dir, tmp_path / "FLUX.1-dev")


def _one_sentence(reason: str) -> None:
    assert reason.endswith(".")
    assert "dit360 " not in reason and "--model" not in reason
    assert "Verify" not in reason


def test_full_size_folder_is_accepted(full_size: Path) -> None:
    verdict = check_model_folder(full_size)
    assert verdict.ok, verdict.reason
    # The published tensor bytes plus four small headers.
    assert 0 < verdict.weight_bytes - sum(FLUX1_DEV.published_bytes.values()) < 4 * 200
    assert ensure_model_folder(full_size) == full_size


def test_tiny_test_model_is_refused_but_has_the_right_shape(tiny_flux_dir: Path) -> None:
    verdict = check_model_folder(tiny_flux_dir)
    assert not verdict.ok
    assert "num_layers = 1" in verdict.reason and "FLUX.1-dev" in verdict.reason
    _one_sentence(verdict.reason)
    assert check_model_folder(tiny_flux_dir, ANY_FLUX_SHAPE).ok
    with pytest.raises(ModelInvalidError, match=r"not FLUX\.1-dev's"):
        ensure_model_folder(tiny_flux_dir)


def test_too_small_weights_are_refused(tiny_flux_dir: Path, tmp_path: Path) -> None:
    # The right config but a tenth of the bytes: a pruned copy or a download cut short.
    small = build_sparse_flux_dev(tiny_flux_dir, tmp_path / "small", share=0.1)
    verdict = check_model_folder(small)
    assert not verdict.ok
    assert verdict.reason.startswith("The transformer weights are 2.4 GB but FLUX.1-dev's are about 23.8 GB")
    _one_sentence(verdict.reason)


def test_empty_and_parent_folders(tmp_path: Path, full_size: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no model_index.json" in check_model_folder(empty).reason
    parent = tmp_path / "drive"
    parent.mkdir()
    (parent / "FLUX.1-dev").symlink_to(full_size, target_is_directory=True)
    assert check_model_folder(parent).reason == (
        f"This folder holds a model one level down: choose {parent / 'FLUX.1-dev'} instead."
    )
    assert check_model_folder(tmp_path / "nowhere").reason.endswith("is not a folder.")


def test_schnell_is_named(tmp_path: Path, full_size: Path) -> None:
    schnell = full_size
    config_path = schnell / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["guidance_embeds"] = False
    config_path.write_text(json.dumps(config))
    assert (
        check_model_folder(schnell).reason
        == "This is FLUX.1-schnell or another undistilled variant, not FLUX.1-dev."
    )


def test_missing_component_and_other_pipeline(tmp_path: Path, full_size: Path) -> None:
    broken = full_size
    shutil.rmtree(broken / "vae")
    assert check_model_folder(broken).reason == "The folder is incomplete: vae/ is missing."
    index = json.loads((broken / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionXLPipeline"
    (broken / "model_index.json").write_text(json.dumps(index))
    assert "holds a StableDiffusionXLPipeline model, not FLUX.1-dev" in check_model_folder(broken).reason


def test_truncated_header_is_refused_without_repair_advice(tmp_path: Path, full_size: Path) -> None:
    cut = full_size
    weights = cut / "text_encoder" / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(100)
    reason = check_model_folder(cut).reason
    assert reason == (
        "In text_encoder/, model.safetensors is damaged or incomplete: tensor 'weight' ends at byte "
        "246144152 but the file holds only 4 data bytes (likely a truncated download)."
    )
    _one_sentence(reason)


def test_readiness_names_the_component_to_set_up(
    tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path
) -> None:
    from dit360_desktop.models.folder_check import is_managed_folder, model_readiness
    from dit360_desktop.models.importer import IN_PLACE, import_model

    models = tmp_path / "models"
    nothing = model_readiness(None, models)
    assert nothing.setup_component == "flux1-dev" and "No model is installed" in nothing.message
    broken = model_readiness(tmp_path / "gone", models)
    assert broken.setup_component == "flux1-dev" and "cannot be used" in broken.message
    base_only = model_readiness(tiny_flux_dir, models)
    assert base_only.base == tiny_flux_dir and base_only.setup_component == "dit360-lora"
    import_model(tiny_lora_dir, mode=IN_PLACE, models_dir=models)
    ready = model_readiness(tiny_flux_dir, models)
    assert ready.ready and ready.lora == tiny_lora_dir and ready.message == ""
    assert is_managed_folder(tiny_lora_dir / "adapter_model.safetensors", models)
    assert not is_managed_folder(tiny_flux_dir, models)
