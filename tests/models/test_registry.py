"""Default model resolution: the registry first, then a complete copy in the user's HF cache."""

from __future__ import annotations

import shutil
from pathlib import Path

from dit360_desktop.models import location
from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.layouts import diffusers_folder_problems
from dit360_desktop.models.registry import (
    SOURCE_IN_PLACE,
    FileRecord,
    InstalledPaths,
    RegistryEntry,
    installed_model_paths,
    read_registry,
    update_registry,
)


def _hf_cache_copy(src: Path, cache: Path, repo_id: str, commit: str = "a" * 40) -> Path:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(src, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_nothing_installed_returns_none(tmp_path: Path) -> None:
    assert installed_model_paths(tmp_path / "models") is None


def test_registry_entries_win(tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path) -> None:
    models = tmp_path / "models"
    for cid, path in (("flux1-dev", tiny_flux_dir), ("dit360-lora", tiny_lora_dir)):
        update_registry(
            models,
            RegistryEntry(cid, path, SOURCE_IN_PLACE, True, None, None, {"x": FileRecord(1, None)}),
        )
    assert installed_model_paths(models) == InstalledPaths(base=tiny_flux_dir, lora=tiny_lora_dir)
    assert read_registry(models)["flux1-dev"].files == {"x": FileRecord(1, None)}


def test_incomplete_entry_is_not_used(tmp_path: Path, tiny_flux_dir: Path) -> None:
    models = tmp_path / "models"
    update_registry(models, RegistryEntry("flux1-dev", tiny_flux_dir, SOURCE_IN_PLACE, False, None, None, {}))
    assert installed_model_paths(models) is None


def test_hf_cache_copy_found_in_place(tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path) -> None:
    cache = tmp_path / "hf-home" / "hub"
    snapshot = _hf_cache_copy(tiny_flux_dir, cache, "black-forest-labs/FLUX.1-dev")
    # The LoRA under the alias repo id used by the official inference script.
    lora_snapshot = _hf_cache_copy(tiny_lora_dir, cache, "fenghora/DiT360-Panorama-Image-Generation")
    found = installed_model_paths(tmp_path / "models")
    assert found == InstalledPaths(base=snapshot, lora=lora_snapshot)


def test_incomplete_hf_cache_copy_ignored(tmp_path: Path, tiny_flux_dir: Path) -> None:
    cache = tmp_path / "hf-home" / "hub"
    snapshot = _hf_cache_copy(tiny_flux_dir, cache, "black-forest-labs/FLUX.1-dev")
    weights = next((snapshot / "transformer").glob("*.safetensors"))
    weights.unlink()
    assert diffusers_folder_problems(snapshot) == ["transformer/ has no .safetensors weights"]
    assert installed_model_paths(tmp_path / "models") is None


def test_models_location_setting(tmp_path: Path) -> None:
    target = tmp_path / "big-drive" / "models"
    assert location.set_models_dir(target) == target.resolve()
    assert location.configured_models_dir() == target.resolve()
    assert location.set_models_dir(None) != target.resolve()


def test_catalog_roles() -> None:
    catalog = load_catalog()
    base = catalog.for_role("base")
    lora = catalog.for_role("lora")
    assert base.repo_id == "black-forest-labs/FLUX.1-dev" and base.gated
    assert lora.repo_ids == (
        "Insta360-Research/DiT360-Panorama-Image-Generation",
        "fenghora/DiT360-Panorama-Image-Generation",
    )
    assert base.wants("transformer/diffusion_pytorch_model-00001-of-00003.safetensors")
    assert not base.wants("flux1-dev.safetensors")
    assert not base.wants("ae.safetensors")
    assert not base.wants("text_encoder/model.bin")


def test_optional_models_are_found_in_the_hf_cache_and_the_registry_wins(tmp_path: Path, monkeypatch) -> None:
    """Depth, Redux and the upscaler share one search (``candidate_places``); each decides which place holds
    a loadable copy of its own files."""
    from dit360_desktop.models.depth import installed_depth_model
    from dit360_desktop.models.redux import installed_redux_model
    from dit360_desktop.models.upscaler import installed_sr_model
    from dit360_desktop.panorama.flux_layout import REDUX_PARTS

    catalog = load_catalog()
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    depth_src = tmp_path / "depth"
    depth_src.mkdir()
    (depth_src / "config.json").write_text("{}")
    (depth_src / "model.safetensors").write_bytes(b"x")
    sr_src = tmp_path / "sr"
    sr_src.mkdir()
    (sr_src / "model.safetensors").write_bytes(b"x")
    redux_src = tmp_path / "redux"
    for part in REDUX_PARTS:
        (redux_src / part).mkdir(parents=True)
    found = {}
    for role, src, finder in (
        ("depth", depth_src, installed_depth_model),
        ("upscaler", sr_src, installed_sr_model),
        ("redux", redux_src, installed_redux_model),
    ):
        snapshot = _hf_cache_copy(src, cache, catalog.for_role(role).repo_ids[0])
        found[role] = finder(tmp_path / "models")
        assert found[role] in (snapshot, snapshot / "model.safetensors")

    # A complete copy the model manager registered comes before the cache's.
    component = catalog.for_role("upscaler")
    registered = tmp_path / "models" / component.id
    shutil.copytree(sr_src, registered)
    update_registry(
        tmp_path / "models", RegistryEntry(component.id, registered, SOURCE_IN_PLACE, True, None, None, {})
    )
    assert installed_sr_model(tmp_path / "models") == registered / "model.safetensors"
