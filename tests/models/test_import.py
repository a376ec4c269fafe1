"""Import from each accepted layout, by copy and in place; refusals for what must not be loaded."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from hub_emulator import make_hf_cache

from dit360_desktop.models.errors import ImportRejectedError
from dit360_desktop.models.importer import COPY, IN_PLACE, find_importable, import_model
from dit360_desktop.models.registry import SOURCE_COPY, SOURCE_IN_PLACE, installed_model_paths, read_registry
from dit360_desktop.panorama.errors import ModelInvalidError, UnsafeFileError
from dit360_desktop.testing.tiny_flux import build_tiny_lora


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_tree(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert _sha(a / rel) == _sha(b / rel), rel


def test_diffusers_folder_copy(tmp_path: Path, tiny_flux_dir: Path) -> None:
    models = tmp_path / "models"
    (entry,) = import_model(tiny_flux_dir, mode=COPY, models_dir=models).imported
    assert entry.source == SOURCE_COPY and entry.path == models / "flux1-dev"
    _same_tree(tiny_flux_dir, models / "flux1-dev")
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert read_registry(models)["flux1-dev"].files[weights].sha256 == _sha(tiny_flux_dir / weights)
    assert installed_model_paths(models).base == models / "flux1-dev"
    assert not (models / ".importing-flux1-dev").exists()


def test_diffusers_folder_in_place(tmp_path: Path, tiny_flux_dir: Path) -> None:
    models = tmp_path / "models"
    (entry,) = import_model(tiny_flux_dir, mode=IN_PLACE, models_dir=models).imported
    assert entry.source == SOURCE_IN_PLACE and entry.path == tiny_flux_dir
    assert not (models / "flux1-dev").exists()
    assert installed_model_paths(models).base == tiny_flux_dir


def test_hf_cache_layout_copy_follows_symlinks(
    tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path
) -> None:
    cache = tmp_path / "usb" / "huggingface" / "hub"
    make_hf_cache(tiny_flux_dir, cache, "black-forest-labs/FLUX.1-dev")
    make_hf_cache(tiny_lora_dir, cache, "fenghora/DiT360-Panorama-Image-Generation")
    models = tmp_path / "models"
    kinds = {c.component_id: c.kind for c in find_importable(tmp_path / "usb")}
    assert kinds == {"flux1-dev": "hf-cache", "dit360-lora": "hf-cache"}
    import_model(tmp_path / "usb", mode=COPY, models_dir=models)
    copied = models / "flux1-dev"
    assert not any(p.is_symlink() for p in copied.rglob("*"))
    _same_tree(tiny_flux_dir, copied)
    paths = installed_model_paths(models)
    assert paths.base == copied and paths.lora == models / "dit360-lora"


def test_hf_cache_layout_in_place(tmp_path: Path, tiny_flux_dir: Path) -> None:
    snapshot = make_hf_cache(tiny_flux_dir, tmp_path / "hub", "black-forest-labs/FLUX.1-dev")
    models = tmp_path / "models"
    (entry,) = import_model(tmp_path / "hub", mode=IN_PLACE, models_dir=models).imported
    assert entry.path == snapshot
    assert installed_model_paths(models).base == snapshot


@pytest.mark.parametrize("mode", [COPY, IN_PLACE])
def test_comfyui_lora_file(tmp_path: Path, tiny_flux_dir: Path, mode: str) -> None:
    comfy = tmp_path / "ComfyUI"
    lora_file = build_tiny_lora(
        comfy / "models" / "loras" / "DiT360_panorama_lora.safetensors",
        tiny_flux_dir / "transformer",
        peft_folder=False,
    )
    # Another LoRA in the same folder must not be picked.
    shutil.copyfile(lora_file, comfy / "models" / "loras" / "other_style.safetensors")
    models = tmp_path / "models"
    (entry,) = import_model(comfy, mode=mode, models_dir=models).imported
    lora = installed_model_paths(models).lora
    if mode == COPY:
        assert lora == models / "dit360-lora" / "DiT360_panorama_lora.safetensors"
    else:
        assert lora == lora_file and entry.path == lora_file
    assert _sha(lora) == _sha(lora_file)


def test_peft_lora_folder(tmp_path: Path, tiny_lora_dir: Path) -> None:
    models = tmp_path / "models"
    import_model(tiny_lora_dir, mode=COPY, models_dir=models)
    assert installed_model_paths(models).lora == models / "dit360-lora"
    _same_tree(tiny_lora_dir, models / "dit360-lora")


def test_single_file_duplicate_not_copied(tmp_path: Path, tiny_flux_dir: Path) -> None:
    # A full git clone of FLUX.1-dev also holds the 24 GB single-file checkpoint: skipped, per the catalog.
    clone = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, clone)
    shutil.copyfile(
        clone / "transformer" / "diffusion_pytorch_model.safetensors", clone / "flux1-dev.safetensors"
    )
    models = tmp_path / "models"
    import_model(clone, mode=COPY, models_dir=models)
    assert not (models / "flux1-dev" / "flux1-dev.safetensors").exists()
    assert "flux1-dev.safetensors" not in read_registry(models)["flux1-dev"].files


def test_nothing_importable(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportRejectedError, match=r"model_index\.json"):
        import_model(tmp_path / "empty", models_dir=tmp_path / "models")


def test_incomplete_diffusers_folder_refused(tmp_path: Path, tiny_flux_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_flux_dir, broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(ModelInvalidError, match="vae/ is missing"):
        import_model(broken, models_dir=tmp_path / "models")
    assert read_registry(tmp_path / "models") == {}


def test_truncated_weights_refused(tmp_path: Path, tiny_flux_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_flux_dir, broken)
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelInvalidError, match="truncated"):
        import_model(broken, mode=COPY, models_dir=tmp_path / "models")
    assert not (tmp_path / "models" / "flux1-dev").exists()


def test_pickle_only_weights_refused(tmp_path: Path, tiny_flux_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_flux_dir, broken)
    for weights in (broken / "text_encoder").glob("*.safetensors"):
        weights.unlink()
    (broken / "text_encoder" / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UnsafeFileError):
        import_model(broken, models_dir=tmp_path / "models")


def _comfy_tree_with_a_refused_base_model(tmp_path: Path, tiny_flux_dir: Path) -> tuple[Path, Path]:
    """A ComfyUI-like folder: a base model missing its VAE, and a valid DiT360 LoRA in loras/."""
    comfy = tmp_path / "ComfyUI" / "models"
    base = comfy / "diffusers" / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, base)
    shutil.rmtree(base / "vae")
    lora = build_tiny_lora(
        comfy / "loras" / "DiT360_panorama_lora.safetensors", tiny_flux_dir / "transformer", peft_folder=False
    )
    return comfy, lora


@pytest.mark.parametrize("mode", [COPY, IN_PLACE])
def test_a_valid_lora_is_imported_beside_a_refused_base_model(
    tmp_path: Path, tiny_flux_dir: Path, mode: str
) -> None:
    """Issue 21, item 8: the refused base model no longer takes the valid LoRA down with it."""
    comfy, lora = _comfy_tree_with_a_refused_base_model(tmp_path, tiny_flux_dir)
    models = tmp_path / "models"
    report = import_model(comfy, mode=mode, models_dir=models)
    assert [e.component_id for e in report.imported] == ["dit360-lora"]
    assert [(r.component_id, type(r.error)) for r in report.refused] == [("flux1-dev", ModelInvalidError)]
    assert _sha(installed_model_paths(models).lora) == _sha(lora)
    assert "flux1-dev" not in read_registry(models)
    summary = report.summary()
    assert summary.startswith("Imported DiT360")
    assert "Not imported: FLUX.1-dev" in summary and "vae/ is missing" in summary


def test_every_model_refused_says_so_for_each(tmp_path: Path, tiny_flux_dir: Path) -> None:
    comfy, lora = _comfy_tree_with_a_refused_base_model(tmp_path, tiny_flux_dir)
    lora.write_bytes(lora.read_bytes()[:-64])  # truncated: refused too
    with pytest.raises(ImportRejectedError) as caught:
        import_model(comfy, models_dir=tmp_path / "models")
    assert "vae/ is missing" in str(caught.value) and "truncated" in str(caught.value)
    assert read_registry(tmp_path / "models") == {}


def test_cli_imports_the_lora_and_names_the_refused_base_model(
    tmp_path: Path, tiny_flux_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dit360_desktop.cli import main

    comfy, _ = _comfy_tree_with_a_refused_base_model(tmp_path, tiny_flux_dir)
    models = tmp_path / "models"
    code = main(["models", "import", str(comfy), "--mode", "in-place", "--models-dir", str(models)])
    out, err = capsys.readouterr()
    assert code == 3  # a model problem: the base model was refused
    assert "Imported dit360-lora" in out
    assert "Not imported: flux1-dev" in err and "vae/ is missing" in err
    assert "dit360-lora" in read_registry(models) and "flux1-dev" not in read_registry(models)
